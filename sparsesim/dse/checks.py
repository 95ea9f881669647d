"""Checks of a sweep's arguments, all made before the first point runs (docs/limits.md).

A sweep that would fail point by point (an arch that does not load, a mode the engine
does not have, an evaluator that cannot take a point, a scheduler address that is not
one, an output nobody can write) is refused up front with one
:class:`~sparsesim.errors.InputError` naming the argument; nothing is written.
"""

from __future__ import annotations

import inspect
import os
import re

from ..errors import InputError, LimitError, SparsesimError

class SweepErrors(SparsesimError, RuntimeError):
    """A sweep ended with points whose evaluation failed; their rows hold the error."""


#: Points of one sweep (the plan is built in memory: about a kilobyte per point).
MAX_POINTS = 1_000_000
#: Local worker processes of one sweep.
MAX_JOBS = 1024
_ADDRESS = re.compile(r"(?:(?:tcp|tls|ucx)://)?[A-Za-z0-9_.\-\[\]:]+:[0-9]{1,5}|inproc://\S+", re.ASCII)


def check_int(value, name: str, lo: int = 0, hi: int | None = None) -> int | None:
    """``value`` if it is None or an int in ``lo .. hi``, else an InputError naming ``name``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise InputError(f"{name} must be an integer >= {lo}, got {value!r}")
    if hi is not None and value > hi:
        raise LimitError(f"{name} = {value} is above the limit of {hi}")
    return value


def check_jobs(jobs) -> int | None:
    return check_int(jobs, "--jobs (worker processes)", 1, MAX_JOBS)


def check_scheduler(address) -> str | None:
    """A Dask scheduler address (``tcp://HOST:PORT``); refused before any connection."""
    if address is None:
        return None
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address.strip()):
        raise InputError(f"--scheduler {address!r}: expected a Dask scheduler address such as tcp://HOST:8786")
    port = address.strip().rsplit(":", 1)[1]
    if port.isdigit() and not 1 <= int(port) <= 65535:
        raise InputError(f"--scheduler {address!r}: port {port} is not in 1..65535")
    return address.strip()


def check_evaluator(fn, label) -> None:
    """A point evaluator is a callable that takes one point."""
    if not callable(fn):
        raise InputError(f"evaluator {label!r} is not a function (got {type(fn).__name__})")
    try:
        inspect.signature(fn).bind(object())
    except TypeError as exc:
        raise InputError(f"evaluator {label!r} cannot be called with one point: {exc}") from None
    except ValueError:  # a builtin without a signature: called as it is
        pass


def check_modes(points) -> None:
    from ..timing.driver import MODES

    for mode in sorted({p.mode for p in points}, key=str):
        if not isinstance(mode, str) or mode not in MODES:
            raise InputError(f"mode {mode!r} is not one of {', '.join(MODES)}")


def check_outputs(out, report=None) -> None:
    """The results table, its store and the report folder can be written (nothing is created)."""
    from ..io import check_output_dir, check_output_file
    from .store import check_table_path, store_path

    if out is not None:
        out = check_table_path(out)
        check_output_file(out, "results table")
        check_output_file(store_path(out), "results store")
    if report is not None:
        check_output_dir(report, "report folder")


def check_workloads(workloads) -> None:
    """Workload objects (also those built in Python) hold GEMMs the engine takes."""
    from ..timing.limits import DEFAULT_LIMITS, check_dims

    for wl in workloads:
        for layer in wl.layers:
            where = f"workload {wl.name!r}, layer {layer.name!r}"
            try:
                check_dims(layer.m, layer.n, layer.k, DEFAULT_LIMITS)
            except InputError as exc:
                raise type(exc)(f"{where}: {exc}") from None
            check_int(layer.repeat, f"{where}: repeat", 1)


def check_count(count: int) -> None:
    if count > MAX_POINTS:
        raise LimitError(f"the sweep would plan {count} points, above the limit of {MAX_POINTS}; "
                         "split it (fewer archs, --set values, workloads or densities per run)")


def is_path_like(v) -> bool:
    return isinstance(v, (str, os.PathLike))
