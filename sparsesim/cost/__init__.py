"""Energy and area per action (Accelergy-style), per process node.

* :mod:`.tables` - node tables (TOML package data: ``n45`` anchor from Horowitz ISSCC 2014,
  ``n7``/``n5``/``n4`` scaled by cited rules) and DRAM pJ/bit per memory technology;
* :mod:`.energy` - joules per action of a GPU arch (:func:`action_energies`) and the energy
  of a kernel's action counts (:func:`energy_breakdown`);
* :mod:`.area` - dense tensor-core datapath and sparse-addition areas (:func:`datapath_area`).

An arch names its node, supply, DRAM technology and static power in its ``[technology]``
table and may override entries.  ``annotate(result, arch)`` adds ``energy_j``,
``energy_breakdown_j``, ``avg_power_w`` and ``area`` to a simulated result.  Power at
another supply (for a clock/power-cap model): ``dynamic_energy_j(..., vdd=V)``.
See docs/energy.md.
"""

from __future__ import annotations

from .area import AREA_OVERRIDES, DatapathArea, datapath_area
from .energy import (
    ENERGY_OVERRIDES,
    action_energies,
    dynamic_energy_j,
    energy_breakdown,
    operating_vdd,
    register_file_bytes,
)
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
]


def annotate(result, arch):
    """Set ``energy_j``, ``energy_breakdown_j``, ``avg_power_w`` and ``area`` of ``result``
    (a GPU SimResult) from ``arch``'s technology table; archs without one are left as they are."""
    if getattr(arch, "technology", None) is None or not result.actions:
        return result
    parts = energy_breakdown(arch, result.actions, result.dtype, result.datapath, result.seconds)
    total = sum(parts.values())
    result.energy_j = total
    result.energy_breakdown_j = parts
    result.avg_power_w = total / result.seconds if result.seconds > 0 else 0.0
    result.area = datapath_area(arch).to_dict()
    return result
