"""Design-space sweep: archs x workloads x sparsity patterns x densities.

A sweep is a list of :class:`Point` (one GEMM layer of one workload on one arch
with one pattern/format at one density).  :func:`run_sweep` evaluates the points
that are not yet in the results file, in chunks, on any concurrent.futures
executor (in-process, process pool or Dask), and appends each finished row at
once (see :mod:`sparsesim.dse.store`).  The point evaluator is a parameter: the
default, :func:`simulate_point`, calls the timing engine
(``sparsesim.simulate``); tests and custom models pass their own.

Pattern specs of a sweep: ``dense``, ``N:M`` (``2:4``, ``4:8``, ``1:2``...) and
``unstructured:FORMAT`` with FORMAT one of ``csr``, ``csb``, ``bitmask``.  Dense
and N:M points have their own fixed density; only unstructured ones are swept
over the density grid.  Dense baselines are always added, because every row's
speedup is measured against the dense run of the same arch, workload, layer,
dtype and mode.

Identical GEMMs (same arch, shape, dtype, pattern, format, density, mode) are
simulated once and the result is shared by every layer that has that shape.
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib
import math
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from ..errors import InputError, PatternError, SparsesimError
from ..patterns import parse_pattern
from .store import (DRAM_KINDS, ResultStore, fill_speedup, check_table_path, point_key, row_key, store_path, typed_row,
                    write_table)

DEFAULT_PATTERNS = (
    "dense", "2:4", "4:8", "1:2",
    "unstructured:csr", "unstructured:csb", "unstructured:bitmask",
)
DEFAULT_DENSITIES = "0.05:1.0:0.05"
UNSTRUCTURED_FORMATS = ("csr", "csb", "bitmask")
DTYPES = ("int8", "fp8", "fp16", "bf16", "tf32", "fp4", "fp32")


class SweepAborted(SparsesimError, RuntimeError):
    """The executor broke down (a worker process died); finished rows are kept."""


@dataclass(frozen=True)
class PatternSpec:
    """One sweep pattern: ``pattern`` is 'dense', 'N:M' or 'unstructured'; ``format``
    the encoding of A ('dense', 'index' for N:M hardware metadata, or csr/csb/bitmask)."""

    pattern: str
    format: str
    fixed_density: float | None

    @property
    def label(self) -> str:
        return f"unstructured:{self.format}" if self.pattern == "unstructured" else self.pattern


def parse_pattern_list(text) -> list[PatternSpec]:
    """Parse ``"dense,2:4,unstructured:csr"`` (or a list of specs) into :class:`PatternSpec`."""
    items = text.split(",") if isinstance(text, str) else list(text)
    specs = []
    for raw in items:
        s = str(raw).strip().lower()
        if not s:
            continue
        if s.startswith("unstructured"):
            fmt = s.split(":", 1)[1] if ":" in s else "csr"
            if fmt not in UNSTRUCTURED_FORMATS:
                raise PatternError(
                    f"sweep pattern {raw!r}: format {fmt!r} is not one of "
                    f"{', '.join(UNSTRUCTURED_FORMATS)} (write e.g. 'unstructured:csr')"
                )
            spec = PatternSpec("unstructured", fmt, None)
        else:
            pat = parse_pattern(s)
            if pat.is_dense:
                spec = PatternSpec("dense", "dense", 1.0)
            else:
                spec = PatternSpec(str(pat), "index", pat.density)
        if spec not in specs:
            specs.append(spec)
    if not specs:
        raise PatternError(f"no sweep pattern given in {text!r}; expected e.g. 'dense,2:4,unstructured:csr'")
    return specs


MAX_DENSITIES = 1000  # points of one density grid (docs/limits.md)


def parse_densities(text) -> tuple[float, ...]:
    """``"START:STOP:STEP"`` (inclusive) or ``"0.1,0.5,0.9"`` -> sorted densities in (0, 1],
    at most ``MAX_DENSITIES`` of them."""
    if not isinstance(text, str):
        vals = [float(v) for v in text]
    elif ":" in text:
        parts = text.split(":")
        try:
            start, stop, step = (float(p) for p in parts)
        except ValueError:
            raise InputError(
                f"densities {text!r}: expected START:STOP:STEP such as 0.05:1.0:0.05"
            ) from None
        if len(parts) != 3 or not all(map(math.isfinite, (start, stop, step))) or step <= 0 or stop < start:
            raise InputError(f"densities {text!r}: expected START:STOP:STEP with STEP > 0 and STOP >= START")
        if (stop - start) / step >= MAX_DENSITIES:
            raise InputError(f"densities {text!r}: more than {MAX_DENSITIES} grid points; use a larger STEP")
        count = int(math.floor((stop - start) / step + 1e-9)) + 1
        vals = [round(start + i * step, 10) for i in range(count)]
    else:
        try:
            vals = [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise InputError(f"densities {text!r}: expected numbers separated by commas") from None
    for v in vals:
        if not (0.0 < v <= 1.0):
            raise InputError(f"density {v} is outside (0, 1]")
    if len(vals) > MAX_DENSITIES:
        raise InputError(f"{len(vals)} densities given; at most {MAX_DENSITIES}")
    if not vals:
        raise InputError(f"densities {text!r}: no density given")
    return tuple(sorted(set(vals)))


@dataclass(frozen=True)
class Point:
    """One simulation of the sweep and where its row belongs."""

    arch: str
    workload: str
    batch: int
    layer_index: int
    layer: str
    repeat: int
    pattern: str
    format: str
    density: float
    dtype: str
    mode: str
    m: int
    n: int
    k: int
    model: str = ""  # fingerprint of code + arch config (sparsesim.dse.fingerprint)
    prunable: bool = True  # False: A is an activation (attention products); simulated dense

    @property
    def key(self) -> tuple:
        return row_key(vars(self))

    @property
    def point_key(self) -> tuple:
        return point_key(vars(self))

    @property
    def simulated(self) -> "Point":
        """The point the evaluator runs: itself, or its dense twin when A is not prunable."""
        if self.prunable or self.pattern == "dense":
            return self
        return replace(self, pattern="dense", format="dense", density=1.0)

    @property
    def sim_key(self) -> tuple:
        """Points with equal sim_key give equal results (shape, not layer name, matters)."""
        p = self.simulated
        real = (p.workload, p.layer) if p.mode == "exec" else ()  # real operands differ by layer
        return (p.arch, p.m, p.n, p.k, p.dtype, p.pattern, p.format, p.density, p.mode) + real


def plan_points(archs, workloads, patterns=DEFAULT_PATTERNS, densities=DEFAULT_DENSITIES,
                dtype="fp16", mode="statistical", batch=None, **workload_options) -> list[Point]:
    """Every point of the sweep, in table order.

    ``workloads`` are names/paths or :class:`~sparsesim.workloads.Workload` objects;
    ``patterns`` a spec string/list; ``densities`` a grid string or a sequence;
    ``batch`` (optional) replaces every named workload's own batch size;
    ``workload_options`` (``phase``, ``seq_len``, ``context``) go to
    :func:`~sparsesim.workloads.load_workload` (Hugging Face configs).  A layer that
    names its own dtype runs in it; the others in ``dtype``.
    """
    from ..workloads import Workload, load_workload
    from .fingerprint import model_fingerprint

    if dtype not in DTYPES:
        raise InputError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    archs = list(dict.fromkeys(archs))
    if not archs:
        raise InputError("no arch given; name at least one (e.g. --arch a100)")
    if isinstance(workloads, (str, Workload)):
        workloads = [workloads]
    if isinstance(archs, str):
        archs = [archs]
    wls = [w if isinstance(w, Workload) else load_workload(w, batch=batch, **workload_options)
           for w in workloads]
    if not wls:
        raise InputError("no workload given; name at least one (e.g. --workload bert-base)")
    specs = parse_pattern_list(patterns)
    if not any(s.pattern == "dense" for s in specs):
        specs.insert(0, PatternSpec("dense", "dense", 1.0))
    grid = parse_densities(densities)
    points = []
    for arch in archs:
        model = model_fingerprint(arch)
        for wl in wls:
            for li, layer in enumerate(wl.layers):
                for spec in specs:
                    dens = (spec.fixed_density,) if spec.fixed_density is not None else grid
                    for d in dens:
                        points.append(Point(arch, wl.name, wl.batch, li, layer.name, layer.repeat,
                                            spec.pattern, spec.format, float(d), layer.dtype or dtype,
                                            mode, layer.m, layer.n, layer.k, model, layer.prunable))
    return points


# ---------------------------------------------------------------- evaluation
@lru_cache(maxsize=None)
def _arch(name):
    import sparsesim

    return sparsesim.load_arch(name)


def simulate_point(point: Point) -> dict:
    """The default evaluator: run the timing engine on one point."""
    import sparsesim

    density = point.density if point.pattern == "unstructured" else None
    fmt = point.format if point.pattern == "unstructured" else None
    result = sparsesim.simulate(_arch(point.arch), point.m, point.n, point.k, point.dtype,
                                point.pattern, density=density, mode=point.mode, format=fmt)
    return result.to_dict()


def load_evaluator(spec: str):
    """``"package.module:function"`` -> the function (a custom point evaluator)."""
    mod, sep, attr = spec.partition(":")
    if not sep or not mod or not attr:
        raise InputError(f"evaluator {spec!r}: expected MODULE:FUNCTION")
    try:
        return getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"evaluator {spec!r} cannot be loaded: {exc}") from None


def _num(value):
    if value is None or value == "":
        return None
    return float(value)


IDENTITY = ("arch", "workload", "batch", "layer_index", "layer", "repeat", "pattern", "format",
            "density", "dtype", "mode", "model", "m", "n", "k", "prunable")


def make_row(point: Point, result: dict | None, error: str = "") -> dict:
    """One typed table row from a point and its evaluator output (or an error)."""
    row = {c: getattr(point, c) for c in IDENTITY}
    row.update({"cycles": None, "seconds": None, "speedup": None, "utilization": None,
                "tensor_utilization": None, "bound": "", "clock_mhz": None, "power_w": None, "error": error})
    for kind in DRAM_KINDS:
        row[f"dram_{kind}"] = None
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
        except (KeyError, TypeError, ValueError) as exc:
            return make_row(point, None, f"bad evaluator result: {type(exc).__name__}: {exc}")
    return row


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


def check_supported(points) -> None:
    """Refuse, before any work, a (arch, dtype, pattern) combination that the timing
    engine refuses: one :class:`InputError` with its reason and the dtypes that work.

    Each distinct combination is tried once on a small GEMM (statistical mode)."""
    import sparsesim

    def refusal(arch, dtype, p):
        try:
            sparsesim.simulate(_arch(arch), *PROBE_SHAPE, dtype, p.pattern,
                               density=p.density if p.pattern == "unstructured" else None,
                               format=p.format if p.pattern == "unstructured" else None)
        except SparsesimError as exc:
            return str(exc)
        return None

    dense = PatternSpec("dense", "dense", 1.0)
    seen = set()
    for point in points:
        p = point.simulated
        for spec in (dense, p):  # the dtype at all, then with this pattern
            combo = (p.arch, p.dtype, spec.pattern, spec.format,
                     spec.density if spec.pattern == "unstructured" else None)
            if combo in seen:
                continue
            seen.add(combo)
            try:
                _arch(p.arch)
            except SparsesimError:
                break  # an unloadable arch is reported by its points, as before
            reason = refusal(p.arch, p.dtype, spec)
            if reason is None:
                continue
            works = [d for d in DTYPES if d != p.dtype and refusal(p.arch, d, spec) is None]
            if spec.pattern != "dense" and not works:
                continue  # the arch refuses the pattern whatever the dtype: its points record why
            label = "" if spec.pattern == "dense" else f" with {_label(spec)}"
            raise InputError(f"dtype {p.dtype} does not run on {p.arch}{label}: {reason}; "
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
    from .executors import open_executor

    t0 = time.perf_counter()
    points = list(points)
    if out is not None:
        out = check_table_path(out)
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
    result.rows = rows
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

