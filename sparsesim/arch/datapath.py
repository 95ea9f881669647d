"""The sparse additions of one tensor core, derived from the config and the N:M pattern.

A dense tensor core feeds every multiplier lane with one A and one B operand.  The
sparse one keeps N of every M values of A along K and must bring each kept value the B
element of its original position; it adds, in front of the multipliers,

* an **index decoder**: the ``metadata_bits``-bit index of every kept value is read
  from the metadata register (``mma.sp``'s metadata operand, one 32-bit register per
  thread) and expanded into one-hot select lines.  A b-bit index needs an AND of b
  literals per output: ``ceil(log2 b)`` levels of 2-input gates (one level for b <= 2).
  Its width - indices per cycle - is the metadata port's bits per cycle divided by the
  bits per index, so wider indices (3 bits for 4:8) decode fewer indices per cycle
  through the same port;
* one **operand multiplexer** per multiplier input lane.  With *ordered* per-value
  indices (the k-th kept value of a group sits at position k .. k + M - N, as the
  ``mma.sp::ordered_metadata`` form of the PTX ISA requires) a lane chooses among
  ``M - N + 1`` positions: 3:1 for 2:4, 5:1 for 4:8 (Hubara et al., NeurIPS 2021).  A
  full *crossbar* lets any kept value take any of the M positions: M:1.  A tree of 2:1
  muxes has ``ceil(log2 fan_in)`` levels.

Delays are levels times the per-level delay of the node; a select stage holds
``select_stage_slack_ps`` of logic (the time the operand-delivery stage of the dense
datapath leaves over at the sustained clock, never more than one clock period), so
a unit's pipeline latency is ``ceil(delay / slack)`` cycles: a fan-in past what one
stage holds costs one more cycle on every sparse MMA.  Multiplier lanes route
``mux_operand_bits`` (the widest dtype the core takes; narrower dtypes pack several
values into one lane, which share the select because they are B elements of adjacent
columns at the same K position).

``sparse_datapath(arch)`` is the one derivation; the timing engine and cost models call
it rather than reading these quantities from configs.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil, log2

from ..errors import ConfigError
from .schema import DTYPE_BITS, SELECT_BITS

INDEX_SCHEMES = ("ordered", "crossbar")

# PTX ISA, warp-level mma.sp (m16n8k32 f16/bf16, m16n8k64 s8/u8/e4m3): one instruction
# covers 16 rows of A, 8 columns of B and 64 bytes of logical K.
MMA_ROWS = 16
MMA_N = 8
MMA_K_BYTES = 64


@dataclass(frozen=True)
class SparseDatapath:
    """Structure of one tensor core's sparse additions, derived from the config + pattern."""

    n: int  # N of the N:M pattern
    m: int  # M
    index_scheme: str  # "ordered" (value i may sit at positions i .. i+M-N) | "crossbar" (any of M)
    mux_fan_in: int  # inputs per operand-B multiplexer: M-N+1 (ordered), M (crossbar)
    mux_levels: int  # ceil(log2(mux_fan_in)) levels of 2:1 muxes
    mux_instances: int  # multiplexers per tensor core (one per multiplier input lane unless the config provisions fewer)
    mux_operand_bits: int  # width of the routed operand (bits of the widest dtype the core takes)
    mux_latency_cycles: int  # pipeline cycles the mux tree costs at the sustained clock
    mux_selects_per_cycle: int  # routed operands per cycle per tensor core (= mux_instances)
    metadata_bits: int  # index bits per kept value
    decoder_width: int  # metadata indices decoded per cycle per tensor core
    decode_latency_cycles: int  # pipeline cycles of index decode
    metadata_register_bytes: int  # metadata staged in registers per SM to keep its tensor cores busy
    metadata_smem_bytes_per_stage: int  # metadata bytes of one shared-memory stage of the largest CTA tile
    # added beside the shared interface
    positions: int = 0  # positions a kept value may take (= mux_fan_in)
    mux_delay_ps: float = 0.0  # combinational delay of the mux tree
    decode_levels: int = 0  # 2-input gate levels of the index decoder
    decode_delay_ps: float = 0.0  # combinational delay of the decoder
    lanes: int = 0  # multiplier input lanes that need a select every cycle (per tensor core)
    select_latency_cycles: int = 0  # decode + mux: cycles a sparse MMA spends in front of the multipliers

    def selects_needed_per_cycle(self, arch, dtype: str) -> float:
        """Routed lanes per cycle a tensor core needs at its full sparse rate for ``dtype``."""
        return _lane_selects(arch, dtype, self.n, self.m, self.mux_operand_bits)

    def decodes_needed_per_cycle(self, arch, dtype: str) -> float:
        """Indices per cycle a tensor core needs at its full sparse rate (one per kept value per
        ``MMA_N`` columns, as each ``mma.sp`` issue decodes its fragment's indices)."""
        return _indices(arch, dtype, self.n, self.m) / MMA_N


def _indices(arch, dtype, n, m) -> float:
    """Metadata indices per cycle at the full sparse rate: one per selected unit of a kept value
    (two per tf32 value, one per fp4 pair)."""
    return _multiplies(arch, dtype, n, m) * DTYPE_BITS[dtype] / SELECT_BITS[dtype]


def _multiplies(arch, dtype, n, m) -> float:
    tc = arch.tensor_core
    return tc.dense_macs_per_cycle[dtype] * tc.sparse_speedup * n / m


def _lane_selects(arch, dtype, n, m, operand_bits) -> float:
    return _multiplies(arch, dtype, n, m) * DTYPE_BITS[dtype] / operand_bits


def index_positions(scheme: str, n: int, m: int) -> int:
    """Positions one kept value may take: M-N+1 with ordered indices, M with a crossbar."""
    if scheme == "ordered":
        return m - n + 1
    if scheme == "crossbar":
        return m
    raise ConfigError(f"key 'tensor_core.index_scheme': expected one of {', '.join(INDEX_SCHEMES)}, got {scheme!r}")


def tree_levels(inputs: int) -> int:
    """Levels of 2-input cells in a balanced tree over ``inputs`` (0 for one input)."""
    return 0 if inputs <= 1 else ceil(log2(inputs))


def _where(arch) -> str:
    return getattr(arch, "source", "") or getattr(arch, "name", "arch")


def sparse_datapath(arch, n=None, m=None) -> SparseDatapath:
    """Derived from ``arch.tensor_core`` (defaults to the hardware's own sparse_n:sparse_m).

    Raises ConfigError when the design cannot work: too few metadata bits for the
    positions a value may take, a metadata port narrower than one index.
    """
    tc, sm = arch.tensor_core, arch.sm
    hw = (tc.sparse_n, tc.sparse_m)
    n = tc.sparse_n if n is None else int(n)
    m = tc.sparse_m if m is None else int(m)
    where = _where(arch)
    if not (0 < n < m):
        raise ConfigError(f"{where}: a sparse datapath needs 0 < N < M, got {n}:{m}")
    scheme = tc.index_scheme
    positions = index_positions(scheme, n, m)
    need_bits = max(1, ceil(log2(positions)))
    if (n, m) == hw:
        bits = tc.metadata_bits
        if bits < need_bits:
            raise ConfigError(
                f"{where}: key 'tensor_core.metadata_bits': {bits} bits cannot name the {positions} positions "
                f"a kept value may take in {n}:{m} with {scheme} indices (needs {need_bits})")
    else:
        bits = max(need_bits, ceil(log2(m)))  # the hardware's format: position within the group

    fan_in = positions
    levels = tree_levels(fan_in)
    # a lane routes one select unit: tf32 runs as two 16-bit halves, so the widest lane is 16 bits
    operand_bits = max(min(DTYPE_BITS[d], 16) for d in tc.dense_macs_per_cycle)
    lanes = ceil(max(_lane_selects(arch, d, n, m, operand_bits) for d in tc.dense_macs_per_cycle))
    instances = tc.mux_instances

    period_ps = 1e6 / arch.clock.sustained_mhz
    stage_ps = min(tc.select_stage_slack_ps, period_ps)
    mux_delay = levels * tc.mux_delay_ps_per_level
    mux_latency = ceil(mux_delay / stage_ps - 1e-9)
    decode_levels = max(1, tree_levels(bits))
    decode_delay = decode_levels * tc.decode_delay_ps_per_level
    decode_latency = ceil(decode_delay / stage_ps - 1e-9)

    width = tc.decoder_bits_per_cycle // bits
    if width < 1:
        raise ConfigError(
            f"{where}: key 'tensor_core.decoder_bits_per_cycle': {tc.decoder_bits_per_cycle} bits per cycle "
            f"cannot carry one {bits}-bit index")

    # Little's law: the metadata in flight per tensor core is the decode rate of its fastest
    # dtype times the sparse MMA latency (indices read at issue, held until the MMA retires).
    decodes = max(_indices(arch, d, n, m) for d in tc.dense_macs_per_cycle) / MMA_N
    latency = tc.mma_latency_cycles + decode_latency + mux_latency
    reg_bytes = ceil(sm.tensor_cores_per_sm * latency * decodes * bits / 8)
    tile = arch.tiles.candidates[0]
    smem_bytes = ceil(tile.cta_m * tile.cta_k * n / m * bits / 8)

    return SparseDatapath(
        n=n, m=m, index_scheme=scheme, mux_fan_in=fan_in, mux_levels=levels, mux_instances=instances,
        mux_operand_bits=operand_bits, mux_latency_cycles=mux_latency, mux_selects_per_cycle=instances,
        metadata_bits=bits, decoder_width=width, decode_latency_cycles=decode_latency,
        metadata_register_bytes=reg_bytes, metadata_smem_bytes_per_stage=smem_bytes,
        positions=positions, mux_delay_ps=mux_delay, decode_levels=decode_levels, decode_delay_ps=decode_delay,
        lanes=lanes, select_latency_cycles=decode_latency + mux_latency,
    )
