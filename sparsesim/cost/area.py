"""Area of the dense tensor-core datapath and of its sparse additions, per process node.

Dense datapath (one tensor core): for every operand type it takes, the multipliers and
accumulator adders of its dense MACs per cycle; the largest of these is the array (the
narrower types share its lanes).  This counts arithmetic only - operand buffers, pipeline
registers and the adder-tree sharing of a real dot-product unit are left out - so the
sparse overhead *fraction* below errs high.

Sparse additions (one tensor core), from :func:`sparsesim.arch.datapath.sparse_datapath`:

* multiplexers: ``mux_instances x (mux_fan_in - 1)`` 2:1 cells per routed operand bit;
* index decoder: ``decoder_width`` indices per cycle, each ``mux_fan_in`` outputs that AND
  the index bits (``max(1, bits - 1)`` 2-input gates each) plus one inverter per bit;
* metadata staging: the SM's ``metadata_register_bytes`` held in flip-flops, shared out
  over its tensor cores (an upper bound: a design may keep them in register-file SRAM).

The metadata's shared-memory stage bytes are carved out of the existing shared memory and
add no area.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from math import log

from ..arch import load_arch
from ._cache import per_arch
from .energy import ACCUMULATOR, SIGNIFICAND_BITS, technology_of
from .tables import NodeTable, load_node

UM2_PER_MM2 = 1e6
AREA_OVERRIDES = ("mac_int8", "mac_fp8", "mac_fp16", "mac_bf16", "mac_tf32", "mac_fp32",
                  "mux2", "nand2", "inv", "dff")


def multiplier_um2(node: NodeTable, dtype: str) -> float:
    """Multiplier area; float types scale the 16b one by significand bits with the exponent that
    carries it onto the published 32b multiplier (as :func:`.energy.multiply_pj`)."""
    if dtype == "int8":
        return node.area("int8_mult")
    a16, a32 = node.area("fp16_mult"), node.area("fp32_mult")
    alpha = log(a32 / a16) / log(SIGNIFICAND_BITS["fp32"] / SIGNIFICAND_BITS["fp16"])
    return a16 * (SIGNIFICAND_BITS[dtype] / SIGNIFICAND_BITS["fp16"]) ** alpha


def mac_um2(node: NodeTable, dtype: str) -> float:
    add = "int32_add" if ACCUMULATOR[dtype] == "int32" else "fp32_add"
    return multiplier_um2(node, dtype) + node.area(add)


@dataclass(frozen=True)
class DatapathArea:
    """Areas in um^2 per tensor core, and the chip's tensor-core count."""

    node: str
    dense_dtype: str  # operand type whose MAC array sets the dense datapath's area
    dense_um2: float
    sparse_mux_um2: float
    sparse_decoder_um2: float
    sparse_metadata_um2: float
    tensor_cores: int

    @property
    def sparse_um2(self) -> float:
        return self.sparse_mux_um2 + self.sparse_decoder_um2 + self.sparse_metadata_um2

    @property
    def sparse_fraction(self) -> float:
        """Sparse additions relative to the dense tensor-core datapath."""
        return self.sparse_um2 / self.dense_um2

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sparse_um2"] = self.sparse_um2
        d["sparse_fraction"] = self.sparse_fraction
        d["chip_dense_mm2"] = self.dense_um2 * self.tensor_cores / UM2_PER_MM2
        d["chip_sparse_mm2"] = self.sparse_um2 * self.tensor_cores / UM2_PER_MM2
        return d


def _area_entry(arch, name, value):
    over = technology_of(arch).area_um2 or {}
    return over.get(name, value)


def datapath_area(arch) -> DatapathArea:
    """Dense tensor-core datapath and sparse-addition areas of ``arch`` at its node."""
    arch = load_arch(arch)
    return per_arch(arch, "area", lambda: _datapath_area(arch))


def _datapath_area(arch) -> DatapathArea:
    from ..arch.datapath import sparse_datapath

    node = load_node(technology_of(arch).node)
    tc = arch.tensor_core

    def cell(name):
        return _area_entry(arch, name, node.area(name))

    arrays = {d: n * _area_entry(arch, f"mac_{d}", mac_um2(node, d))
              for d, n in tc.dense_macs_per_cycle.items()}
    dense_dtype = max(arrays, key=arrays.get)
    sd = sparse_datapath(arch)
    mux = sd.mux_instances * (sd.mux_fan_in - 1) * sd.mux_operand_bits * cell("mux2")
    per_index = sd.mux_fan_in * max(1, sd.metadata_bits - 1) * cell("nand2") + sd.metadata_bits * cell("inv")
    decoder = sd.decoder_width * per_index
    metadata = sd.metadata_register_bytes * 8 * cell("dff") / arch.sm.tensor_cores_per_sm
    return DatapathArea(node.name, dense_dtype, arrays[dense_dtype], mux, decoder, metadata,
                        arch.sm.count * arch.sm.tensor_cores_per_sm)
