"""Design-space sweep: evaluating the points of a plan (:mod:`.plan`) and keeping their rows.

:func:`run_sweep` evaluates the points
that are not yet in the results file, in chunks, on any concurrent.futures
executor (in-process, process pool or Dask), and appends each finished row at
once (see :mod:`sparsesim.dse.store`).  The point evaluator is a parameter: the
default, :func:`simulate_point`, calls the timing engine
(``sparsesim.simulate``); tests and custom models pass their own.

Identical GEMMs (same design, shape, dtype, pattern, format, density, mode) are
simulated once and the result is shared by every layer that has that shape.
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..errors import InputError, SparsesimError
from .lock import results_lock
from .plan import (DEFAULT_DENSITIES, DEFAULT_PATTERNS, DTYPES, UNSTRUCTURED_FORMATS, PatternSpec,  # noqa: F401
                   Point, arch_document, parse_densities, parse_pattern_list, plan_points)
from .store import (AREA_COLUMNS, DRAM_KINDS, ENERGY_COLUMNS, ENERGY_UNITS, ResultStore, check_table_path,
                    decode_params, fill_speedup, point_key, row_key, store_path, typed_row, with_params,
                    write_table)


class SweepAborted(SparsesimError, RuntimeError):
    """The executor broke down (a worker process died); finished rows are kept."""


# ---------------------------------------------------------------- evaluation
@lru_cache(maxsize=None)
def _arch(name, params="", doc=""):
    """The arch a point runs on: the config ``name``, or the object ``doc`` describes, with the
    varied ``params`` applied (one object per design, kept for the process's lifetime)."""
    import json

    from ..arch import build_arch, derive, load_arch

    if doc:
        return build_arch(json.loads(doc), f"arch object {name}")
    base = load_arch(name)
    return derive(base, decode_params(params)) if params else base


def point_arch(point: Point):
    """The validated arch object of ``point``'s design."""
    return _arch(point.arch, point.params, point.arch_doc)


def simulate_point(point: Point) -> dict:
    """The default evaluator: run the timing engine on one point."""
    import sparsesim

    density = point.density if point.pattern == "unstructured" else None
    fmt = point.format if point.pattern == "unstructured" else None
    result = sparsesim.simulate(point_arch(point), point.m, point.n, point.k, point.dtype,
                                point.pattern, density=density, mode=point.mode, format=fmt)
    return result.to_dict()


def load_evaluator(spec: str):
    """``"package.module:function"`` -> the function (a custom point evaluator)."""
    from .checks import check_evaluator

    if not isinstance(spec, str):
        raise InputError(f"evaluator must be MODULE:FUNCTION or a function, got {spec!r:.60}")
    mod, sep, attr = spec.partition(":")
    if not sep or not mod.strip() or not attr.isidentifier() or mod.startswith("."):
        raise InputError(f"evaluator {spec!r}: expected MODULE:FUNCTION")
    try:
        fn = getattr(importlib.import_module(mod), attr)
    except Exception as exc:  # the user's module: any error of its import is theirs
        raise InputError(f"evaluator {spec!r} cannot be loaded: {type(exc).__name__}: {exc}") from None
    check_evaluator(fn, spec)
    return fn


def _num(value):
    if value is None or value == "":
        return None
    return float(value)


IDENTITY = ("arch", "workload", "batch", "layer_index", "layer", "repeat", "pattern", "format",
            "density", "dtype", "mode", "model", "m", "n", "k", "prunable", "params")


def make_row(point: Point, result: dict | None, error: str = "") -> dict:
    """One typed table row from a point and its evaluator output (or an error)."""
    row = {c: getattr(point, c) for c in IDENTITY}
    row.update({"cycles": None, "seconds": None, "speedup": None, "utilization": None,
                "tensor_utilization": None, "bound": "", "clock_mhz": None, "power_w": None,
                "error": error})
    for c in (*(f"dram_{kind}" for kind in DRAM_KINDS), *ENERGY_COLUMNS, *AREA_COLUMNS):
        row[c] = None
    if result is not None and not error:
        try:
            row["cycles"] = _num(result["cycles"])
            row["seconds"] = _num(result["seconds"])
            row["bound"] = str(result.get("bound", "") or "")
            util = result.get("utilization")
            if isinstance(util, dict):  # per resource: keep the bound one and the MACs'
                row["utilization"] = _num(util.get(row["bound"], max(util.values(), default=None)))
                row["tensor_utilization"] = _num(util.get("tensor"))
            else:
                row["utilization"] = _num(util)
            dram = result.get("dram_bytes") or {}
            for kind in DRAM_KINDS:
                row[f"dram_{kind}"] = _num(dram.get(kind))
            # the clock the board's power limit allowed and the power drawn there (sparsesim.cost.power)
            row["clock_mhz"] = _num(result.get("clock_mhz"))
            row["power_w"] = _num(result.get("power_w"))
            _cost_columns(row, result)
        except (KeyError, TypeError, ValueError) as exc:
            return make_row(point, None, f"bad evaluator result: {type(exc).__name__}: {exc}")
    return row


def _cost_columns(row, result) -> None:
    """Energy (total, by unit), average power and sparse-datapath area of a result that has them
    (archs with a ``[technology]`` table; sparsesim.cost)."""
    row["energy_j"] = _num(result.get("energy_j"))
    parts = result.get("energy_breakdown_j") or {}
    unknown = set(parts) - set(ENERGY_UNITS)
    if unknown:
        raise ValueError(f"energy breakdown has units without a column: {', '.join(sorted(unknown))}")
    for unit in ENERGY_UNITS:
        row[f"energy_{unit}_j"] = _num(parts.get(unit)) if parts else None
    row["avg_power_w"] = _num(result.get("avg_power_w"))
    area = result.get("area") or {}
    row["sparse_area_mm2"] = _num(area.get("chip_sparse_mm2"))
    row["sparse_area_fraction"] = _num(area.get("sparse_fraction"))


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:500]


def evaluate_chunk(evaluator, points) -> list[dict]:
    """Run the evaluator on each point; a point that raises becomes an error row."""
    rows = []
    for p in points:
        try:
            rows.append(make_row(p, evaluator(p)))
        except Exception as exc:  # recorded in the table; the sweep goes on
            rows.append(make_row(p, None, _error_text(exc)))
    return rows


# ---------------------------------------------------------------- the driver
@dataclass
class SweepResult:
    """What :func:`run_sweep` did."""

    path: Path
    rows: list = field(repr=False)
    total: int = 0
    computed: int = 0
    reused: int = 0
    superseded: int = 0
    errors: int = 0
    simulations: int = 0
    seconds: float = 0.0
    files: list = field(default_factory=list)

    def to_pandas(self):
        """The rows as a pandas DataFrame with typed columns (needs pandas)."""
        from .store import to_pandas

        return to_pandas(self.rows)


PROBE_SHAPE = (256, 256, 256)


def check_supported(points, real_weights: bool = False) -> None:
    """Refuse, before any work, what the timing engine would refuse point by point: an arch
    that does not load, mode ``exec`` without real weights (``real_weights``), and an
    (arch, dtype, pattern) combination the engine refuses: one :class:`InputError` with
    its reason and the dtypes that work.

    Each distinct combination is tried once on a small GEMM (statistical mode)."""
    import sparsesim

    def refusal(point, dtype, p):
        try:
            sparsesim.simulate(point_arch(point), *PROBE_SHAPE, dtype, p.pattern,
                               density=p.density if p.pattern == "unstructured" else None,
                               format=p.format if p.pattern == "unstructured" else None)
        except SparsesimError as exc:
            return str(exc)
        return None

    if not real_weights and any(p.mode == "exec" for p in points):
        raise InputError("mode exec runs a layer's real operands: give the weights (sweep --weights FILE, "
                         "sparsesim.sweep(weights=...)) or choose mode statistical or full")
    dense = PatternSpec("dense", "dense", 1.0)
    seen = set()
    for point in points:
        p = point.simulated
        for spec in (dense, p):  # the dtype at all, then with this pattern
            # one probe per design, dtype, pattern and format (the density refuses nothing)
            combo = (p.arch, p.params, p.arch_doc, p.dtype, spec.pattern, spec.format)
            if combo in seen:
                continue
            seen.add(combo)
            point_arch(p)  # an arch that does not load: the loader's error, naming the file
            reason = refusal(p, p.dtype, spec)
            if reason is None:
                continue
            works = [d for d in DTYPES if d != p.dtype and refusal(p, d, spec) is None]
            label = "" if spec.pattern == "dense" else f" with {_label(spec)}"
            design = p.arch + (f" ({', '.join(f'{k}={v}' for k, v in p.param_values.items())})" if p.params else "")
            if spec.pattern != "dense" and not works:
                raise InputError(f"pattern {_label(spec)} does not run on {design}: {reason}")
            raise InputError(f"dtype {p.dtype} does not run on {design}{label}: {reason}; "
                             f"dtypes that work there{label}: {', '.join(works) or 'none'}")


def _label(spec) -> str:
    return f"unstructured:{spec.format}" if spec.pattern == "unstructured" else spec.pattern


def run_sweep(points, out, evaluator=simulate_point, *, executor=None, jobs=None,
              scheduler=None, progress=None, retry_errors=False, chunk_size=None) -> SweepResult:
    """Evaluate the missing ``points`` and write the results table to ``out``.

    ``out``: a ``.csv`` (plus a ``.parquet`` copy when pyarrow is installed), ``.parquet``
    or ``.sqlite`` path, or ``None`` to keep the rows in memory only.  The rows live in
    the SQLite store ``<out>.sqlite`` while the sweep runs (:mod:`sparsesim.dse.store`).

    * Rows already stored (from an earlier, possibly killed, run; or in the table at
      ``out`` when there is no store yet) are kept and their points not recomputed;
      with ``retry_errors`` rows holding an error are computed again.  A row of a
      planned point that another shape or model fingerprint produced (the arch config,
      workload or timing code changed since) is superseded: the point is recomputed
      and the old row leaves the table.  Rows of points outside this sweep are kept.
    * Each finished point is committed to the store at once.
    * At the end the table is written atomically in plan order with speedups.

    ``executor`` is an :class:`~sparsesim.dse.executors.ExecutorInfo` (or ``None`` to
    open one from ``jobs``/``scheduler``).  ``progress(done, total)`` is called after
    each row is stored; the library itself prints nothing.
    """
    t0 = time.perf_counter()
    points = list(points)
    if out is None:
        return _run(points, out, evaluator, executor, jobs, scheduler, progress, retry_errors, chunk_size, t0)
    out = check_table_path(out)
    with results_lock(store_path(out), out):  # one writer per results file
        return _run(points, out, evaluator, executor, jobs, scheduler, progress, retry_errors, chunk_size, t0)


def _run(points, out, evaluator, executor, jobs, scheduler, progress, retry_errors, chunk_size, t0):
    from .executors import open_executor

    store = ResultStore(None if out is None else store_path(out))
    existing = store.open(seed=out)
    planned = {p.point_key for p in points}
    keys = {p.key for p in points}
    stale = [k for k, r in existing.items() if k not in keys and point_key(r) in planned]
    for k in stale:
        del existing[k]
    try:
        todo = [p for p in points
                if p.key not in existing or (retry_errors and existing[p.key]["error"])]
        done = len(points) - len(todo)
        total = len(points)
        if progress:
            progress(done, total)
        groups = {}
        for p in todo:
            groups.setdefault(p.sim_key, []).append(p)
        reps = [members[0].simulated for members in groups.values()]
        result = SweepResult(out, [], total=total, reused=done, superseded=len(stale),
                             simulations=len(reps))
        if reps:
            if executor is None:
                with open_executor(jobs, scheduler) as info:
                    done = _drive(info, reps, groups, evaluator, store, existing, progress,
                                  done, total, chunk_size, result)
            else:
                done = _drive(executor, reps, groups, evaluator, store, existing, progress,
                              done, total, chunk_size, result)
        if stale:
            store.remove(stale)
    finally:
        store.close()
    order = {p.key: i for i, p in enumerate(points)}
    keep = [r for r in existing.values() if row_key(r) in order]
    extra = [r for r in existing.values() if row_key(r) not in order]
    rows = sorted(keep, key=lambda r: order[row_key(r)]) + extra
    fill_speedup(rows)
    result.rows = with_params(rows)
    result.errors = sum(1 for r in keep if r["error"])
    result.files = write_table(out, rows) if out is not None else []
    result.seconds = time.perf_counter() - t0
    return result


def _drive(info, reps, groups, evaluator, store, existing, progress, done, total,
           chunk_size, result):
    workers = max(1, info.workers)
    if chunk_size is None:
        chunk_size = 1 if workers == 1 else max(1, min(8, len(reps) // (workers * 8)))
    chunks = [reps[i:i + chunk_size] for i in range(0, len(reps), chunk_size)]
    max_in_flight = 1 if workers == 1 else 2 * workers
    pending = {}
    nxt = 0

    def submit_more():
        nonlocal nxt
        while nxt < len(chunks) and len(pending) < max_in_flight:
            ch = chunks[nxt]
            nxt += 1
            try:
                fut = info.executor.submit(evaluate_chunk, evaluator, ch)
            except Exception as exc:
                fut = cf.Future()
                fut.set_exception(exc)
            pending[fut] = ch

    submit_more()
    while pending:
        finished, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
        for fut in finished:
            chunk = pending.pop(fut)
            try:
                rows = fut.result()
            except cf.BrokenExecutor as exc:
                # A worker process died (killed, out of memory, crashed): the rows
                # stored so far are safe; the points in flight are simply missing.
                for f in pending:
                    f.cancel()
                raise SweepAborted(
                    f"a worker died ({_error_text(exc)}); the {done} finished points are saved "
                    "in the results file; rerun the same command to compute the rest"
                ) from None
            except Exception as exc:  # the task could not run (e.g. a Dask worker was lost)
                rows = [make_row(p, None, _error_text(exc)) for p in chunk]
            for rep, row in zip(chunk, rows):
                for p in groups[rep.sim_key]:
                    r = typed_row({**row, **{c: getattr(p, c) for c in IDENTITY}})
                    store.append(r)
                    existing[p.key] = r
                    done += 1
                    result.computed += 1
                    if progress:
                        progress(done, total)
        submit_more()
    return done

