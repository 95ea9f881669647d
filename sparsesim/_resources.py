"""Where the built-in data files are, and the user folders that add to them.

The built-in architecture configs and workloads ship inside the package
(``sparsesim.arch.configs``, ``sparsesim.workloads.builtin``; their source is the
repository's ``arch_configs/`` and ``workloads/``, mapped in setup.py) and are found
through :mod:`importlib.resources`, so an installed wheel works from any directory.
User folders come from an environment variable holding ``os.pathsep``-separated
directories (the CLI's ``--arch-path`` / ``--workload-path`` prepend to it); they are
searched before the built-ins and add to them.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path


def builtin_dir(package: str, checkout_folder: str) -> Path:
    """The folder of the data package ``package``.

    Run from a source checkout that was never installed (``PYTHONPATH=.``), the data
    package is not importable; the repository folder ``checkout_folder`` is used then.
    """
    try:
        return Path(str(importlib.resources.files(package)))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / checkout_folder


def user_dirs(*env_vars: str) -> list[Path]:
    """The directories named in the environment variables, in order, without repeats."""
    dirs: list[Path] = []
    for var in env_vars:
        for part in os.environ.get(var, "").split(os.pathsep):
            if part and Path(part) not in dirs:
                dirs.append(Path(part))
    return dirs


def prepend_env_path(var: str, dirs) -> None:
    """Put ``dirs`` in front of ``$var`` (worker processes inherit the environment)."""
    parts = [str(Path(d)) for d in dirs] + [p for p in os.environ.get(var, "").split(os.pathsep) if p]
    os.environ[var] = os.pathsep.join(dict.fromkeys(parts))
