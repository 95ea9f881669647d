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
import logging
import os
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
    "sparsesim.cli.exec_cmd",
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
    for p in sub.choices.values():
        _add_common(p)
    return parser


def _add_common(p) -> None:
    """Options every command takes: verbosity and the user folders of configs and workloads."""
    g = p.add_argument_group("common options")
    g.add_argument("-v", "--verbose", action="count", default=0,
                   help="say more (-v: what is done, -vv: debug detail; errors with their traceback)")
    g.add_argument("--arch-path", action="append", default=[], metavar="DIR",
                   help="folder of extra arch configs (repeatable; adds to the built-in ones and $SPARSESIM_ARCH_PATH)")
    g.add_argument("--workload-path", action="append", default=[], metavar="DIR",
                   help="folder of extra workloads (repeatable; adds to the built-in ones and $SPARSESIM_WORKLOAD_PATH)")


def _setup(args) -> None:
    from .._resources import prepend_env_path
    from ..errors import InputError
    from ..io import is_dir

    for flag, dirs in (("--arch-path", args.arch_path), ("--workload-path", args.workload_path)):
        for d in dirs:
            if not is_dir(d):
                raise InputError(f"{flag} {d!r}: no such folder")
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="sparsesim: %(message)s", stream=sys.stderr)
    # through the environment, so that worker processes search the same folders
    prepend_env_path("SPARSESIM_ARCH_PATH", args.arch_path)
    prepend_env_path("SPARSESIM_WORKLOAD_PATH", args.workload_path)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        print("sparsesim: error: no command given; choose one of the commands above", file=sys.stderr)
        return 2
    try:
        _setup(args)
        rc = int(args.func(args) or 0)
        sys.stdout.flush()
        return rc
    except BrokenPipeError:
        # the reader of our output went away (`sparsesim archs --json | head -1`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (SparsesimError, OSError) as exc:
        user_input = isinstance(exc, SparsesimError)
        if not user_input and exc.filename is None:  # an OS error not about a file the user named: a bug
            raise
        if args.verbose:
            import traceback

            traceback.print_exc()
        _error(args.command, str(exc) if user_input else f"{exc.filename}: {exc.strerror or exc}")
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
