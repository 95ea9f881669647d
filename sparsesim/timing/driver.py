"""``simulate``: validate a GEMM request, choose the tile shape, run the engine, build the result."""

from __future__ import annotations

import dataclasses

from ..arch import load_arch
from ..cost import annotate as annotate_cost
from ..errors import InputError, PatternError
from ..patterns import parse_pattern
from . import library
from .engine import UNITS, simulate_wave
from .library import KernelRun
from .limits import Limits, check_dims, check_exec, check_full, resolve
from .result import SimResult
from .statistical import slowest_tile_factor
from .workload import build_plan, warp_instructions

MODES = ("statistical", "full", "exec")
OUT_DTYPES = ("int8", "fp16", "bf16", "fp32", "int32")

# Timing models of other architecture kinds: kind -> callable with simulate's signature.
# A model registers itself from its own module with ``register_simulator``; the module
# named here (or ``sparsesim.timing.<kind>``) is imported on first use of the kind.
_SIMULATORS: dict = {}
_KIND_MODULES = {"cpu": "sparsesim.cpu.driver"}


def register_simulator(kind: str, fn) -> None:
    """Route ``simulate`` calls on archs of ``kind`` to ``fn(arch, m, n, k, dtype, pattern, **kw)``."""
    if kind == "gpu":
        raise ValueError("kind 'gpu' is simulated by sparsesim.timing itself")
    _SIMULATORS[kind] = fn


def _simulator_for(kind):
    if kind not in _SIMULATORS:
        import importlib

        for mod in (_KIND_MODULES.get(kind), f"sparsesim.timing.{kind}"):
            if mod:
                try:
                    importlib.import_module(mod)
                except ModuleNotFoundError:
                    pass
            if kind in _SIMULATORS:
                break
    return _SIMULATORS.get(kind)
UNSTRUCTURED_FORMATS = ("csr", "csb", "bitmask")
NM_ENCODINGS = ("index", "combinatorial", "bitmask")


def _pick_tiles(arch, tile):
    cands = list(arch.tiles.candidates)
    if tile is None:
        return cands
    if isinstance(tile, int) and not isinstance(tile, bool):
        if not 0 <= tile < len(cands):
            raise InputError(f"tile index {tile} is outside 0..{len(cands) - 1} for {arch.name}")
        return [cands[tile]]
    if isinstance(tile, (tuple, list)) and len(tile) >= 3:
        for c in cands:
            if (c.cta_m, c.cta_n, c.cta_k) == tuple(tile[:3]):
                return [c]
        raise InputError(f"tile {tuple(tile)} is not among {arch.name}'s candidates")
    for c in cands:
        if c == tile:
            return [c]
    raise InputError(f"tile must be an index, an (M, N, K) tuple or a tile shape of {arch.name}, got {tile!r}")


def _pinned_runs(arch, tile, gemm, passes_override, warm_l2, out_dtype):
    """Data-parallel runs of a pinned tile: the [tiles] candidate, or else (an (M, N, K) tuple)
    the library kernels of that tile shape, e.g. the tile another mode's search chose."""
    try:
        tiles = _pick_tiles(arch, tile)
    except InputError:
        if not (isinstance(tile, (tuple, list)) and len(tile) >= 3):
            raise
        runs = [r for r in library.candidates(arch, *gemm, passes_override, decompositions=False,
                                              warm_l2=warm_l2, out_dtype=out_dtype)
                if (r.tile.cta_m, r.tile.cta_n, r.tile.cta_k) == tuple(tile[:3])]
        if not runs:
            raise InputError(f"tile {tuple(tile)} is neither among {arch.name}'s [tiles] candidates "
                             f"nor a tile of its library's kernels for this GEMM") from None
        return runs
    runs = []
    for t in tiles:
        p = build_plan(arch, *gemm, t, passes_override, warm_l2=warm_l2, out_dtype=out_dtype)
        runs.append(KernelRun("tiles", "pinned", t, p.spec, "data-parallel", p, [p]))
    return runs


def _run_plan(plan, mode, scales_by_wave=None):
    """Total kernel cycles, busy cycles per unit, events, CTA-iterations not simulated event by
    event (fast-forwarded or reused from an identical wave), waves simulated."""
    full = mode == "full"
    if full and scales_by_wave is None:
        from .full import simulate_full

        cycles, busy, events = simulate_full(plan)
        return cycles, busy, events, 0, 0, None
    total = 0.0
    busy = {u: 0.0 for u in UNITS}
    events = skipped = simulated = 0
    if full or scales_by_wave is not None:
        runs = [(plan.waves[i], 1, i) for i in range(len(plan.waves))]
    else:
        runs = [(w, c, None) for w, c in plan.waves.summary()]
    memo = {}
    for w, count, idx in runs:
        scales = None
        if scales_by_wave is not None:
            w, scales = scales_by_wave(idx, w)
        elif plan.tile_cv > 0:
            # the wave waits for its slowest CTA (per-tile occupancy variation)
            scales = [slowest_tile_factor(plan.tile_cv, w.ctas)] * len(w.groups)
        key = None if (full or scales_by_wave is not None) else w.signature()
        reused = count
        if key is not None and key in memo:
            cyc, b = memo[key]
        else:
            cyc, b, ev, sk = simulate_wave(plan, w, fast_forward=not full,
                                           scales=scales)
            if scales_by_wave is None and scales is not None:
                # every SM was charged the slowest CTA's work; the units did the mean work
                b = {u: (v / scales[0] if u in ("tensor", "decode", "mux") else v) for u, v in b.items()}
            simulated += 1
            events += ev
            skipped += sk
            reused = count - 1
            if key is not None:
                memo[key] = (cyc, b)
        skipped += reused * w.ctas * plan.k_iters
        total += count * cyc
        for u in UNITS:
            busy[u] += count * b.get(u, 0.0)
        last = (cyc, b, w.ctas * plan.k_iters)
    return total, busy, events, skipped, simulated, last


def simulate(arch, m, n, k, dtype, pattern, density=None, mode="statistical", format=None,
             encoding=None, tile=None, a=None, b=None, full_limit=None, warm_l2=False, out_dtype=None,
             limits: Limits | None = None):
    """Simulate C[m x n] = A[m x k] . B[k x n] with A sparse along k.

    ``arch``: config name, path or loaded arch.  ``dtype``: one the arch's tensor cores take
    (int8, fp8 (e4m3), fp16, bf16, tf32, fp4 (e2m1)); others are refused naming those.
    ``pattern``: "dense", "N:M" or "unstructured" (with ``density``); ``format``
    ("csr", "csb", "bitmask") picks the stored encoding of an unstructured A and
    ``encoding`` ("index", "combinatorial", "bitmask") that of an N:M A (traffic).
    ``mode``: "statistical" (SM groups in lockstep, waves, fast-forwarded), "full" (every SM
    and CTA on its own, CTAs dispatched as SMs free up, every event) or "exec"
    (``a`` and ``b`` given: the functional kernel computes C bit-exactly and each
    tile's time follows its real non-zeros; ``m, n, k`` must match the arrays).
    ``tile``: pin a tile shape of the [tiles] table (index into its candidates or (M, N, K);
    an (M, N, K) of none of them pins the library kernels of that tile), run data-parallel; by default the GEMM library's kernels (the arch's [library] table:
    families x tiles x data-parallel / split-K / stream-K, :mod:`sparsesim.timing.library`) are
    ranked by an analytical estimate, the best few simulated and the fastest kept, as the
    libraries' algorithm search does; ``result.kernel`` names it and says why it won.
    ``warm_l2``: time one call of a loop that repeats the same GEMM (as benchmarks do): operands
    that fit in the usable L2 together are read from L2, not DRAM.
    ``out_dtype``: the type C is written in (default: int32 for int8, the operand type's own
    16-bit float otherwise; libraries differ, e.g. cuSPARSELt int8 may write bf16).
    ``limits``: a :class:`~sparsesim.timing.limits.Limits` (docs/limits.md): largest
    dimension and operand, CTA-iterations of mode "full" (its cost grows with the GEMM),
    memory and multiply-adds of mode "exec"; ``full_limit`` overrides
    ``limits.full_cta_iterations``.  A request above a limit raises
    :class:`~sparsesim.errors.LimitError` before any work starts.
    Returns a :class:`~sparsesim.timing.result.SimResult`.
    """
    limits = resolve(limits)
    if full_limit is not None:
        limits = resolve(dataclasses.replace(limits, full_cta_iterations=full_limit))
    arch = load_arch(arch)
    m, n, k = check_dims(m, n, k, limits)
    if not isinstance(mode, str) or mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    kind = getattr(arch, "kind", None)
    if kind != "gpu":
        fn = _simulator_for(kind)
        if fn is None:
            raise InputError(
                f"no timing model is registered for architecture {arch.name!r} of kind {kind!r} "
                f"(sparsesim.timing.register_simulator)")
        return fn(arch, m, n, k, dtype, pattern, density=density, mode=mode, format=format,
                  encoding=encoding, tile=tile, a=a, b=b)
    if not isinstance(dtype, str):
        raise InputError(f"dtype must be a string such as 'fp16', got {dtype!r}")
    reason = arch.refusal(dtype)
    if reason is not None:
        raise InputError(reason)
    if isinstance(pattern, str) and pattern.strip().lower().startswith("unstructured:"):
        suffix = pattern.strip().lower().split(":", 1)[1]
        if suffix in UNSTRUCTURED_FORMATS:
            format = suffix if format is None else format
            pattern = "unstructured"
    if mode == "exec" and density is None and str(pattern).strip().lower() == "unstructured":
        from .execdriven import real_density

        density = real_density(a)  # an unstructured operand's density is its own
    pat = parse_pattern(pattern, density)
    fmt = None
    if pat.is_unstructured:
        fmt = "csr" if format is None else format
        if not isinstance(fmt, str) or fmt not in UNSTRUCTURED_FORMATS:
            raise InputError(f"format must be one of {', '.join(UNSTRUCTURED_FORMATS)}, got {fmt!r}")
        if encoding is not None:
            raise InputError("encoding= applies to N:M operands; use format= for unstructured ones")
    elif pat.is_nm:
        if format is not None:
            raise PatternError(f"format={format!r} applies to unstructured operands, not to {pat}")
        fmt = "index" if encoding is None else encoding
        if not isinstance(fmt, str) or fmt not in NM_ENCODINGS:
            raise InputError(f"encoding must be one of {', '.join(NM_ENCODINGS)}, got {fmt!r}")
    elif format is not None or encoding is not None:
        raise InputError("dense operands take no format or encoding")

    exec_data = None
    if mode == "exec":
        from .execdriven import prepare_exec

        check_exec(m, n, k, limits)
        exec_data = prepare_exec(arch, m, n, k, dtype, pat, a, b)
    elif a is not None or b is not None:
        raise InputError("operand arrays a= and b= are used only with mode='exec'")

    passes_override = exec_data.mean_passes if exec_data is not None else None
    if out_dtype is not None and out_dtype not in OUT_DTYPES:
        raise InputError(f"out_dtype must be one of {', '.join(OUT_DTYPES)}, got {out_dtype!r}")
    if tile is not None:
        runs = _pinned_runs(arch, tile, (m, n, k, dtype, pat, fmt), passes_override, warm_l2, out_dtype)
    else:
        # the library's algorithm search: split-K and stream-K only in the statistical mode
        runs = library.candidates(arch, m, n, k, dtype, pat, fmt, passes_override,
                                  decompositions=mode == "statistical", warm_l2=warm_l2, out_dtype=out_dtype)
    n_candidates = len(runs)
    ranked = library.shortlist(runs) if len(runs) > 1 else runs

    need_bytes = ranked[0].base.compulsory["total"]
    if need_bytes > arch.dram.size_gib * 2**30:
        raise InputError(f"the GEMM's operands ({need_bytes / 2**30:.1f} GiB) do not fit the "
                         f"{arch.dram.size_gib:g} GiB of DRAM of {arch.name}")
    if mode == "full":
        check_full(max(r.base.ctas * r.base.k_iters for r in ranked), limits)
    if exec_data is not None:
        # the real operand's tiles time the (data-parallel) candidates; the fastest runs
        plan, cycles, busy, events = exec_data.run([r.base for r in ranked])
        run = next(r for r in ranked if r.base is plan)
        res = _result(arch, plan, mode, cycles, busy, events, 0, 0, exec_data, run.spec.stages)
        return _describe(res, run, ranked, n_candidates, arch)
    best = None
    done: dict = {}
    for run in ranked:
        if id(run) not in done:
            done[id(run)] = _run_kernel(run, mode, done)
        totals = done[id(run)][:5]
        run.cycles = totals[0]
        if best is None or totals[0] < best[1][0]:
            best = (run, totals)
    run, (cycles, busy, events, skipped, simulated) = best
    res = _result(arch, run.base, mode, cycles, busy, events, skipped, simulated, exec_data, run.spec.stages)
    return _describe(res, run, ranked, n_candidates, arch)


def _describe(res, run, ranked, n_candidates, arch):
    """``res.kernel``: the kernel that won and why."""
    res.kernel = {**run.describe(), "waves": res.waves, "bound": res.bound, "candidates": n_candidates,
                  "simulated": len(ranked), "why": library.why(run, ranked, arch, res.utilization, res.bound)}
    return res


def _run_kernel(run, mode, done):
    """Cycles, busy cycles per unit, events, skipped iterations, simulated waves and the last
    wave (cycles, busy, iterations) of one candidate kernel: its plans one after the other,
    then the split-K reduction.  A stream-K kernel is its data-parallel parent (``done``: the
    kernels simulated already, by id) with the parent's last, partial wave replaced by the
    stream-K wave."""
    cycles, busy = run.reduction_cycles, {u: 0.0 for u in UNITS}
    busy["l2"] = run.reduction_cycles
    events = skipped = simulated = 0
    last = None
    if run.parent is not None:
        if id(run.parent) not in done:
            done[id(run.parent)] = _run_kernel(run.parent, mode, done)
        p_cycles, p_busy, _, p_skipped, _, (l_cyc, l_busy, l_iters) = done[id(run.parent)]
        cycles += p_cycles - l_cyc
        skipped += p_skipped - l_iters
        for u in UNITS:
            busy[u] += p_busy[u] - l_busy.get(u, 0.0)
    for plan in run.phases:
        c, b, e, s, w, last = _run_plan(plan, mode)
        cycles += c
        events, skipped, simulated = events + e, skipped + s, simulated + w
        for u in UNITS:
            busy[u] += b.get(u, 0.0)
    return cycles, busy, events, skipped, simulated, last


def _result(arch, plan, mode, cycles, busy, events, skipped, simulated, exec_data, stages=None):
    clock_hz = arch.clock.sustained_mhz * 1e6
    launch_s = arch.launch.overhead_us * 1e-6
    kernel_s = cycles / clock_hz
    seconds = kernel_s + launch_s
    util = {u: (busy[u] / cycles if cycles else 0.0) for u in UNITS}
    if launch_s >= kernel_s:
        bound = "launch"
    else:
        top = max(UNITS, key=lambda u: util[u])
        bound = "compute" if top == "tensor" else top
    ops = 2.0 * plan.m * plan.n * plan.k
    d = plan.demand
    iters = plan.ctas * plan.k_iters
    actions = {
        "macs_dense_equivalent": d.macs * iters,
        "multiplies": d.multiplies * iters,
        "metadata_decodes": d.decodes * iters,
        "mux_selects": d.selects * iters,
        "mux_lane_selects": d.lane_selects * iters,
        "reencoded_nonzeros": d.reencoded * iters,
        "l2_read_bytes": d.l2_bytes * iters,
        "smem_write_bytes": d.smem_fill_bytes * iters,
        "smem_read_bytes": d.smem_read_bytes * iters,
        "accumulator_updates": d.macs * iters / max(1, plan.tile.cta_k),
        "dram_read_bytes": plan.dram["total"] - plan.dram["c"],
        "dram_write_bytes": plan.dram["c"],
        "warp_instructions": warp_instructions(plan) * iters,
        "sm_cycles": arch.sm.count * cycles,  # every SM is clocked for the whole kernel
    }
    t = plan.tile
    res = SimResult(
        arch=arch.name, m=plan.m, n=plan.n, k=plan.k, dtype=plan.dtype, pattern=str(plan.pattern),
        density=plan.pattern.density, mode=mode, cycles=cycles, seconds=seconds, bound=bound,
        utilization=util, dram_bytes=dict(plan.dram), compulsory_bytes=dict(plan.compulsory),
        tops=ops / seconds / 1e12, ops=ops,
        tile={"cta_m": t.cta_m, "cta_n": t.cta_n, "cta_k": t.cta_k, "warp_m": t.warp_m,
              "warp_n": t.warp_n, "stages": stages or arch.tiles.stages},
        waves=len(plan.waves), ctas=plan.ctas, ctas_per_sm=plan.ctas_per_sm, datapath=plan.datapath,
        format=plan.fmt, launch_seconds=launch_s, kernel_cycles=cycles, actions=actions,
        passes_per_slice=plan.passes, simulated_waves=simulated, events=events,
        fast_forwarded_iterations=skipped,
    )
    if exec_data is not None:
        exec_data.annotate(res, plan)
    # the clock the board's power limit allows, and the energy at its supply (sparsesim.cost)
    return annotate_cost(res, arch)
