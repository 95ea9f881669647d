"""Energy per action of a GPU's tensor-core datapath and memory hierarchy (Accelergy-style).

``action_energies(arch, dtype)`` turns the node table named by ``arch.technology`` into
joules per action of the units the timing model counts; ``energy_breakdown`` multiplies
them by a result's action counts::

    tensor         multiplies            x  E(MAC of dtype, accumulate included)
    array          multiplies            x  (array_energy_factor - 1) x E(MAC): the rest of a tensor-core
                                            lane (operand distribution, adder tree, pipeline registers)
    issue          warp instructions     x  E(fetch, decode and operand fetch of one instruction)
    clock          SM cycles             x  E(clock tree and pipeline registers of one clocked SM cycle)
    mux            mux_selects           x  (fan_in - 1) 2:1 cells x routed bits x E(2:1 mux bit)
    decode         metadata_decodes      x  (decoder gates x E(gate) + index bits read from registers)
                   reencoded_nonzeros    x  E(software re-encode of one non-zero)
    register_file  MMA operand and accumulator bytes (PTX mma shapes) + ldmatrix writes  x  E(RF byte)
    smem           shared-memory bytes read and written                                  x  E(smem byte)
    l2             L2 bytes read, filled from DRAM and written back                      x  E(L2 byte)
    dram           DRAM bytes read and written                                           x  E(DRAM byte)
    static         static_w x seconds

Rules and sources: docs/energy.md.  The fan-in and decoder of the sparse datapath come from
:func:`sparsesim.arch.datapath.sparse_datapath`.
"""

from __future__ import annotations

from math import log

from ..arch import load_arch
from ..errors import ConfigError
from ._cache import per_arch
from .tables import NodeTable, dram_pj_per_bit, load_node

PJ = 1e-12
# Accumulator of each operand type on the tensor cores modelled (fp32 for every float type).
ACCUMULATOR = {"int8": "int32", "fp8": "fp32", "fp16": "fp32", "bf16": "fp32", "tf32": "fp32", "fp32": "fp32",
               "fp4": "fp32"}
# Significand bits (hidden bit included) of the float operand types: IEEE fp16/fp32, bfloat16,
# TF32 (10 stored fraction bits), fp8 e4m3, fp4 e2m1 (one stored fraction bit; OCP MX spec).
SIGNIFICAND_BITS = {"fp4": 2, "fp8": 4, "bf16": 8, "fp16": 11, "tf32": 11, "fp32": 24}
OPERAND_BITS = {"int8": 8, "fp8": 8, "fp16": 16, "bf16": 16, "tf32": 32, "fp32": 32, "fp4": 4}
MAC_DTYPES = tuple(OPERAND_BITS)
# Capacities of the three SRAM anchors of the node table (bytes), smallest first.
SRAM_ANCHORS = ((8 * 1024, "sram_8kib_64b"), (32 * 1024, "sram_32kib_64b"), (1024 * 1024, "sram_1mib_64b"))
# Per-action entries a config may override (technology.energy_pj, pJ at technology.vdd_v).
ENERGY_OVERRIDES = tuple(f"mac_{d}" for d in MAC_DTYPES) + (
    "mux2_bit", "gate", "rf_byte", "smem_byte", "l2_byte", "dram_byte", "warp_instruction", "sm_cycle")
# Tensor-core lane energy per multiply over the bare multiply-add (technology.array_energy_factor):
# S2TA (Liu et al., HPCA 2022, Fig. 1) puts the MAC datapath at ~20 % of a dense array's energy, the
# rest in operand / result buffers and registers (5x the MAC); the register-file operand traffic this
# model counts separately (A100 fp16 mma.sync: 0.875 B x 0.236 pJ = 0.21 pJ per multiply, 1.5x the
# 0.137 pJ MAC) is taken out: 5 - 1.5 = 3.5.
DEFAULT_ARRAY_ENERGY_FACTOR = 3.5
# PTX warp-level mma: per instruction the A fragment is 16 rows x 32 bytes (dense) or its kept
# half of 64 bytes (mma.sp), B is 8 columns x 32 (dense) or 64 (sparse) bytes of K, C and D are
# 16 x 8 32-bit accumulators; one instruction performs 16 x 8 x (32 bytes / element size)
# multiplies in both forms.
MMA_MULTIPLY_BYTES = 16 * 8 * 32
MMA_A_BYTES = 16 * 32
MMA_B_BYTES = {False: 8 * 32, True: 8 * 64}
MMA_CD_BYTES = 2 * 16 * 8 * 4
SPARSE_DATAPATHS = ("sparse", "sparse-passes")


def multiply_pj(node: NodeTable, dtype: str, vdd=None) -> float:
    """Energy of one multiply of ``dtype`` operands.

    Integer: the node's 8b multiply.  Float: the 16b multiply scaled by significand bits to
    the power that carries Horowitz's 16b multiply onto his 32b one (``alpha``), so the two
    published points are reproduced and narrower types interpolate between them.
    """
    if dtype == "int8":
        return node.energy_pj("int8_mult", vdd)
    s = SIGNIFICAND_BITS[dtype]
    e16, e32 = node.energy_pj("fp16_mult", vdd), node.energy_pj("fp32_mult", vdd)
    alpha = log(e32 / e16) / log(SIGNIFICAND_BITS["fp32"] / SIGNIFICAND_BITS["fp16"])
    return e16 * (s / SIGNIFICAND_BITS["fp16"]) ** alpha


def mac_pj(node: NodeTable, dtype: str, vdd=None) -> float:
    """Multiply plus accumulate (int32 add for int8, fp32 add for float types)."""
    add = "int32_add" if ACCUMULATOR[dtype] == "int32" else "fp32_add"
    return multiply_pj(node, dtype, vdd) + node.energy_pj(add, vdd)


def cell_pj(node: NodeTable, cell: str, vdd=None) -> float:
    """Energy of one switching standard cell, proportional to its area: a full-adder bit costs
    a 32-bit add / 32, other cells that times their area over the full adder's."""
    per_fa_bit = node.energy_pj("int32_add", vdd) / 32.0
    return per_fa_bit * node.area(cell) / node.area("full_adder")


def sram_pj_per_byte(node: NodeTable, capacity_bytes: float, vdd=None) -> float:
    """Read energy per byte of an SRAM array of ``capacity_bytes``.

    Piecewise power law in capacity through the node's three 64-bit-read anchors (8 KB, 32 KB,
    1 MB): exact at the anchors, the first segment's slope below 8 KB, and no extrapolation
    above 1 MB (a larger array is taken as 1 MB banks).
    """
    pts = [(c, node.energy_pj(k, vdd) / 8.0) for c, k in SRAM_ANCHORS]
    c = min(float(capacity_bytes), pts[-1][0])
    lo, hi = (pts[0], pts[1]) if c <= pts[1][0] else (pts[1], pts[2])
    slope = log(hi[1] / lo[1]) / log(hi[0] / lo[0])
    return lo[1] * (c / lo[0]) ** slope


def technology_of(arch):
    tech = getattr(arch, "technology", None)
    if tech is None:
        raise ConfigError(f"architecture {getattr(arch, 'name', arch)!r} has no [technology] table "
                          f"(node, dram, static_w): energy and area cannot be computed")
    return tech


def operating_vdd(arch) -> float:
    """Core supply the arch runs at: ``technology.vdd_v``, else the node's nominal supply."""
    tech = technology_of(arch)
    return tech.vdd_v if tech.vdd_v is not None else load_node(tech.node).vdd_v


def _override(arch, node, name, value_pj, vdd):
    """``value_pj`` at ``vdd`` unless the config overrides ``name`` (given at its own vdd_v)."""
    over = technology_of(arch).energy_pj or {}
    if name not in over:
        return value_pj
    return over[name] * node.voltage_scale(vdd) / node.voltage_scale(operating_vdd(arch))


def action_energies(arch, dtype: str, vdd: float | None = None) -> dict:
    """Joules per action of ``arch``'s units for operands of ``dtype`` at supply ``vdd``
    (default: the arch's operating supply).  Keys: ``mac``, ``mux_select``,
    ``metadata_decode``, ``reencode_nonzero``, ``rf_byte``, ``smem_byte``, ``l2_byte``,
    ``dram_byte``, ``array`` (per multiply), ``warp_instruction``, ``sm_cycle``; plus ``static_w`` (watts).  This is the one table the energy of a
    simulated kernel and a power-capped clock model both read."""
    arch = load_arch(arch)
    return per_arch(arch, ("energy", dtype, vdd), lambda: _action_energies(
        arch, dtype, operating_vdd(arch) if vdd is None else float(vdd)))


def _entry(node, name, vdd) -> float:
    return node.energy_pj(name, vdd) if name in node.energy_ref_pj else 0.0


def _action_energies(arch, dtype, vdd):
    from ..arch.datapath import sparse_datapath

    tech = technology_of(arch)
    node = load_node(tech.node)
    sd = sparse_datapath(arch)

    def pick(name, value):
        return _override(arch, node, name, value, vdd)

    mac = pick(f"mac_{dtype}", mac_pj(node, dtype, vdd))
    mux2 = pick("mux2_bit", cell_pj(node, "mux2", vdd))
    gate = pick("gate", cell_pj(node, "nand2", vdd))
    sub_partitions = arch.sm.tensor_cores_per_sm  # one register-file slice per tensor core
    rf = pick("rf_byte", sram_pj_per_byte(node, arch.sm.register_file_kib * 1024 / sub_partitions, vdd))
    smem = pick("smem_byte", sram_pj_per_byte(node, arch.sm.shared_memory_kib * 1024, vdd))
    l2 = pick("l2_byte", sram_pj_per_byte(node, arch.l2.size_mib * 2**20, vdd))
    dram = pick("dram_byte", 8.0 * dram_pj_per_bit(tech.dram))
    add32 = node.energy_pj("int32_add", vdd)
    bits = OPERAND_BITS[dtype]
    # one-hot index decode: fan_in outputs, each an AND of the index bits (2-input gates),
    # plus an inverter per index bit (half a gate); the index is read from its register
    decode_gates = sd.mux_fan_in * max(1, sd.metadata_bits - 1) + 0.5 * sd.metadata_bits
    out = {
        "mac": mac,
        # every 2:1 cell of the tree sees new B operands each cycle, not only the selected path
        "mux_select": (sd.mux_fan_in - 1) * bits * mux2,
        "metadata_decode": decode_gates * gate + sd.metadata_bits / 8.0 * rf,
        # software re-encoding of one non-zero: read value + index, one 32-bit add, write back
        "reencode_nonzero": 8.0 * rf + add32,
        "rf_byte": rf,
        "smem_byte": smem,
        "l2_byte": l2,
        "dram_byte": dram,
        "array": mac * (array_energy_factor(arch) - 1.0),
        # GPU-level entries a node table inherits from the 16 nm one; tables without them price none
        "warp_instruction": pick("warp_instruction", _entry(node, "warp_instruction", vdd)),
        "sm_cycle": pick("sm_cycle", _entry(node, "sm_cycle", vdd)),
    }
    out = {k: v * PJ for k, v in out.items()}
    out["static_w"] = tech.static_w
    return out


def array_energy_factor(arch) -> float:
    """technology.array_energy_factor, else :data:`DEFAULT_ARRAY_ENERGY_FACTOR`."""
    k = technology_of(arch).array_energy_factor
    return DEFAULT_ARRAY_ENERGY_FACTOR if k is None else k


def uses_warpgroup_mma(arch) -> bool:
    """Warpgroup MMAs (Hopper wgmma) read A and B from shared memory, not registers."""
    return getattr(arch.tiles, "warp_tile_warps", 1) >= 4


def register_file_bytes(arch, actions: dict, dtype: str, datapath: str) -> float:
    """Register-file bytes of the MMAs (operand and accumulator reads/writes, PTX shapes) and
    of the shared-memory-to-register loads (ldmatrix) that feed them."""
    mmas = actions.get("multiplies", 0.0) * OPERAND_BITS[dtype] / 8 / MMA_MULTIPLY_BYTES
    if uses_warpgroup_mma(arch):
        return mmas * MMA_CD_BYTES
    sparse = datapath in SPARSE_DATAPATHS
    return mmas * (MMA_A_BYTES + MMA_B_BYTES[sparse] + MMA_CD_BYTES) + actions.get("smem_read_bytes", 0.0)


#: The units of :func:`energy_breakdown`, in its order (sweep rows carry one column each).
ENERGY_UNITS = ("tensor", "array", "issue", "clock", "mux", "decode", "register_file", "smem", "l2", "dram",
                "static")


def energy_breakdown(arch, actions: dict, dtype: str, datapath: str, seconds: float,
                     vdd: float | None = None) -> dict:
    """Joules per unit for the action counts of one kernel lasting ``seconds`` (static included)."""
    arch = load_arch(arch)
    e = action_energies(arch, dtype, vdd)
    a = actions.get
    dram_bytes = a("dram_read_bytes", 0.0) + a("dram_write_bytes", 0.0)
    return {
        "tensor": a("multiplies", 0.0) * e["mac"],
        "array": a("multiplies", 0.0) * e["array"],
        "issue": a("warp_instructions", 0.0) * e["warp_instruction"],
        "clock": a("sm_cycles", 0.0) * e["sm_cycle"],
        "mux": a("mux_selects", 0.0) * e["mux_select"],
        "decode": a("metadata_decodes", 0.0) * e["metadata_decode"]
                  + a("reencoded_nonzeros", 0.0) * e["reencode_nonzero"],
        "register_file": register_file_bytes(arch, actions, dtype, datapath) * e["rf_byte"],
        "smem": (a("smem_read_bytes", 0.0) + a("smem_write_bytes", 0.0)) * e["smem_byte"],
        # L2 serves the SMs' reads, takes the fills from DRAM and the write-backs to it
        "l2": (a("l2_read_bytes", 0.0) + dram_bytes) * e["l2_byte"],
        "dram": dram_bytes * e["dram_byte"],
        "static": e["static_w"] * seconds,
    }


def dynamic_energy_j(arch, actions: dict, dtype: str, datapath: str, vdd: float | None = None) -> float:
    """Joules of the actions alone (no static part) at supply ``vdd``: what a power-capped clock
    model divides by the kernel time at each clock, ``P(f) = static_w + E_dyn(V(f)) / T(f)``."""
    parts = energy_breakdown(arch, actions, dtype, datapath, 0.0, vdd)
    return sum(v for k, v in parts.items() if k != "static")
