"""Operand-B multiplexers of the sparse tensor core.

Each kept value of an N:M row multiplies the B element at its original position.
The kept value j of a group can only come from positions j .. j + (M - N), so
each multiplier is fed by an (M - N + 1):1 multiplexer: 3:1 for 2:4, 5:1 for 4:8
(Hubara et al. 2021).  One select per multiply; throughput
``mux_selects_per_cycle`` per tensor core; latency ``mux_latency_cycles`` (a wider
mux needs more levels of 2:1 muxes).
"""

from __future__ import annotations


class OperandMux:
    def __init__(self, cycles_per_iter: float, latency_cycles: float):
        self.cycles = float(cycles_per_iter)
        self.latency = float(latency_cycles) if cycles_per_iter > 0 else 0.0

    def part(self):
        return (self.cycles, "mux")
