"""GEMM library kernel selection: the kernels cuBLASLt and cuSPARSELt search, and the pick.

Both libraries time many algorithms for a GEMM and keep the fastest (the measured rows of
``validation/`` are such bests).  A GPU config's ``[library]`` table lists the kernel
families each library has on that architecture (:class:`sparsesim.arch.schema.GpuKernelFamily`):
the main loop (``multistage``: cp.async stages, ``ldmatrix`` and warp-level ``mma.sync``;
``wgmma``: TMA and warp-specialized warpgroups; ``tcgen05``: TMA and one thread issuing the
whole CTA tile's MMA into tensor memory), its tile shapes and stages, the split-K factors,
stream-K and the thread-block cluster.  A candidate is one family x tile x work
decomposition:

* **data-parallel**: one CTA per output tile, launched in waves of ``SMs x CTAs per SM``;
* **split-K** (factor s, searched in powers of two up to ``split_k_max`` when the output
  tiles fill less than a wave): s CTAs share an output tile, each reduces 1/s of K and
  writes fp32 partial sums; a reduction reads them back and writes C (its bytes move at L2
  bandwidth when the partials fit the usable L2, else at DRAM bandwidth);
* **stream-K** (when the last wave is partial): the full waves run data-parallel, the
  remaining tiles' main-loop iterations are spread evenly over every CTA slot of one more
  wave; the CTAs sharing a tile exchange fp32 partial tiles through L2 (the fix-up).

Every candidate is ranked by the analytical estimate of the engine; the best few are
simulated and the fastest wins.  :func:`select` returns the winner with the reasons it won
(the binding unit, waves, split-K factor, the runner-up).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from math import ceil

from ..errors import InputError
from .engine import estimate_cycles
from .workload import KernelSpec, WaveSpec, build_plan, max_stages, wave_groups

RANK_SLACK = 0.03  # candidates within 3 % of the best estimate are simulated too
MIN_SIMULATED = 2
MAX_SIMULATED = 3
AUTO_STAGES_MAX = 8  # assumption: deeper pipelines than this buy nothing the latencies need


@dataclass
class KernelRun:
    """One candidate: the kernel and the plans that time it."""

    family: str
    mainloop: str
    tile: object
    spec: KernelSpec
    schedule: str  # "data-parallel", "split-k" or "stream-k"
    base: object  # the data-parallel (or split-K) plan: tile, demands, action counts
    phases: list  # plans run one after the other (stream-K: the full waves, then its wave)
    reduction_cycles: float = 0.0
    estimate: float = 0.0
    cycles: float | None = None  # simulated
    parent: "KernelRun | None" = None  # stream-K: the data-parallel run whose last wave it replaces
    detail: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        t = self.tile
        s = f"{self.family} {t.cta_m}x{t.cta_n}x{t.cta_k} {self.spec.stages} stages"
        if self.spec.cluster_m * self.spec.cluster_n > 1:
            s += f" cluster {self.spec.cluster_m}x{self.spec.cluster_n}"
        if self.schedule == "split-k":
            s += f" split-K {self.spec.split_k}"
        elif self.schedule == "stream-k":
            s += " stream-K"
        return s

    def describe(self) -> dict:
        t, sp = self.tile, self.spec
        return {
            "name": self.name, "family": self.family, "mainloop": self.mainloop,
            "tile": f"{t.cta_m}x{t.cta_n}x{t.cta_k}", "warp_tile": f"{t.warp_m}x{t.warp_n}",
            "stages": sp.stages, "schedule": self.schedule, "split_k": sp.split_k,
            "cluster": f"{sp.cluster_m}x{sp.cluster_n}", "ctas": self.base.ctas,
            "ctas_per_sm": self.base.ctas_per_sm,
        }


class _WaveList(list):
    """Explicit waves (a stream-K wave): ``summary()`` as the engine expects."""

    def summary(self):
        return [(w, 1) for w in self]


def families(arch, op, dtype):
    lib = getattr(arch, "library", None)
    if lib is None:
        return []
    return [f for f in lib.kernels if f.op == op and f.serves(dtype)]


def _stream_k(run, arch):
    """The stream-K variant of a data-parallel run, or None when its waves are all full."""
    p = run.base
    slots = arch.sm.count * p.ctas_per_sm
    full, rest = divmod(p.ctas, slots)
    if rest == 0:
        return None
    k_sk = ceil(rest * p.k_iters / slots)
    last = p.waves[len(p.waves) - 1]
    # every slot but one per tile hands a partial fp32 tile to the tile's owner (write + read)
    sharers = max(0, slots - rest)
    fixup = 2.0 * sharers * p.tile.cta_m * p.tile.cta_n * 4
    carried = p.waves.c_bytes(full - 1) if full else 0.0
    wave = WaveSpec(slots, wave_groups(slots, arch.sm.count, p.ctas_per_sm), last.dram_read_bytes,
                    last.c_bytes + fixup, carried, True)
    sk = dataclasses.replace(p, k_iters=k_sk, waves=_WaveList([wave]))
    # the full waves are the data-parallel run's: the stream-K wave replaces its last, partial one
    return KernelRun(run.family, run.mainloop, run.tile, run.spec, "stream-k", p, [sk], parent=run)


def _reduction_cycles(plan, arch):
    if plan.splits <= 1:
        return 0.0
    partials = plan.splits * plan.m * plan.n * 4
    fits = partials <= arch.l2.size_mib * 2**20 * arch.l2.usable_fraction
    if fits:
        per_cycle = arch.l2.bytes_per_cycle
    else:
        per_cycle = arch.dram.bandwidth_gbps * 1e9 * arch.efficiency.dram / arch.clock_hz
    return plan.reduction_bytes / per_cycle + arch.l2.latency_cycles


def candidates(arch, m, n, k, dtype, pattern, fmt, passes_override=None, decompositions=True, warm_l2=False,
               out_dtype=None):
    """Every kernel the libraries would time for this GEMM (families of the arch's [library]
    table serving the dtype; without one, the [tiles] candidates, data-parallel)."""
    op = "dense" if pattern.is_dense else "sparse"
    fams = families(arch, op, dtype)
    runs = []
    if not fams:  # no family serves the dtype (tf32, fp4): the [tiles] candidates that fit
        refused = None
        for t in arch.tiles.candidates:
            try:
                p = build_plan(arch, m, n, k, dtype, pattern, fmt, t, passes_override, warm_l2=warm_l2,
                               out_dtype=out_dtype)
            except InputError as exc:
                refused = exc
                continue
            runs.append(KernelRun("tiles", "multistage" if arch.tiles.warp_tile_warps == 1 else "wgmma",
                                  t, p.spec, "data-parallel", p, [p]))
        if not runs:
            raise refused
        return runs
    for fam in fams:
        for t in fam.tiles:
            stages = t.stages or fam.stages
            if fam.fill_smem and not t.stages:
                stages = min(AUTO_STAGES_MAX, max_stages(arch, dtype, pattern, t))
                if stages < 2:
                    continue
            spec = KernelSpec(stages, fam.warp_tile_warps, fam.raster_group_rows, 1, fam.cluster_m,
                              fam.cluster_n, fam.mainloop)
            try:
                p = build_plan(arch, m, n, k, dtype, pattern, fmt, t, passes_override, spec, warm_l2, out_dtype)
            except InputError:  # the tile and its stages do not fit one SM
                continue
            dp = KernelRun(fam.name, fam.mainloop, t, spec, "data-parallel", p, [p])
            runs.append(dp)
            if not decompositions:
                continue
            slots = arch.sm.count * p.ctas_per_sm
            if fam.stream_k and p.k_iters > 1:
                sk = _stream_k(dp, arch)
                if sk is not None:
                    runs.append(sk)
            s = 2
            while s <= fam.split_k_max and p.ctas * s <= 2 * slots and ceil(k / s) >= t.cta_k:
                sspec = dataclasses.replace(spec, split_k=s)
                ps = build_plan(arch, m, n, k, dtype, pattern, fmt, t, passes_override, sspec, warm_l2, out_dtype)
                runs.append(KernelRun(fam.name, fam.mainloop, t, sspec, "split-k", ps, [ps],
                                      _reduction_cycles(ps, arch)))
                s *= 2
    if not runs:
        raise InputError(f"no {op} kernel of {arch.name}'s [library] fits one SM for {dtype}")
    return runs


def estimate(run) -> float:
    run.estimate = sum(estimate_cycles(p) for p in run.phases) + run.reduction_cycles
    if run.parent is not None:
        p = run.parent.base
        last = dataclasses.replace(p, waves=_WaveList([p.waves[len(p.waves) - 1]]))
        run.estimate += estimate(run.parent) - estimate_cycles(last)
    return run.estimate


def shortlist(runs):
    """The candidates worth simulating: the best ``MIN_SIMULATED`` by estimate and any other
    within ``RANK_SLACK`` of the best (at most ``MAX_SIMULATED``)."""
    for r in runs:
        estimate(r)
    ranked = sorted(runs, key=lambda r: r.estimate)
    best = ranked[0].estimate
    return [r for j, r in enumerate(ranked)
            if j < MIN_SIMULATED or (j < MAX_SIMULATED and r.estimate <= best * (1.0 + RANK_SLACK))]


def why(winner, ranked, arch, util, bound) -> str:
    """A sentence on why the kernel won: what binds it, its waves, its decomposition, the runner-up."""
    p = winner.base
    slots = arch.sm.count * p.ctas_per_sm
    waves = p.ctas / slots
    parts = [f"bound by {bound} ({util.get('tensor' if bound == 'compute' else bound, 0.0) * 100:.0f} % busy)"]
    if winner.schedule == "split-k":
        parts.append(f"{p.tiles_m * p.tiles_n} output tiles fill {p.tiles_m * p.tiles_n / slots * 100:.0f} % "
                     f"of one wave of {slots} CTA slots, so K is split {winner.spec.split_k} ways "
                     f"({p.ctas} CTAs, reduction {winner.reduction_cycles:.0f} cycles)")
    elif winner.schedule == "stream-k":
        full = p.ctas // slots
        parts.append(f"{p.ctas} tiles = {full} full waves + {p.ctas - full * slots} tiles spread over all "
                     f"{slots} CTA slots (stream-K)")
    else:
        last = p.ctas - (ceil(waves) - 1) * slots
        parts.append(f"{p.ctas} CTAs in {ceil(waves)} waves of {slots} slots (last wave {last / slots * 100:.0f} % full)")
    others = [r for r in ranked if r is not winner and r.cycles is not None]
    if others:
        ru = min(others, key=lambda r: r.cycles)
        parts.append(f"runner-up {ru.name} {ru.cycles / winner.cycles:.3f}x the time")
    return "; ".join(parts)
