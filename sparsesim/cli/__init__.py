"""The ``sparsesim`` command line: argument parsing and printing only.

Each sub-command lives in its own module exposing ``register(subparsers)``; the
module adds its parser and sets ``func`` (a callable taking the parsed args and
returning an exit code). Modules import heavy dependencies inside ``func`` so that
``sparsesim --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__
from ..errors import SparsesimError

# Sub-command modules, in the order they appear in --help.
COMMAND_MODULES = [
    "sparsesim.cli.formats_cmd",
    "sparsesim.cli.sim_cmd",
    "sparsesim.cli.sweep_cmd",
    "sparsesim.cli.validate_cmd",
    "sparsesim.cli.int8_cmd",
    "sparsesim.cli.ports_cmd",
    "sparsesim.cli.masks_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparsesim",
        description="Cycle-approximate simulator and design-space explorer for sparse tensor-core datapaths.",
    )
    parser.add_argument("--version", action="version", version=f"sparsesim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SparsesimError as exc:
        print(f"sparsesim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sparsesim {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
