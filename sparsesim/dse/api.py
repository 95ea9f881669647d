"""``sparsesim.sweep(...)``: a design-space sweep from Python, results as a DataFrame."""

from __future__ import annotations

from ..errors import InputError
from .sweep import (DEFAULT_DENSITIES, DEFAULT_PATTERNS, check_supported, load_evaluator, plan_points,
                    run_sweep, simulate_point)


def sweep(arch, workload, patterns=DEFAULT_PATTERNS, densities=DEFAULT_DENSITIES, *, out=None,
          dtype="fp16", mode="statistical", batch=None, phase="prefill", seq_len=None, context=None,
          params=None, jobs=1, scheduler=None, evaluator=None, retry_errors=False, progress=False,
          as_frame=None, weights=None, seed=0):
    """Sweep archs x workloads x patterns x densities and return the results table.

    ``arch``: a name/path or arch object (``sparsesim.arch.derive(...)``), or a list of them;
    ``workload``: a name/path or a list of them (workloads may also be
    :class:`~sparsesim.workloads.Workload` objects, e.g. from ``from_torch``);
    ``params``: design parameters to vary on every arch, as ``sweep --set`` does:
    ``{"tensor_core.index_scheme": ["ordered", "crossbar"], "dram.bandwidth_gbps": "1000:4000:500"}``
    or ``["KEY=VALUES", ...]``; the sweep runs their Cartesian product and each row carries
    its design's values as columns named by the keys;
    ``patterns``: a list or comma string of ``dense``, ``N:M``, ``unstructured:csr|csb|bitmask``;
    ``densities``: ``"START:STOP:STEP"`` or a list, for unstructured patterns.
    ``out``: ``None`` keeps everything in memory; a ``.csv`` / ``.parquet`` / ``.sqlite``
    path writes the table there and makes the sweep resumable (rerunning computes only
    what is missing).  ``phase``, ``seq_len``, ``context`` apply to Hugging Face configs.
    ``jobs``: worker processes (1: in this process).  ``progress``: draw a tqdm bar.
    ``weights``: a ``.safetensors`` file; every prunable layer runs in exec mode on its tensors
    (:mod:`sparsesim.dse.weights`), activations drawn with ``seed``.

    Returns a pandas DataFrame (typed columns, see ``sparsesim.dse.store.SCHEMA``) when
    pandas is installed, else the list of typed row dicts; ``as_frame=False`` asks for
    the rows either way.  A dtype that an arch does not take is refused before any work
    (:class:`~sparsesim.errors.InputError`).
    """
    from ..progress import Progress

    points, evaluator = prepare_sweep(arch, workload, patterns, densities, dtype=dtype, mode=mode, batch=batch,
                                      params=params, phase=phase, seq_len=seq_len, context=context,
                                      evaluator=evaluator, weights=weights, seed=seed, jobs=jobs,
                                      scheduler=scheduler, out=out)
    with Progress("sweep", enabled=progress, unit="pt") as bar:
        res = run_sweep(points, out, evaluator, jobs=jobs, scheduler=scheduler, progress=bar,
                        retry_errors=retry_errors)
    if as_frame is False:
        return res.rows
    try:
        return res.to_pandas()
    except ImportError:
        if as_frame:
            raise
        return res.rows


def prepare_sweep(arch, workload, patterns=DEFAULT_PATTERNS, densities=DEFAULT_DENSITIES, *, dtype="fp16",
                  mode="statistical", batch=None, phase="prefill", seq_len=None, context=None, params=None,
                  evaluator=None, weights=None, seed=0, jobs=None, scheduler=None, out=None, report=None):
    """The points of a sweep and their evaluator, after every check that can be made before
    the first point runs (:mod:`sparsesim.dse.checks`): workers, scheduler address, seed,
    outputs, evaluator, archs and designs, workloads, patterns, densities, the dtypes and
    patterns each design runs, the weights.  Any failure is an InputError; nothing is written."""
    from .checks import check_evaluator, check_int, check_jobs, check_outputs, check_scheduler

    check_jobs(jobs)
    check_scheduler(scheduler)
    check_int(seed, "seed", 0)
    check_outputs(out, report)
    if evaluator is not None and weights is not None:
        raise InputError("a sweep on real weights (--weights) runs the timing engine; it takes no --evaluator")
    if isinstance(evaluator, str):
        evaluator = load_evaluator(evaluator)
    elif evaluator is not None:
        check_evaluator(evaluator, getattr(evaluator, "__name__", repr(evaluator)))
    points = plan_points(arch, workload, patterns, densities, dtype=dtype, mode=mode, batch=batch,
                         params=params, phase=phase, seq_len=seq_len, context=context)
    if evaluator is None:
        check_supported(points, real_weights=weights is not None)
        evaluator = simulate_point
    else:  # a custom evaluator still gets points of archs that load
        from .sweep import point_arch

        seen = set()
        for p in points:
            if (p.arch, p.params) not in seen:
                seen.add((p.arch, p.params))
                point_arch(p)
    if weights is not None:
        from .weights import prepare

        points, evaluator = prepare(points, weights, seed)
    return points, evaluator
