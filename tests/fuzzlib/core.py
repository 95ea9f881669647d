"""The fuzzing contract, the table of entry points and the outcome of one case.

An entry point is registered once, with the generator of its inputs, the call and
(where an independent reference exists) a check of the result.  The same table
drives the bounded hypothesis tests in ``tests/test_fuzz_*.py`` and the long run
``tools/fuzz.py``; a new entry point (a sweep, a report, a workload importer) is one
more :func:`entry` call in a module of this package.

Contract checked for every case:

* an input the generator knows to be invalid must raise a ``SparsesimError``
  (outcome ``refused``; returning normally is ``invalid_accepted``);
* any exception other than ``SparsesimError`` is ``other_exception``;
* a valid input must give the result of the independent reference
  (``wrong_result`` otherwise) or, where the generator cannot tell, either a
  correct result or a ``SparsesimError``;
* a CLI invocation may end with exit 0, or with exit 2 and one error line on
  stderr (argparse's usage error counts as one); an exception escaping ``main`` is
  ``cli_traceback``.

A case that does not finish within the runner's time limit is a ``hang`` (counted
by ``tools/fuzz.py``, which runs each case in a worker process).
"""

from __future__ import annotations

import contextlib
import io
import os
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

OUTCOMES = (
    "ok", "refused", "valid_refused",
    "other_exception", "invalid_accepted", "wrong_result", "hang", "cli_traceback", "cli_bad_exit",
)
#: Outcomes the contract says must never happen.
BAD = ("other_exception", "invalid_accepted", "wrong_result", "hang", "cli_traceback", "cli_bad_exit")


@dataclass
class Case:
    """One input: what to call it with and what the generator knows about it."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    valid: bool | None = True  # None: either a correct result or a SparsesimError is fine
    kind: str = ""  # short label of what makes this input special ("int64-extremes", "big-endian")
    ctx: dict = field(default_factory=dict)  # what the check needs (reference results, paths)


@dataclass
class Entry:
    name: str
    group: str  # "api", "config" or "cli"
    weight: float  # relative share of the long run's cases
    gen: Callable  # (rng: numpy Generator, tmp: pathlib.Path) -> Case
    call: Callable  # (Case) -> result (for "cli": the argv list to run)
    check: Callable | None = None  # (Case, result) -> None when right, else a message
    in_scope: bool = True  # False: registered for later hardening, run only with --all


@dataclass
class Outcome:
    outcome: str
    detail: str = ""


ENTRIES: dict[str, Entry] = {}


def entry(name: str, group: str, gen: Callable, weight: float = 1.0, check: Callable | None = None,
          in_scope: bool = True):
    """Decorator registering ``call`` as the entry point ``name``."""

    def deco(call):
        if name in ENTRIES:
            raise ValueError(f"entry point {name!r} registered twice")
        ENTRIES[name] = Entry(name, group, weight, gen, call, check, in_scope)
        return call

    return deco


def _where(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    for fr in reversed(tb):
        if "/sparsesim/" in fr.filename:
            return f"{fr.filename.rsplit('/sparsesim/', 1)[1]}:{fr.lineno}"
    return f"{tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else "?"


def run_api_case(e: Entry, case: Case) -> Outcome:
    from sparsesim.errors import SparsesimError

    try:
        res = e.call(case)
    except SparsesimError as exc:
        msg = str(exc).strip()
        if not msg:
            return Outcome("other_exception", f"{type(exc).__name__} with an empty message")
        return Outcome("valid_refused" if case.valid is True else "refused", f"{type(exc).__name__}: {msg[:160]}")
    except RecursionError as exc:  # noqa: F841 - a subclass of RuntimeError, named for the report
        return Outcome("other_exception", f"RecursionError at {_where(exc)}")
    except Exception as exc:  # noqa: BLE001 - the point of the contract
        return Outcome("other_exception", f"{type(exc).__name__}: {str(exc)[:120]} at {_where(exc)}")
    return _accepted(e, case, res)


def _accepted(e: Entry, case: Case, res) -> Outcome:
    """Outcome of a call that returned normally (for the CLI: exit status 0)."""
    if case.valid is False:
        return Outcome("invalid_accepted", case.kind)
    if e.check is not None:
        try:
            bad = e.check(case, res)
        except Exception as exc:  # noqa: BLE001
            bad = f"the check failed on the result: {type(exc).__name__}: {exc}"
        if bad:
            return Outcome("wrong_result", f"{case.kind}: {bad}"[:300])
    return Outcome("ok")


@dataclass
class CliRun:
    code: int | None
    out: str
    err: str
    exc: BaseException | None


def invoke(argv) -> CliRun:
    """Run ``sparsesim ARGV`` in this process, capturing its output."""
    from sparsesim.cli import main

    out, err = io.StringIO(), io.StringIO()
    code, exc = None, None
    env = dict(os.environ)  # --arch-path / --workload-path prepend to the environment: one case only
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as se:  # argparse
            code = se.code if isinstance(se.code, int) else 2
        except BaseException as x:  # noqa: BLE001 - a traceback is what we count
            exc = x
        finally:
            os.environ.clear()
            os.environ.update(env)
    return CliRun(code, out.getvalue(), err.getvalue(), exc)


def _one_error_line(err: str) -> bool:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    if not lines or "Traceback" in err:
        return False
    last = lines[-1]
    if not (last.startswith("sparsesim") and "error" in last):
        return False
    # argparse prints "usage: ..." (possibly wrapped) before its error line; progress
    # lines "[i/n] ..." may precede an error of a long command
    return all(ln.startswith(("usage:", " ", "[")) for ln in lines[:-1])


def run_cli_case(e: Entry, case: Case) -> Outcome:
    run = invoke(e.call(case))
    if run.exc is not None:
        return Outcome("cli_traceback", f"{type(run.exc).__name__}: {str(run.exc)[:120]} at {_where(run.exc)}")
    if run.code == 0:
        return _accepted(e, case, run)
    if run.code == 2 and _one_error_line(run.err):
        return Outcome("valid_refused" if case.valid is True else "refused", run.err.strip().splitlines()[-1][:200])
    return Outcome("cli_bad_exit", f"exit {run.code}, stderr {run.err.strip()[-200:]!r}")


def run_case(e: Entry, case: Case) -> Outcome:
    return run_cli_case(e, case) if e.group == "cli" else run_api_case(e, case)


def make_case(name: str, rng, tmp) -> Case:
    return ENTRIES[name].gen(rng, tmp)


def pick_entry(rng, names=None) -> str:
    names = list(names if names is not None else ENTRIES)
    w = [ENTRIES[n].weight for n in names]
    total = float(sum(w))
    return names[int(rng.choice(len(names), p=[x / total for x in w]))]


def case_rng(seed: int, index: int):
    import numpy as np

    return np.random.default_rng([int(seed), int(index)])


