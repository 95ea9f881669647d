"""Operand-B multiplexers of the sparse tensor core.

Each kept value of an N:M row multiplies the B element at its original position.  With
ordered indices the kept value j of a group can only come from positions j .. j + (M - N),
so each multiplier input lane is fed by an (M - N + 1):1 multiplexer (3:1 for 2:4, 5:1 for
4:8; Hubara et al. 2021); a crossbar scheme needs M:1.  Fan-in, the levels of 2:1 muxes,
the latency at the clock and the lanes come from
:func:`sparsesim.arch.datapath.sparse_datapath`.  One select per routed lane per multiply
step: a lane carries ``mux_operand_bits`` (two int8 values of adjacent B columns share
one select); throughput ``mux_selects_per_cycle`` per tensor core.
"""

from __future__ import annotations

from .pipeline import Unit


def mux_cycles(lane_selects: float, selects_per_cycle: float) -> float:
    """Busy cycles of the multiplexers for ``lane_selects`` routed operand lanes."""
    return lane_selects / selects_per_cycle if lane_selects else 0.0


class OperandMux(Unit):
    """The SM's operand multiplexers: busy ``cycles`` per item, ``latency`` cycles deep."""

    def __init__(self, cycles, latency, stats, port=None):
        super().__init__("mux", cycles, latency, stats, "mux", port)
