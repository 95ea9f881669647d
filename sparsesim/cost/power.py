"""Power at a clock and the sustained clock a board's power limit allows for one kernel.

The energy of a kernel comes from the per-action table (:mod:`.energy`, the one source of
truth); this module adds the clock.  At SM clock ``f`` the core runs at the supply ``V(f)``
and the kernel lasts ``T(f)``::

    P(f) = static_w + E_core(V(f)) / T(f) + E_dram / T(f) + SMs * e_cycle(V(f)) * f

* ``E_core(V)``: every itemized action on the core supply (MACs, tensor-core lanes, issue,
  register file, shared memory, L2, multiplexers, decoders); each scales with the node's
  energy polynomial ``F(V) = a V^2 + b V + c`` (Stillmaker & Baas 2017), ``~ C V^2``.
* ``E_dram``: DRAM bytes x pJ/bit, on the DRAM's own supply, independent of the SM clock.
* ``e_cycle``: the clock tree and pipeline registers of one clocked SM per cycle, paid
  every cycle of the kernel whether the MACs fire or not (``P ~ C V^2 f``).
* ``V(f)``: the supply at which the node's gate delay ``D(V) = a V^3 + b V^2 + c V + d``
  (Stillmaker & Baas 2017, the same fits) allows ``f``: ``D(V) = D(V_boost) * f_boost / f``,
  anchored at ``technology.vdd_v`` at the boost clock.  Below :data:`MIN_VDD_V` the supply
  stays at that floor and only the clock falls (``P_dyn ~ f``).
* ``T(f)``: the kernel split, from the simulation at the clock ceiling ``f0``, into the time
  the DRAM is busy (fixed: the memory clock does not move with the SM clock) and the time
  of the busiest clocked unit (tensor cores, decoders, multiplexers, shared memory, L2) plus
  fill and drain, which scale as ``f0 / f``::

      T(f) = max(t_dram, t_core * f0 / f) + t_rest * f0 / f

  so a clock change never re-runs the simulation.

The sustained clock is the highest ``f <= f0`` with ``P(f) <= board.power_limit_w``
(``P`` rises with ``f``: bisection).  It is a steady state: a kernel run back to back
long enough for the board's limiter to settle; short bursts above it are not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from .energy import action_energies, energy_breakdown, operating_vdd, technology_of
from .tables import load_node

# Supply floor: below it a GPU's V-f curve is flat (SRAM minimum operating voltage), so the
# clock falls at constant supply.  assumption: 0.6 V, a typical SRAM Vmin of 7-4 nm FinFET parts.
MIN_VDD_V = 0.6
# Highest supply the delay law is followed to for a clock above boost (an overclocked study point).
MAX_VDD_V = 1.2
# The clock never falls below this fraction of the ceiling (a board that cannot meet its limit
# even there is reported as "floor").
MIN_CLOCK_FRACTION = 0.1
CLOCKED_UNITS = ("tensor", "decode", "mux", "smem", "l2")
# Units of energy_breakdown on the DRAM supply and the per-cycle one (the rest is core supply).
DRAM_UNITS = ("dram",)
CLOCK_UNITS = ("clock",)
_BISECT_STEPS = 40


@dataclass(frozen=True)
class KernelTime:
    """Kernel seconds as a function of the SM clock (see the module docstring)."""

    f0_hz: float  # clock the kernel was simulated at
    t_dram: float  # seconds the DRAM is busy
    t_core: float  # seconds the busiest clocked unit is busy, at f0
    t_rest: float  # the rest (fill, drain, latency), at f0

    @classmethod
    def from_result(cls, result, f0_hz: float) -> "KernelTime":
        kernel_s = result.kernel_cycles / f0_hz
        util = result.utilization or {}
        t_dram = min(1.0, util.get("dram", 0.0)) * kernel_s
        t_core = min(1.0, max((util.get(u, 0.0) for u in CLOCKED_UNITS), default=0.0)) * kernel_s
        return cls(f0_hz, t_dram, t_core, max(0.0, kernel_s - max(t_dram, t_core)))

    def seconds(self, f_hz: float) -> float:
        r = self.f0_hz / f_hz
        return max(self.t_dram, self.t_core * r) + self.t_rest * r


@dataclass(frozen=True)
class OperatingPoint:
    """The clock a kernel runs at and what it draws there."""

    clock_mhz: float
    vdd_v: float
    power_w: float  # board power while the kernel runs (static included)
    power_limit_w: float | None
    boost_power_w: float  # what it would draw at the clock ceiling
    limited_by: str  # "clock" (the ceiling), "power" (the board limit) or "floor" (limit not met)
    kernel_seconds: float
    sm_cycles: float


def supply_at(node, vdd_boost: float, f_ratio: float) -> float:
    """Supply at ``f_ratio`` x the boost clock from the node's delay law, within
    [:data:`MIN_VDD_V`, :data:`MAX_VDD_V`]."""
    if f_ratio == 1.0:
        return vdd_boost
    lo, hi = (min(MIN_VDD_V, vdd_boost), vdd_boost) if f_ratio < 1.0 else (vdd_boost, max(MAX_VDD_V, vdd_boost))
    if not node.delay_vs_vdd:  # no delay law published for the node: supply proportional to clock
        return min(hi, max(lo, vdd_boost * f_ratio))
    target = node.delay_factor(vdd_boost) / f_ratio
    if node.delay_factor(lo) <= target:
        return lo
    if node.delay_factor(hi) >= target:
        return hi
    # D falls with V: Newton on the cubic D(V) = target, kept inside the bracket [lo, hi]
    # (a step that leaves it bisects), to a few ulps in a handful of steps
    a3, b3, c3, _ = node.delay_vs_vdd
    v = 0.5 * (lo + hi)
    for _ in range(_BISECT_STEPS):
        err = node.delay_factor(v) - target
        if err > 0:
            lo = v
        else:
            hi = v
        slope = (3.0 * a3 * v + 2.0 * b3) * v + c3
        nxt = v - err / slope if slope < 0 else 0.5 * (lo + hi)
        if not lo < nxt < hi:
            nxt = 0.5 * (lo + hi)
        if abs(nxt - v) <= 1e-14 * v:
            return nxt
        v = nxt
    return v


class PowerModel:
    """``P(f)`` of one kernel: action counts, the arch's energy table and the kernel's time split."""

    def __init__(self, arch, actions: dict, dtype: str, datapath: str, ktime: KernelTime):
        self.arch, self.ktime = arch, ktime
        tech = technology_of(arch)
        self.node = load_node(tech.node)
        self.vdd_boost = operating_vdd(arch)
        self.f_boost = arch.clock.boost_mhz * 1e6
        e = action_energies(arch, dtype)
        self.static_w = e["static_w"]
        self.cycle_j = arch.sm.count * e["sm_cycle"]  # per SM-clock cycle, all SMs clocked
        parts = energy_breakdown(arch, {k: v for k, v in actions.items() if k != "sm_cycles"},
                                 dtype, datapath, 0.0)
        self.dram_j = sum(parts[u] for u in DRAM_UNITS)
        self.core_j = sum(v for u, v in parts.items() if u not in DRAM_UNITS + CLOCK_UNITS + ("static",))
        self.f_ref = self.node.energy_factor(self.vdd_boost)

    def supply(self, f_hz: float) -> float:
        return supply_at(self.node, self.vdd_boost, f_hz / self.f_boost)

    def power(self, f_hz: float) -> float:
        """Board power (W) while the kernel runs at ``f_hz``."""
        scale = self.node.energy_factor(self.supply(f_hz)) / self.f_ref
        t = self.ktime.seconds(f_hz)
        return self.static_w + (self.core_j * scale + self.dram_j) / t + self.cycle_j * scale * f_hz

    def operating_point(self, f_ceiling_hz: float, limit_w: float | None) -> OperatingPoint:
        p0 = self.power(f_ceiling_hz)
        f, limited = f_ceiling_hz, "clock"
        if limit_w is not None and p0 > limit_w:
            lo, hi = f_ceiling_hz * MIN_CLOCK_FRACTION, f_ceiling_hz
            if self.power(lo) > limit_w:
                f, limited = lo, "floor"
            else:
                for _ in range(_BISECT_STEPS):
                    mid = 0.5 * (lo + hi)
                    if self.power(mid) > limit_w:
                        hi = mid
                    else:
                        lo = mid
                f, limited = lo, "power"
        t = self.ktime.seconds(f)
        return OperatingPoint(f / 1e6, self.supply(f), self.power(f), limit_w, p0, limited, t,
                              self.arch.sm.count * t * f)


def operating_point(arch, result) -> OperatingPoint:
    """Sustained clock and power of the kernel of ``result`` (a GPU SimResult simulated at
    ``arch.clock.sustained_mhz``) under ``arch.board.power_limit_w``."""
    f0 = arch.clock.sustained_mhz * 1e6
    model = PowerModel(arch, result.actions, result.dtype, result.datapath, KernelTime.from_result(result, f0))
    board = getattr(arch, "board", None)
    return model.operating_point(f0, board.power_limit_w if board is not None else None)


def power_at(arch, result, clock_mhz: float) -> float:
    """Board power (W) the kernel of ``result`` would draw at ``clock_mhz`` (its own supply)."""
    if not clock_mhz > 0:
        raise ConfigError(f"clock must be a positive number of MHz, got {clock_mhz!r}")
    f0 = arch.clock.sustained_mhz * 1e6
    model = PowerModel(arch, result.actions, result.dtype, result.datapath, KernelTime.from_result(result, f0))
    return model.power(clock_mhz * 1e6)
