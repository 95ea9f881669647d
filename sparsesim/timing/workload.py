"""What one GEMM asks of the hardware, per thread block (CTA) and main-loop iteration.

The compute model: the GEMM C[m x n] = A[m x k] . B[k x n] is cut into CTA tiles
``cta_m x cta_n``; each CTA walks K in ``cta_k`` steps (main-loop iterations).
Per iteration it loads an A stage (kept values + metadata, or dense values) and a B
stage into shared memory, reads them into registers warp by warp, decodes the
metadata, routes B through the multiplexers and runs the MMAs.  The demands of one
iteration are the same for every CTA (edge tiles execute padded MMAs; their bytes
are averaged over all CTAs, so byte totals stay exact).

The tile schedule: CTAs are launched in a swizzled raster (groups of
``raster_group_rows`` tile rows, down the rows then across the columns), in waves
of ``SMs x CTAs-per-SM``.  DRAM traffic comes from a panel-level L2 reuse model
(:func:`schedule_waves`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
from math import ceil

import numpy as np

from ..arch.datapath import MMA_K_BYTES, MMA_N, MMA_ROWS, sparse_datapath
from ..arch.schema import DTYPE_BITS, DTYPE_BYTES, SELECT_BITS, elements_in
from ..errors import InputError
from .decode import decode_cycles
from .mac import issue_limited_cycles
from .mux import mux_cycles
from .statistical import passes_per_slice, slice_passes_moments

# Output (C) type of each operand type: int8 accumulates into int32; fp8 / fp4 GEMMs of cuBLASLt and
# cuSPARSELt write a 16-bit float; tf32 (fp32 operands) writes fp32.
OUT_DTYPE = {"fp16": "fp16", "bf16": "bf16", "int8": "int32", "fp8": "fp16", "tf32": "fp32", "fp4": "bf16"}
# Storage type the format encoders count a dtype's bytes in (tf32 is stored as fp32); fp4 is counted
# as one byte per value and its values' bytes halved (two per byte).
_STORAGE = {"tf32": "fp32", "fp4": "int8"}


class TileFitError(InputError):
    """A tile's shared-memory stages or accumulators do not fit one SM."""


@dataclass
class IterDemand:
    """Demands of one main-loop iteration of one CTA (per SM where SM-local).

    Unit cycles are those of one CTA with all of the SM's tensor cores (and their
    decoders and multiplexers) working and no latency limit; :func:`sm_unit_cycles`
    turns them into the cycles of a group of CTAs on one SM.
    """

    l2_bytes: float  # A values + A metadata + B bytes the CTA reads through L2
    smem_fill_bytes: float
    smem_read_bytes: float
    mac_cycles: float
    decode_cycles: float  # hardware index decode
    mux_cycles: float
    reencode_cycles: float  # on-chip re-encoding of A into hardware passes (per SM, CUDA cores)
    macs: float  # dense-equivalent MACs (padded)
    multiplies: float  # multiplies the array actually performs
    decodes: float
    selects: float  # one per multiply
    lane_selects: float  # routed multiplexer lanes (mux_operand_bits wide)
    reencoded: float
    # operand bytes read through the SM's load/store shared-memory port (ldmatrix); wgmma and
    # tcgen05 read their operands through the tensor core's own shared-memory path instead
    smem_port_read_bytes: float | None = None

    @property
    def smem_port_bytes(self) -> float:
        return self.smem_read_bytes if self.smem_port_read_bytes is None else self.smem_port_read_bytes


@dataclass
class MmaIssue:
    """What limits MMA issue on one tensor core besides its rate (Little's law)."""

    issue_cycles: float  # cycles one m16n8 MMA instruction occupies a tensor core
    latency: float  # issue to result of a dependent MMA (MMA pipeline + select stages)
    operand_latency: float  # shared-memory load of the next k-step's fragments
    fragments_per_cta: int  # independent 16 x 8 accumulator fragments of one CTA
    warps_per_cta: int


@dataclass
class WaveSpec:
    """One wave: ``groups`` = ((SMs, CTAs per SM), ...); DRAM read bytes of the whole wave;
    its C bytes; the C bytes of the previous wave's CTAs that this wave's CTAs follow,
    written back through L2 to DRAM while this one runs (stores are posted: a CTA exits
    once it has issued them); ``last``: the kernel ends when this wave's stores have been
    acknowledged by L2."""

    ctas: int
    groups: tuple
    dram_read_bytes: float
    c_bytes: float
    carried_write_bytes: float = 0.0
    last: bool = True

    def signature(self):
        return (self.groups, round(self.dram_read_bytes, 3), round(self.c_bytes, 3),
                round(self.carried_write_bytes, 3), self.last)


@dataclass(frozen=True)
class KernelSpec:
    """How a library kernel runs a tile shape: pipeline stages, warps per warp tile (1 for
    mma.sync, 4 for a wgmma warpgroup or a tcgen05 CTA), split-K slices, the thread-block
    cluster whose CTAs share tiles through TMA multicast, the launch raster and the main
    loop (``multistage``, ``wgmma``, ``tcgen05``)."""

    stages: int
    warp_tile_warps: int
    raster_group_rows: int
    split_k: int = 1
    cluster_m: int = 1
    cluster_n: int = 1
    mainloop: str = "multistage"

    @classmethod
    def from_tiles(cls, arch, tile=None):
        """The [tiles] table's data-parallel kernel (a tile's own ``stages`` first)."""
        t = arch.tiles
        stages = getattr(tile, "stages", None) or t.stages
        return cls(stages, t.warp_tile_warps, t.raster_group_rows)


# Main loops whose MMAs read A and B from shared memory through the tensor core's own path
# (wgmma / tcgen05 shared-memory descriptors), not through the load/store unit's 128 B/clk
# port that ldmatrix uses: the datasheet sparse peaks need it.  An H100 2:4 wgmma.sp
# m64n256k32 consumes 16 KB of B per 128 tensor-core cycles of one SM (128 B/clk, plus A
# and the TMA fills of the next stages); through the one 128 B/clk port the 1979-TFLOPS
# sparse peak could not be reached by any tile shape.
TENSOR_CORE_OPERAND_PATH = ("wgmma", "tcgen05")

# Tensor memory of an sm100 SM holds the tcgen05 accumulators: 128 lanes x 512 columns of 32 bits
# (PTX ISA 8.7, "Tensor Memory"), so they do not take registers.
TMEM_BYTES = 128 * 512 * 4


@dataclass
class GemmPlan:
    arch: object
    m: int
    n: int
    k: int
    dtype: str
    pattern: object
    fmt: str | None
    tile: object
    datapath: str
    passes: float
    ctas_per_sm: int
    tiles_m: int
    tiles_n: int
    k_iters: int
    demand: IterDemand
    compulsory: dict
    dram: dict
    waves: list = field(default_factory=list)
    latency: dict = field(default_factory=dict)
    tile_cv: float = 0.0  # coefficient of variation of a CTA's sparse-MMA work (statistical)
    mma: MmaIssue | None = None
    spec: KernelSpec | None = None
    reduction_bytes: float = 0.0  # split-K: partial sums read back and the C tile written
    warm_l2: bool = False  # the operands may still be in L2 from the previous call of the same GEMM

    @property
    def splits(self) -> int:
        return self.spec.split_k if self.spec is not None else 1

    @property
    def stages(self) -> int:
        return self.spec.stages if self.spec is not None else self.arch.tiles.stages

    @property
    def ctas(self) -> int:
        return self.tiles_m * self.tiles_n * self.splits


def out_bytes(dtype: str) -> int:
    return DTYPE_BYTES[OUT_DTYPE[dtype]]


def metadata_bits_per_value(arch, dtype: str) -> float:
    """Metadata bits the sparse tensor core reads per kept value of ``dtype``: one
    ``metadata_bits`` index per selected unit (two per tf32 value, one per fp4 pair)."""
    return arch.tensor_core.metadata_bits * DTYPE_BITS[dtype] / SELECT_BITS[dtype]


def operand_a_traffic(m, k, dtype, pattern, fmt, arch=None):
    """Bytes of A: ``sparsesim.formats.traffic_bytes`` for the dtype's storage type, with fp4
    values packed two per byte; A in the hardware's own N:M pattern for ``dtype`` (given
    ``arch``, index encoding) carries the metadata that dtype's sparse MMA reads."""
    from ..formats import traffic_bytes

    store = _STORAGE.get(dtype, dtype)
    if pattern.is_dense:
        t = traffic_bytes(m, k, store, "dense")
    elif pattern.is_nm:
        t = traffic_bytes(m, k, store, f"{pattern.n}:{pattern.m}", fmt, pad=True)
        if arch is not None and (fmt or "index") == "index" and (pattern.n, pattern.m) == arch.sparse_pattern(dtype):
            t = dict(t)  # each row of metadata starts on a byte, as traffic_bytes counts it
            t["metadata"] = m * int(ceil(t["nnz"] // m * metadata_bits_per_value(arch, dtype) / 8))
    else:
        t = traffic_bytes(m, k, store, "unstructured", fmt or "csr", density=pattern.density)
    if dtype == "fp4":
        t = dict(t, values=int(ceil(t["values"] * DTYPE_BITS["fp4"] / 8)), dense=int(ceil(t["dense"] / 2)))
    if t["values"] + t["metadata"] != t["total"]:
        t = dict(t, total=t["values"] + t["metadata"])
    return t


def choose_datapath(arch, dtype, pattern, tile, passes_override=None):
    """Datapath and sparse-MMA passes per MMA step.

    ``"dense"`` for dense A; ``"sparse"`` when A is in the hardware's own N:M pattern;
    ``"sparse-passes"`` when A (unstructured, or another N:M) is re-encoded on chip into
    hardware N:M passes; ``"dense-fallback"`` when those passes would cost more than
    dense MMAs, so the kernel decompresses A and runs dense.
    """
    tc = arch.tensor_core
    hw_n, hw_m = arch.sparse_pattern(dtype)
    if pattern.is_dense:
        return "dense", 1.0
    if pattern.is_nm and (pattern.n, pattern.m) == (hw_n, hw_m):
        return "sparse", 1.0
    if passes_override is not None:
        p = float(passes_override)
    else:
        k_slice = elements_in(MMA_K_BYTES, dtype)
        p = passes_per_slice(pattern, hw_n, hw_m, MMA_ROWS, k_slice)
    eff = arch.efficiency
    if p / (tc.sparse_speedup * eff.tensor_sparse) >= 1.0 / eff.tensor_dense:
        return "dense-fallback", p
    return "sparse-passes", p


def stage_bytes(arch, dtype, pattern, tile) -> tuple:
    """Shared-memory bytes of one pipeline stage of A and of B."""
    elt = DTYPE_BYTES[dtype]
    if pattern.is_nm:
        a_stage = (tile.cta_m * tile.cta_k * pattern.density * elt
                   + tile.cta_m * tile.cta_k * pattern.density * metadata_bits_per_value(arch, dtype) / 8)
    else:  # dense, or re-encoded on chip into hardware N:M passes: budget a dense-size stage
        a_stage = tile.cta_m * tile.cta_k * elt
    return a_stage, tile.cta_k * tile.cta_n * elt


def max_stages(arch, dtype, pattern, tile) -> int:
    """Stages of ``tile`` that fit one SM's shared memory (CUTLASS's StageCountAutoCarveout
    leaves room for the epilogue: one C tile in the output type)."""
    a_stage, b_stage = stage_bytes(arch, dtype, pattern, tile)
    carveout = tile.cta_m * tile.cta_n * out_bytes(dtype)
    return int((arch.sm.shared_memory_kib * 1024 - carveout) // (a_stage + b_stage))


def build_plan(arch, m, n, k, dtype, pattern, fmt, tile, passes_override=None, spec=None,
               warm_l2=False, out_dtype=None) -> GemmPlan:
    """The demands and the wave schedule of one GEMM run by one kernel (``spec``: the tile's
    pipeline, split-K, cluster and raster; default the [tiles] table's data-parallel kernel).
    ``warm_l2``: the same GEMM ran just before (a benchmark's timed loop), so operands that
    fit in the usable L2 together are read from L2, not DRAM.  ``out_dtype``: the type C is
    written in (default :data:`OUT_DTYPE` of the operand type)."""
    sm = arch.sm
    spec = spec or KernelSpec.from_tiles(arch, tile)
    elt = DTYPE_BYTES[dtype]
    a = operand_a_traffic(m, k, dtype, pattern, fmt, arch)
    b_bytes = ceil(k * n * elt)
    c_bytes = m * n * DTYPE_BYTES[out_dtype or OUT_DTYPE[dtype]]
    compulsory = {"a_values": a["values"], "a_metadata": a["metadata"], "b": b_bytes, "c": c_bytes}
    compulsory["total"] = sum(compulsory.values())

    datapath, passes = choose_datapath(arch, dtype, pattern, tile, passes_override)
    tiles_m, tiles_n = ceil(m / tile.cta_m), ceil(n / tile.cta_n)
    splits = spec.split_k
    k_iters = ceil(ceil(k / splits) / tile.cta_k)

    # --- shared-memory footprint per CTA and occupancy ---
    a_stage, b_stage = stage_bytes(arch, dtype, pattern, tile)
    smem_per_cta = spec.stages * (a_stage + b_stage)
    accum_bytes = tile.cta_m * tile.cta_n * 4
    by_smem = int(sm.shared_memory_kib * 1024 // smem_per_cta)
    if spec.mainloop == "tcgen05":  # accumulators in tensor memory
        by_regs = TMEM_BYTES // accum_bytes
    else:  # assumption: accumulators may use at most half the register file (operands, addresses)
        by_regs = int(sm.register_file_kib * 1024 // (2 * accum_bytes))
    ctas_per_sm = min(sm.max_ctas_per_sm, by_smem, by_regs)
    if ctas_per_sm < 1:
        raise TileFitError(f"tile {tile.cta_m}x{tile.cta_n}x{tile.cta_k} with {spec.stages} stages does not fit "
                           f"one SM of {arch.name} with {dtype} operands")

    # --- per CTA per iteration ---
    a_total = a["total"]
    # every CTA of a tile row reads its A panel (its split-K slice of it); a cluster's CTAs
    # along N share each A tile and those along M each B tile (TMA multicast: one L2 read)
    fill_a = a_total / (tiles_m * splits * k_iters)
    fill_b = b_bytes / (tiles_n * splits * k_iters)
    smem_read = (tile.cta_n // tile.warp_n) * a_stage + (tile.cta_m // tile.warp_m) * b_stage
    demand, mma, select_latency = iteration_demand(arch, dtype, pattern, tile, datapath, passes,
                                                   spec.warp_tile_warps)
    demand.l2_bytes = fill_a / spec.cluster_n + fill_b / spec.cluster_m
    demand.smem_fill_bytes = fill_a + fill_b
    demand.smem_read_bytes = smem_read
    if spec.mainloop in TENSOR_CORE_OPERAND_PATH:
        demand.smem_port_read_bytes = 0.0

    clk_ghz = arch.clock.sustained_mhz / 1e3
    latency = {
        "dram": arch.dram.latency_ns * clk_ghz,
        "l2": float(arch.l2.latency_cycles),
        "smem": float(sm.shared_memory_latency_cycles),
        "decode": select_latency[0],
        "mux": select_latency[1],
        "mma": mma.latency,
    }
    plan = GemmPlan(arch, m, n, k, dtype, pattern, fmt, tile, datapath, passes, ctas_per_sm,
                    tiles_m, tiles_n, k_iters, demand, compulsory, {}, latency=latency, mma=mma, spec=spec,
                    warm_l2=warm_l2)
    kernel_c = c_bytes
    if splits > 1:  # each slice writes fp32 partial sums; a reduction reads them and writes C
        kernel_c = splits * m * n * 4
        plan.reduction_bytes = kernel_c + c_bytes
    plan.waves, plan.dram = schedule_waves(plan, a_total, b_bytes, kernel_c, a)
    if splits > 1:  # the reduction writes the C tile
        plan.dram["c"] += int(c_bytes)
        plan.dram["total"] += int(c_bytes)
    if datapath == "sparse-passes" and passes_override is None and passes > 0:
        k_slice = elements_in(MMA_K_BYTES, dtype)
        mean, var = slice_passes_moments(pattern, *arch.sparse_pattern(dtype), MMA_ROWS, k_slice)
        steps = (tile.cta_m // MMA_ROWS) * ceil(k / k_slice)
        plan.tile_cv = (var / steps) ** 0.5 / mean if mean > 0 else 0.0
    return plan


def iteration_demand(arch, dtype, pattern, tile, datapath, passes, warp_tile_warps=None):
    """MAC, decode and mux work of one main-loop iteration of one CTA (bytes are set by the
    caller), the MMA issue limits and the (decode, mux) latencies of the datapath."""
    tc, sm, eff = arch.tensor_core, arch.sm, arch.efficiency
    macs = tile.cta_m * tile.cta_n * tile.cta_k
    rate = tc.dense_macs_per_cycle[dtype]  # per tensor core
    tcs = sm.tensor_cores_per_sm
    hw_density = tc.sparse_n / tc.sparse_m
    decode_c = mux_c = reencode_c = 0.0
    decodes = selects = lane_selects = reencoded = 0.0
    sel_lat = (0.0, 0.0)
    # one m16n8 MMA instruction (PTX: k = 32 bytes dense; sparse: 64 bytes of logical K at
    # twice the rate) occupies a tensor core the same time
    dense_mma_macs = MMA_ROWS * MMA_N * elements_in(32, dtype)
    if datapath in ("dense", "dense-fallback"):
        issue = dense_mma_macs / (rate * eff.tensor_dense)
        mac_c = macs / (rate * tcs * eff.tensor_dense)
        multiplies = macs
        latency = float(tc.mma_latency_cycles)
        if datapath == "dense-fallback":  # decompress into smem before dense MMAs
            reencoded = tile.cta_m * tile.cta_k * pattern.density
    else:
        sdp = sparse_datapath(arch)
        issue = dense_mma_macs / (rate * eff.tensor_sparse)
        mac_c = passes * macs / (rate * tcs * tc.sparse_speedup * eff.tensor_sparse)
        multiplies = passes * macs * hw_density
        kept = passes * tile.cta_m * tile.cta_k * hw_density
        # one index per selected unit: two per tf32 value (16-bit halves), one per fp4 pair
        decodes = kept * (tile.cta_n / MMA_N) * DTYPE_BITS[dtype] / SELECT_BITS[dtype]
        selects = kept * tile.cta_n
        lane_selects = selects * DTYPE_BITS[dtype] / sdp.mux_operand_bits
        decode_c = decode_cycles(decodes, sdp.decoder_width * tcs)
        mux_c = mux_cycles(lane_selects, sdp.mux_selects_per_cycle * tcs)
        sel_lat = (float(sdp.decode_latency_cycles), float(sdp.mux_latency_cycles))
        latency = tc.mma_latency_cycles + sum(sel_lat)
        if datapath == "sparse-passes":
            reencoded = tile.cta_m * tile.cta_k * pattern.density
    if reencoded:
        reencode_c = decode_cycles(0.0, 1.0, reencoded, tc.unstructured_decode_per_cycle)
    demand = IterDemand(0.0, 0.0, 0.0, mac_c, decode_c, mux_c, reencode_c, macs, multiplies,
                        decodes, selects, lane_selects, reencoded)
    mma = MmaIssue(issue, latency, float(sm.shared_memory_latency_cycles),
                   (tile.cta_m * tile.cta_n) // (MMA_ROWS * MMA_N),
                   tile.warps * (warp_tile_warps or arch.tiles.warp_tile_warps))
    return demand, mma, sel_lat


LOAD_BYTES_PER_WARP_INSTRUCTION = 512  # ldmatrix.x4 / cp.async: 16 bytes per thread of a warp


def warp_instructions(plan) -> float:
    """Warp-level instructions one CTA issues per main-loop iteration: its MMAs (PTX mma.sync
    m16n8k(32 B), or wgmma m64nNk(32 B) from a warpgroup, N the warp tile's width; a sparse MMA
    covers twice the logical K with the same multiplies) and the loads that feed them (ldmatrix
    and cp.async, 16 B per thread; TMA moves a whole stage of A and of B with one instruction
    each, and wgmma reads its operands from shared memory itself)."""
    d, tile, arch = plan.demand, plan.tile, plan.arch
    k_elems = elements_in(32, plan.dtype)
    warps = plan.spec.warp_tile_warps if plan.spec is not None else arch.tiles.warp_tile_warps
    if warps >= 4:  # wgmma from a warpgroup, or tcgen05 for the whole CTA tile
        mmas = d.multiplies / (64 * tile.warp_n * k_elems)
        return mmas + 2.0
    mmas = d.multiplies / (MMA_ROWS * MMA_N * k_elems)
    return mmas + (d.smem_read_bytes + d.smem_fill_bytes) / LOAD_BYTES_PER_WARP_INSTRUCTION


def sm_unit_cycles(plan, ctas, resident=None):
    """Busy cycles per iteration of one SM's MAC array, decoders and multiplexers for the work
    of ``ctas`` CTAs while ``resident`` CTAs (default ``ctas``) share the SM: only tensor cores
    whose sub-partition holds a warp work, and each issues as Little's law allows
    (:func:`sparsesim.timing.mac.issue_limited_cycles`)."""
    resident = ctas if resident is None else resident
    d, mma = plan.demand, plan.mma
    tcs = plan.arch.sm.tensor_cores_per_sm
    active = max(1.0, min(tcs, resident * mma.warps_per_cta))
    idle = tcs / active  # the work of the idle tensor cores lands on the active ones
    independent = resident * mma.fragments_per_cta / active
    mac = issue_limited_cycles(ctas * d.mac_cycles * idle, mma.issue_cycles, independent,
                               mma.latency, mma.operand_latency)
    decode = ctas * (d.decode_cycles * idle + d.reencode_cycles)
    return mac, decode, ctas * d.mux_cycles * idle


def wave_groups(ctas: int, sms: int, per_sm: int) -> tuple:
    """SM groups of a wave of ``ctas`` CTAs: breadth-first over SMs (one CTA per SM first)."""
    if ctas >= sms * per_sm:
        return ((sms, per_sm),)
    base, extra = divmod(ctas, sms)
    groups = []
    if extra:
        groups.append((extra, base + 1))
    if base:
        groups.append((sms - extra, base))
    return tuple(groups)


def _wave_panels(start, end, Tm, Tn, S):
    """Distinct A row panels and B column panels of each wave, for the swizzled raster.

    Tiles are launched in groups of ``S`` tile rows; inside a group the order runs down
    the rows first, then across the columns (CUTLASS-style threadblock swizzle), so a
    wave covers a compact block of tiles.  Returns arrays: rows, cols, rows in the
    wave's first and last group, column hull (lo, hi) and the wave's first/last group.
    """
    SG = S * Tn
    g0, g1 = start // SG, (end - 1) // SG
    h0 = np.minimum(S, Tm - g0 * S)
    h1 = np.minimum(S, Tm - g1 * S)
    o0 = start - g0 * SG
    o1 = (end - 1) - g1 * SG
    same = g0 == g1
    c0 = o0 // h0
    c1 = o1 // h1
    rows_same = np.minimum(h0, o1 - o0 + 1)
    cols_same = c1 - c0 + 1
    rows_a = np.minimum(h0, h0 * Tn - o0)
    rows_b = np.minimum(h1, o1 + 1)
    mid = np.maximum(g1 - g0 - 1, 0)
    rows_multi = rows_a + mid * S + rows_b
    cols_multi = np.where(g1 - g0 >= 2, Tn, np.minimum(Tn, (Tn - c0) + (c1 + 1)))
    rows = np.where(same, rows_same, rows_multi)
    cols = np.where(same, cols_same, cols_multi)
    first_rows = np.where(same, rows_same, rows_a)
    last_rows = np.where(same, rows_same, rows_b)
    lo = np.where(same, c0, 0)
    hi = np.where(same, c1, Tn - 1)
    return rows, cols, first_rows, last_rows, lo, hi, g0, g1


def schedule_waves(plan, a_total, b_bytes, c_bytes, a_parts):
    """Waves and their DRAM read bytes (panel-level L2 reuse model); total DRAM bytes by operand.

    Panels of one wave are fetched from DRAM once (its CTAs stream K together).  An
    operand that fits in the usable L2 beside the other operand's per-wave working set
    stays resident: each panel is read once, at first touch.  Otherwise a panel the
    previous wave also used hits only if that wave's whole footprint fit in L2.

    The schedule's cost does not grow with the GEMM: waves whose swizzle groups all
    have the same height repeat with a period set by the raster (see
    :class:`WaveSchedule`), so only one period of them is evaluated.
    """
    arch = plan.arch
    per_wave = arch.sm.count * plan.ctas_per_sm
    # split-K slices are further rows of tiles (each reads its own slice of the A row panel)
    T, Tm, Tn = plan.ctas, plan.tiles_m * plan.splits, plan.tiles_n
    S = min(plan.spec.raster_group_rows if plan.spec else arch.tiles.raster_group_rows, Tm)
    l2_eff = arch.l2.size_mib * 2**20 * arch.l2.usable_fraction
    # a repeated call whose operands and C all fit in L2 finds them still resident: no DRAM reads
    warm = bool(plan.warm_l2 and a_total + b_bytes + c_bytes <= l2_eff)
    sched = WaveSchedule(per_wave, T, Tm, Tn, S, a_total, b_bytes, l2_eff, c_bytes / T,
                         arch.sm.count, plan.ctas_per_sm, warm=warm)
    a_reads, b_reads = sched.total_reads()
    floor = 0.0 if warm else 1.0
    a_read_total = max(a_reads, floor * float(a_total))
    a_factor = a_read_total / a_total if a_total else 0.0
    b_total_read = max(b_reads, floor * float(b_bytes))
    dram = {
        "a_values": int(round(a_parts["values"] * a_factor)),
        "a_metadata": int(round(a_parts["metadata"] * a_factor)),
        "b": int(round(b_total_read)),
        "c": int(c_bytes),
    }
    dram["total"] = dram["a_values"] + dram["a_metadata"] + dram["b"] + dram["c"]
    return sched, dram


class WaveSchedule:
    """The waves of a GEMM: ``len``, ``[i]`` (a :class:`WaveSpec`) and :meth:`summary`.

    Per-wave quantities (panels read, L2 reuse with the previous wave) depend on where
    the wave starts inside its swizzle group.  For waves whose groups all have the full
    height ``S`` (every group but the last) that is ``start mod S*Tn``, which repeats
    every ``S*Tn / gcd(per_wave, S*Tn)`` waves; inside the last group (height ``h``) it
    repeats every ``h / gcd(per_wave, h)`` waves.  Sums and maxima over a run of such
    waves are taken over one period; up to ``DIRECT_WAVES`` waves are simply evaluated
    all at once, in the same order as always.  The work therefore grows with the tile
    columns (``S*Tn``), not with m; a schedule that would need more than
    ``MAX_EVALUATED`` waves evaluated is refused before any is.
    """

    DIRECT_WAVES = 1 << 16
    CHUNK = 1 << 16
    MAX_EVALUATED = 1 << 21

    def __init__(self, per_wave, T, Tm, Tn, S, a_total, b_bytes, l2_eff, c_per_tile, sms, per_sm, warm=False):
        self.per_wave, self.T, self.Tm, self.Tn, self.S = per_wave, T, Tm, Tn, S
        self.warm = warm  # operands still in L2 from the previous call: no wave reads DRAM
        self.a_panel, self.b_panel = a_total / Tm, b_bytes / Tn
        self.l2_eff, self.c_per_tile = l2_eff, c_per_tile
        self.sms, self.per_sm = sms, per_sm
        self.n = -(-T // per_wave)
        self._reach_cache = {-1: -1}
        if self.n <= self.DIRECT_WAVES:
            self._all = self._eval(0, self.n)
            rows, cols, hi = self._all[:3]
            maxima = (int(rows.max()), int(cols.max()), int(hi.max()))
        else:
            self._check_cost()
            maxima, sums = self._one_pass()
        self.hi_max = maxima[2]
        self.a_resident = a_total + float(maxima[1] * self.b_panel) <= l2_eff
        self.b_resident = b_bytes + float(maxima[0] * self.a_panel) <= l2_eff
        if self.n <= self.DIRECT_WAVES:
            self._reads = self._wave_reads(self._all, -1)
            self._totals = (float(self._reads[0].sum()), float(self._reads[1].sum()))
        else:
            a_res, a_shared, b_shared = sums
            b_sum = (self.hi_max + 1) * self.b_panel if self.b_resident else b_shared  # every column once
            self._totals = (a_res if self.a_resident else a_shared, b_sum)

    # ---------------------------------------------------------------- evaluation
    def _eval(self, a, b):
        """Per-wave arrays of waves a..b-1: rows, cols, hi (highest tile column), A row and
        B column panels shared with the previous wave, whether the previous wave fit in L2,
        C bytes."""
        k = 1 if a > 0 else 0
        w = np.arange(a - k, b, dtype=np.int64)
        start = w * self.per_wave
        end = np.minimum(start + self.per_wave, self.T)
        rows, cols, first_rows, last_rows, lo, hi, g0, g1 = _wave_panels(start, end, self.Tm, self.Tn, self.S)
        footprint = rows * self.a_panel + cols * self.b_panel
        L = len(w)
        prev_fit = np.zeros(L, dtype=bool)
        prev_fit[1:] = footprint[:-1] <= self.l2_eff
        # A row panels shared with the previous wave (same swizzle group at the boundary)
        shared_rows = np.zeros(L, dtype=np.int64)
        touch = g0[1:] == g1[:-1]
        shared_rows[1:] = np.where(touch, np.minimum(first_rows[1:], last_rows[:-1]), 0)
        # B column panels shared with the previous wave (overlap of column hulls)
        shared_cols = np.zeros(L, dtype=np.int64)
        ov = np.minimum(hi[1:], hi[:-1]) - np.maximum(lo[1:], lo[:-1]) + 1
        shared_cols[1:] = np.clip(np.minimum(ov, np.minimum(cols[1:], cols[:-1])), 0, None)
        c_wave = (end - start).astype(float) * self.c_per_tile
        return tuple(x[k:] for x in (rows, cols, hi, shared_rows, shared_cols, prev_fit, c_wave))

    def _wave_reads(self, parts, reach_before):
        """DRAM bytes of A and of B each wave reads; ``reach_before`` is the highest tile
        column of the waves before (-1 for none)."""
        rows, cols, hi, shared_rows, shared_cols, prev_fit, _ = parts
        if self.a_resident:
            a_rows_read = rows - shared_rows  # first touches only
        else:
            a_rows_read = rows - shared_rows * prev_fit
        if self.b_resident:
            reach = np.maximum.accumulate(np.concatenate(([reach_before], hi)))
            b_cols_read = reach[1:] - reach[:-1]  # first touches: the column frontier advances
        else:
            b_cols_read = cols - shared_cols * prev_fit
        a_reads = np.maximum(a_rows_read, 0).astype(float) * self.a_panel
        b_reads = np.maximum(b_cols_read, 0).astype(float) * self.b_panel
        return a_reads, b_reads

    def _segments(self, a, b):
        """Split waves a..b-1 into runs ``(lo, hi, period)``; period None: evaluate every wave."""
        n, p, SG, S = self.n, self.per_wave, self.S * self.Tn, self.S
        g_last = (self.Tm - 1) // S
        h_last = self.Tm - g_last * S
        # waves 1 .. a_end-1 touch only full-height groups (and so does the wave before them)
        a_end = max(1, -(-(g_last * SG - p + 1) // p))
        # waves b_start .. n-2 lie in the last group, and so does the wave before them
        b_start = -(-(g_last * SG) // p) + 1
        # disjoint runs: wave 0 | full-height groups | the step into the last group | inside it | last wave
        e1 = min(1, n)
        e_a = max(e1, min(a_end, n - 1))
        e_t = max(e_a, min(b_start, n - 1))
        e_b = max(e_t, n - 1)
        runs = [(0, e1, None), (e1, e_a, SG // math.gcd(p, SG)), (e_a, e_t, None),
                (e_t, e_b, h_last // math.gcd(p, h_last)), (e_b, n, None)]
        out = []
        for lo, hi, period in runs:
            lo, hi = max(lo, a), min(hi, b)
            if lo < hi:
                out.append((lo, hi, period))
        return out

    def _parts(self, lo, hi, period):
        """``(a, b, times)`` pieces of a run: every wave, or one period counted ``times``."""
        count = hi - lo
        if period is None or count <= 2 * period or count <= self.CHUNK:
            return [(x, min(x + self.CHUNK, hi), 1) for x in range(lo, hi, self.CHUNK)]
        q = count // period
        return ([(x, min(x + self.CHUNK, lo + period), q) for x in range(lo, lo + period, self.CHUNK)]
                + [(x, min(x + self.CHUNK, hi), 1) for x in range(lo + q * period, hi, self.CHUNK)])

    def _check_cost(self):
        cost = sum(b - a for run in self._segments(0, self.n) for a, b, _ in self._parts(*run))
        if cost > self.MAX_EVALUATED:
            from ..errors import LimitError

            raise LimitError(f"the wave schedule of this GEMM ({self.n} waves of {self.per_wave} CTAs over "
                             f"{self.Tn} tile columns) needs {cost} waves evaluated, above {self.MAX_EVALUATED}; "
                             "split the GEMM along n (docs/limits.md)")

    def _one_pass(self):
        """Maxima (rows, cols, hi) and the A/B read sums under either residency, in one pass;
        records the column reach before the last wave."""
        mx = [0, 0, -1]
        a_res = a_shared = b_shared = 0.0
        for lo, hi_w, period in self._segments(0, self.n):
            for a, b, times in self._parts(lo, hi_w, period):
                rows, cols, hi, sr, sc, fit, _ = self._eval(a, b)
                mx = [max(mx[0], int(rows.max())), max(mx[1], int(cols.max())), max(mx[2], int(hi.max()))]
                a_res += times * float((np.maximum(rows - sr, 0) * self.a_panel).sum())
                a_shared += times * float((np.maximum(rows - sr * fit, 0) * self.a_panel).sum())
                b_shared += times * float((np.maximum(cols - sc * fit, 0) * self.b_panel).sum())
                if a == 0:
                    self._reach_cache[0] = int(hi[0])
            if hi_w <= self.n - 1:
                self._reach_cache[self.n - 2] = mx[2]  # every run before the last wave
        return tuple(mx), (a_res, a_shared, b_shared)

    def _reach(self, i):
        """Highest tile column touched by waves 0..i (-1 for i < 0)."""
        if i not in self._reach_cache:
            hi_max = -1
            for run in self._segments(0, i + 1):
                for a, b, _ in self._parts(*run):
                    hi_max = max(hi_max, int(self._eval(a, b)[2].max()))
            self._reach_cache[i] = hi_max
        return self._reach_cache[i]

    def total_reads(self):
        """DRAM bytes of A and of B read by all waves."""
        return (0.0, 0.0) if self.warm else self._totals

    def c_bytes(self, i):
        """Bytes of C written by wave i."""
        return float(self._wave(i)[1])

    def _wave(self, i):
        """(DRAM read bytes, C bytes) of wave i."""
        if self.n <= self.DIRECT_WAVES:
            return self._reads[0][i] + self._reads[1][i], self._all[6][i]
        parts = self._eval(i, i + 1)
        ar, br = self._wave_reads(parts, self._reach(i - 1))
        return float(ar[0] + br[0]), float(parts[6][0])

    # ---------------------------------------------------------------- the waves
    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        start = i * self.per_wave
        ctas = int(min(start + self.per_wave, self.T) - start)
        reads, c = self._wave(i)
        reads = 0.0 if self.warm else reads
        # the C of the previous wave's CTAs that this wave's CTAs follow on their SM slots
        # (the others stay in L2 past the kernel's end); every wave but the last is full
        carried = float(self._wave(i - 1)[1]) * min(1.0, ctas / self.per_wave) if i > 0 else 0.0
        return WaveSpec(ctas, wave_groups(ctas, self.sms, self.per_sm), float(reads), float(c),
                        carried, i == self.n - 1)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def summary(self):
        """(first wave, middle full waves averaged with their count, last wave) - the
        wave classes the fast-forwarded simulation runs."""
        n = len(self)
        if n == 1:
            return [(self[0], 1)]
        first, last = self[0], self[n - 1]
        mid = n - 2
        if mid <= 0:
            return [(first, 1), (last, 1)]
        if n <= self.DIRECT_WAVES:
            ar, br = self._reads
            c_all = self._all[6]
            reads = float((ar[1:n - 1] + br[1:n - 1]).mean())
            c_mid = float(c_all[1:n - 1].mean())
            carried = float(c_all[0:n - 2].mean())  # the C of waves 0 .. n-3, each followed by a full wave
        else:
            a_sum, b_sum = self._totals
            reads = (a_sum + b_sum - first.dram_read_bytes - last.dram_read_bytes) / mid
            c_total = self.c_per_tile * self.T
            c_mid = (c_total - first.c_bytes - last.c_bytes) / mid
            carried = (c_total - float(self._wave(n - 2)[1]) - last.c_bytes) / mid
        m0 = self[1]
        return [(first, 1), (WaveSpec(m0.ctas, m0.groups, reads, c_mid, carried, False), mid), (last, 1)]
