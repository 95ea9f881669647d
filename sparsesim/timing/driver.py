"""``simulate``: validate a GEMM request, choose the tile shape, run the engine, build the result."""

from __future__ import annotations

from ..arch import load_arch
from ..cost import annotate as annotate_cost
from ..errors import InputError, PatternError
from ..patterns import parse_pattern
from .engine import UNITS, estimate_cycles, simulate_wave
from .result import SimResult
from .statistical import slowest_tile_factor
from .workload import TileFitError, build_plan, warp_instructions

MODES = ("statistical", "full", "exec")

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
RANK_SLACK = 0.03
MAX_SIMULATED_TILES = 3
UNSTRUCTURED_FORMATS = ("csr", "csb", "bitmask")
NM_ENCODINGS = ("index", "combinatorial", "bitmask")


def _check_dims(m, n, k):
    for name, v in (("m", m), ("n", n), ("k", k)):
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise InputError(f"GEMM dimension {name} must be a positive int, got {v!r}")


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


def _plans_that_fit(arch, tiles, pinned, gemm, passes_override):
    """Plans of the tile candidates whose shared-memory stages fit an SM for this dtype (a library
    has no kernel of a tile that does not fit); a pinned tile that does not fit is refused."""
    plans, refused = [], None
    for t in tiles:
        try:
            plans.append(build_plan(arch, *gemm, t, passes_override))
        except TileFitError as exc:
            if pinned:
                raise
            refused = exc
    if not plans:
        raise refused
    return plans


def _run_plan(plan, mode, scales_by_wave=None):
    """Total kernel cycles, busy cycles per unit, events, CTA-iterations not simulated event by
    event (fast-forwarded or reused from an identical wave), waves simulated."""
    full = mode == "full"
    if full and scales_by_wave is None:
        from .full import simulate_full

        cycles, busy, events = simulate_full(plan)
        return cycles, busy, events, 0, 0
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
    return total, busy, events, skipped, simulated


def simulate(arch, m, n, k, dtype, pattern, density=None, mode="statistical", format=None,
             encoding=None, tile=None, a=None, b=None, full_limit=None):
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
    ``tile``: pin a tile shape (index into the arch's candidates or (M, N, K));
    by default the candidates ranked best by an analytical estimate (the two best, and
    a third within 3% of the best) are simulated and the fastest is kept, as a library's
    autotuner would.
    ``full_limit``: in mode "full", refuse (InputError) GEMMs needing more than this
    many simulated CTA-iterations (the full simulation's cost grows with the GEMM).
    Returns a :class:`~sparsesim.timing.result.SimResult`.
    """
    arch = load_arch(arch)
    kind = getattr(arch, "kind", None)
    if kind != "gpu":
        fn = _simulator_for(kind)
        if fn is None:
            raise InputError(
                f"no timing model is registered for architecture {arch.name!r} of kind {kind!r} "
                f"(sparsesim.timing.register_simulator)")
        return fn(arch, m, n, k, dtype, pattern, density=density, mode=mode, format=format,
                  encoding=encoding, tile=tile, a=a, b=b)
    _check_dims(m, n, k)
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    reason = arch.refusal(dtype)
    if reason is not None:
        raise InputError(reason)
    if isinstance(pattern, str) and pattern.strip().lower().startswith("unstructured:"):
        suffix = pattern.strip().lower().split(":", 1)[1]
        if suffix in UNSTRUCTURED_FORMATS:
            format = format or suffix
            pattern = "unstructured"
    pat = parse_pattern(pattern, density)
    fmt = None
    if pat.is_unstructured:
        fmt = format or "csr"
        if fmt not in UNSTRUCTURED_FORMATS:
            raise InputError(f"format must be one of {', '.join(UNSTRUCTURED_FORMATS)}, got {fmt!r}")
        if encoding is not None:
            raise InputError("encoding= applies to N:M operands; use format= for unstructured ones")
    elif pat.is_nm:
        if format is not None:
            raise PatternError(f"format={format!r} applies to unstructured operands, not to {pat}")
        fmt = encoding or "index"
        if fmt not in NM_ENCODINGS:
            raise InputError(f"encoding must be one of {', '.join(NM_ENCODINGS)}, got {fmt!r}")
    elif format is not None or encoding is not None:
        raise InputError("dense operands take no format or encoding")

    exec_data = None
    if mode == "exec":
        from .execdriven import prepare_exec

        exec_data = prepare_exec(arch, m, n, k, dtype, pat, a, b)
    elif a is not None or b is not None:
        raise InputError("operand arrays a= and b= are used only with mode='exec'")

    tiles = _pick_tiles(arch, tile)
    passes_override = exec_data.mean_passes if exec_data is not None else None
    plans = _plans_that_fit(arch, tiles, tile is not None, (m, n, k, dtype, pat, fmt), passes_override)
    if len(plans) > 2:
        # rank by the analytical estimate; simulate the two best and every candidate
        # within RANK_SLACK of the best (the estimate ignores latency and queueing)
        est = sorted(((estimate_cycles(p), i, p) for i, p in enumerate(plans)), key=lambda t: t[:2])
        plans = [p for j, (e, _, p) in enumerate(est)
                 if j < 2 or (j < MAX_SIMULATED_TILES and e <= est[0][0] * (1.0 + RANK_SLACK))]

    need_bytes = plans[0].compulsory["total"]
    if need_bytes > arch.dram.size_gib * 2**30:
        raise InputError(f"the GEMM's operands ({need_bytes / 2**30:.1f} GiB) do not fit the "
                         f"{arch.dram.size_gib:g} GiB of DRAM of {arch.name}")
    if mode == "full" and full_limit is not None:
        need = max(p.ctas * p.k_iters for p in plans)
        if need > full_limit:
            raise InputError(f"mode 'full' would simulate {need} CTA-iterations (limit {full_limit}); "
                             f"use mode 'statistical', which fast-forwards them")
    best = None
    for plan in plans:
        scales_fn = exec_data.wave_scales(plan) if exec_data is not None else None
        run = _run_plan(plan, mode, scales_fn)
        if best is None or run[0] < best[1][0]:
            best = (plan, run)
    plan, (cycles, busy, events, skipped, simulated) = best
    return _result(arch, plan, mode, cycles, busy, events, skipped, simulated, exec_data)


def _result(arch, plan, mode, cycles, busy, events, skipped, simulated, exec_data):
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
              "warp_n": t.warp_n, "stages": arch.tiles.stages},
        waves=len(plan.waves), ctas=plan.ctas, ctas_per_sm=plan.ctas_per_sm, datapath=plan.datapath,
        format=plan.fmt, launch_seconds=launch_s, kernel_cycles=cycles, actions=actions,
        passes_per_slice=plan.passes, simulated_waves=simulated, events=events,
        fast_forwarded_iterations=skipped,
    )
    if exec_data is not None:
        res.output = exec_data.output
        res.tile_cycles = exec_data.tile_cycles(plan)
    # the clock the board's power limit allows, and the energy at its supply (sparsesim.cost)
    return annotate_cost(res, arch)
