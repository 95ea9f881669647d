"""Energy and area per action (Accelergy-style), per process node.

* :mod:`.tables` - node tables (TOML package data: ``n45`` anchor from Horowitz ISSCC 2014,
  ``n7``/``n5``/``n4`` scaled by cited rules) and DRAM pJ/bit per memory technology;
* :mod:`.energy` - joules per action of a GPU arch (:func:`action_energies`) and the energy
  of a kernel's action counts (:func:`energy_breakdown`);
* :mod:`.area` - dense tensor-core datapath and sparse-addition areas (:func:`datapath_area`);
* :mod:`.power` - power at a clock and the sustained clock under the board's power limit
  (:func:`operating_point`), from the same table.

An arch names its node, supply, DRAM technology and static power in its ``[technology]``
table and may override entries.  ``annotate(result, arch)`` sets the clock the board's power
limit allows (re-timing the kernel at it) and adds ``energy_j``, ``energy_breakdown_j``,
``avg_power_w``, the clock and power fields and ``area`` to a simulated result.
See docs/energy.md and docs/power.md.
"""

from __future__ import annotations

from .area import AREA_OVERRIDES, DatapathArea, datapath_area
from .energy import (
    DEFAULT_ARRAY_ENERGY_FACTOR,
    ENERGY_OVERRIDES,
    action_energies,
    dynamic_energy_j,
    energy_breakdown,
    operating_vdd,
    register_file_bytes,
)
from .power import MIN_VDD_V, OperatingPoint, operating_point, power_at, supply_at
from .tables import NodeTable, dram_pj_per_bit, load_node, memory_names, node_names

__all__ = [
    "annotate",
    "action_energies",
    "energy_breakdown",
    "dynamic_energy_j",
    "operating_vdd",
    "register_file_bytes",
    "datapath_area",
    "DatapathArea",
    "NodeTable",
    "load_node",
    "node_names",
    "memory_names",
    "dram_pj_per_bit",
    "ENERGY_OVERRIDES",
    "AREA_OVERRIDES",
    "DEFAULT_ARRAY_ENERGY_FACTOR",
    "operating_point",
    "power_at",
    "supply_at",
    "OperatingPoint",
    "MIN_VDD_V",
]


def annotate(result, arch):
    """Run the kernel of ``result`` (a GPU SimResult simulated at ``arch.clock.sustained_mhz``) at
    the clock the board's power limit allows (:func:`operating_point`; no limit without a
    ``[board]`` table), then set ``energy_j``, ``energy_breakdown_j``, ``avg_power_w``, the clock
    and power fields and ``area`` at that clock's supply.  Archs without a ``[technology]`` table
    are left as they are."""
    if getattr(arch, "technology", None) is None or not result.actions:
        return result
    op = operating_point(arch, result)
    _reclock(result, arch, op)
    parts = energy_breakdown(arch, result.actions, result.dtype, result.datapath, result.seconds, vdd=op.vdd_v)
    total = sum(parts.values())
    result.energy_j = total
    result.energy_breakdown_j = parts
    result.avg_power_w = total / result.seconds if result.seconds > 0 else 0.0
    result.area = datapath_area(arch).to_dict()
    return result


def _reclock(result, arch, op):
    """Times, cycles and busy fractions of ``result`` at ``op.clock_mhz`` (the DRAM's busy time
    stays, the clocked units' scales with the clock; see :class:`.power.KernelTime`)."""
    f0 = arch.clock.sustained_mhz * 1e6
    f = op.clock_mhz * 1e6
    kernel_s0 = result.kernel_cycles / f0
    t = op.kernel_seconds
    if f != f0 and t > 0:
        r = f0 / f
        result.utilization = {u: min(1.0, v * kernel_s0 * (1.0 if u == "dram" else r) / t)
                              for u, v in result.utilization.items()}
        result.seconds = t + result.launch_seconds
        result.kernel_cycles = result.cycles = t * f
        result.tops = result.ops / result.seconds / 1e12
    result.actions = dict(result.actions, sm_cycles=op.sm_cycles)
    result.clock_mhz = op.clock_mhz
    result.vdd_v = op.vdd_v
    result.power_w = op.power_w
    result.power_limit_w = op.power_limit_w
    result.boost_power_w = op.boost_power_w
    result.clock_limit = op.limited_by
