"""The ``sparsesim`` command line: argument parsing and printing only.

Each sub-command lives in its own module exposing ``register(subparsers)``; the
module adds its parser and sets ``func`` (a callable taking the parsed args and
returning an exit code). Modules import heavy dependencies inside ``func`` so that
``sparsesim --help`` stays fast.

Bad input ends a command with one line on stderr and exit status 2: every
:class:`~sparsesim.errors.SparsesimError`, and an ``OSError`` on a file the user
named.  Anything else is a bug in sparsesim and keeps its traceback.
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
        print("sparsesim: error: no command given; choose one of the commands above", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except SparsesimError as exc:
        _error(args.command, str(exc))
        return 2
    except OSError as exc:
        if exc.filename is None:  # not about a file the user named
            raise
        _error(args.command, f"{exc.filename}: {exc.strerror or exc}")
        return 2
    except KeyboardInterrupt:
        print(f"sparsesim {args.command}: interrupted", file=sys.stderr)
        return 130


def _error(command: str, message: str) -> None:
    """One line on stderr, whatever the message holds."""
    text = " ".join(message.split()) or "failed"
    print(f"sparsesim {command}: error: {text}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
