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

    @property
    def ctas(self) -> int:
        return self.tiles_m * self.tiles_n


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
            t = dict(t)
            t["metadata"] = int(ceil(t["nnz"] * metadata_bits_per_value(arch, dtype) / 8))
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


def build_plan(arch, m, n, k, dtype, pattern, fmt, tile, passes_override=None) -> GemmPlan:
    sm = arch.sm
    elt = DTYPE_BYTES[dtype]
    a = operand_a_traffic(m, k, dtype, pattern, fmt, arch)
    b_bytes = ceil(k * n * elt)
    c_bytes = m * n * out_bytes(dtype)
    compulsory = {"a_values": a["values"], "a_metadata": a["metadata"], "b": b_bytes, "c": c_bytes}
    compulsory["total"] = sum(compulsory.values())

    datapath, passes = choose_datapath(arch, dtype, pattern, tile, passes_override)
    tiles_m, tiles_n = ceil(m / tile.cta_m), ceil(n / tile.cta_n)
    k_iters = ceil(k / tile.cta_k)

    # --- shared-memory footprint per CTA and occupancy ---
    if pattern.is_dense:
        a_stage = tile.cta_m * tile.cta_k * elt
    elif pattern.is_nm:
        a_stage = (tile.cta_m * tile.cta_k * pattern.density * elt
                   + tile.cta_m * tile.cta_k * pattern.density * metadata_bits_per_value(arch, dtype) / 8)
    else:  # re-encoded on chip into hardware N:M passes; budget a dense-size stage
        a_stage = tile.cta_m * tile.cta_k * elt
    b_stage = tile.cta_k * tile.cta_n * elt
    smem_per_cta = arch.tiles.stages * (a_stage + b_stage)
    accum_bytes = tile.cta_m * tile.cta_n * 4
    by_smem = int(sm.shared_memory_kib * 1024 // smem_per_cta)
    # assumption: accumulators may use at most half the register file (operands, addresses)
    by_regs = int(sm.register_file_kib * 1024 // (2 * accum_bytes))
    ctas_per_sm = min(sm.max_ctas_per_sm, by_smem, by_regs)
    if ctas_per_sm < 1:
        raise TileFitError(f"tile {tile.cta_m}x{tile.cta_n}x{tile.cta_k} does not fit one SM of {arch.name} "
                           f"with {dtype} operands")

    # --- per CTA per iteration ---
    a_total = a["total"]
    l2_a = a_total / (tiles_m * k_iters)  # every CTA of a tile row reads its A panel
    l2_b = b_bytes / (tiles_n * k_iters)
    l2_bytes = l2_a + l2_b
    smem_read = (tile.cta_n // tile.warp_n) * a_stage + (tile.cta_m // tile.warp_m) * b_stage
    demand, mma, select_latency = iteration_demand(arch, dtype, pattern, tile, datapath, passes)
    demand.l2_bytes = demand.smem_fill_bytes = l2_bytes
    demand.smem_read_bytes = smem_read

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
                    tiles_m, tiles_n, k_iters, demand, compulsory, {}, latency=latency, mma=mma)
    plan.waves, plan.dram = schedule_waves(plan, a_total, b_bytes, c_bytes, a)
    if datapath == "sparse-passes" and passes_override is None and passes > 0:
        k_slice = elements_in(MMA_K_BYTES, dtype)
        mean, var = slice_passes_moments(pattern, *arch.sparse_pattern(dtype), MMA_ROWS, k_slice)
        steps = (tile.cta_m // MMA_ROWS) * ceil(k / k_slice)
        plan.tile_cv = (var / steps) ** 0.5 / mean if mean > 0 else 0.0
    return plan


def iteration_demand(arch, dtype, pattern, tile, datapath, passes):
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
                   (tile.cta_m * tile.cta_n) // (MMA_ROWS * MMA_N), tile.warps * arch.tiles.warp_tile_warps)
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
    if arch.tiles.warp_tile_warps >= 4:
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
    """
    arch = plan.arch
    sms = arch.sm.count
    per_wave = sms * plan.ctas_per_sm
    T, Tm, Tn = plan.ctas, plan.tiles_m, plan.tiles_n
    S = min(arch.tiles.raster_group_rows, Tm)
    n_waves = -(-T // per_wave)
    a_panel = a_total / Tm
    b_panel = b_bytes / Tn
    l2_eff = arch.l2.size_mib * 2**20 * arch.l2.usable_fraction

    w = np.arange(n_waves, dtype=np.int64)
    start = w * per_wave
    end = np.minimum(start + per_wave, T)
    rows, cols, first_rows, last_rows, lo, hi, g0, g1 = _wave_panels(start, end, Tm, Tn, S)
    footprint = rows * a_panel + cols * b_panel
    prev_fit = np.zeros(n_waves, dtype=bool)
    prev_fit[1:] = footprint[:-1] <= l2_eff

    # A row panels shared with the previous wave (same swizzle group at the boundary)
    shared_rows = np.zeros(n_waves, dtype=np.int64)
    touch = g0[1:] == g1[:-1]
    shared_rows[1:] = np.where(touch, np.minimum(first_rows[1:], last_rows[:-1]), 0)
    # B column panels shared with the previous wave (overlap of column hulls)
    shared_cols = np.zeros(n_waves, dtype=np.int64)
    ov = np.minimum(hi[1:], hi[:-1]) - np.maximum(lo[1:], lo[:-1]) + 1
    shared_cols[1:] = np.clip(np.minimum(ov, np.minimum(cols[1:], cols[:-1])), 0, None)

    a_resident = a_total + float((cols * b_panel).max()) <= l2_eff
    b_resident = b_bytes + float((rows * a_panel).max()) <= l2_eff
    if a_resident:
        a_rows_read = rows - shared_rows  # first touches only
    else:
        a_rows_read = rows - shared_rows * prev_fit
    if b_resident:
        reach = np.maximum.accumulate(hi)
        prev_reach = np.concatenate(([-1], reach[:-1]))
        b_cols_read = reach - prev_reach  # first touches: the column frontier advances
    else:
        b_cols_read = cols - shared_cols * prev_fit
    a_reads = np.maximum(a_rows_read, 0).astype(float) * a_panel
    b_reads = np.maximum(b_cols_read, 0).astype(float) * b_panel
    tiles_in_wave = (end - start).astype(float)
    c_wave = tiles_in_wave * (c_bytes / T)

    a_read_total = max(float(a_reads.sum()), float(a_total))
    a_factor = a_read_total / a_total if a_total else 0.0
    b_total_read = max(float(b_reads.sum()), float(b_bytes))
    dram = {
        "a_values": int(round(a_parts["values"] * a_factor)),
        "a_metadata": int(round(a_parts["metadata"] * a_factor)),
        "b": int(round(b_total_read)),
        "c": int(c_bytes),
    }
    dram["total"] = dram["a_values"] + dram["a_metadata"] + dram["b"] + dram["c"]
    waves = _LazyWaves(start, end, a_reads + b_reads, c_wave, sms, plan.ctas_per_sm)
    return waves, dram


class _LazyWaves:
    def __init__(self, start, end, reads, c_wave, sms, per_sm):
        self.start, self.end, self.reads, self.c_wave = start, end, reads, c_wave
        self.sms, self.per_sm = sms, per_sm

    def __len__(self):
        return len(self.start)

    def __getitem__(self, i):
        n = int(self.end[i] - self.start[i])
        # the C of the previous wave's CTAs that this wave's CTAs follow on their SM slots
        # (the others stay in L2 past the kernel's end)
        carried = 0.0
        if i > 0:
            prev = int(self.end[i - 1] - self.start[i - 1])
            carried = float(self.c_wave[i - 1]) * min(1.0, n / prev)
        return WaveSpec(n, wave_groups(n, self.sms, self.per_sm), float(self.reads[i]), float(self.c_wave[i]),
                        carried, i == len(self) - 1)

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
        reads = float(self.reads[1:n - 1].mean())
        cw = float(self.c_wave[1:n - 1].mean())
        carried = float(self.c_wave[0:n - 2].mean())
        m0 = self[1]
        return [(first, 1), (WaveSpec(m0.ctas, m0.groups, reads, cw, carried, False), mid), (last, 1)]
