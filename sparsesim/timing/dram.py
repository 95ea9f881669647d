"""DRAM: the HBM stacks behind all memory controllers, as one channel.

Addresses are interleaved across the controllers at fine granularity, so a GEMM's
streams spread evenly over them; the channels are therefore modeled together as
one first-come first-served bandwidth port of peak bandwidth times the achievable
DRAM efficiency (bytes per SM cycle), with the load-to-use latency pipelined (SMs
keep many cp.async/TMA loads in flight).  Reads and the write-back of C (drained
from L2 while the next CTAs run) share the port.
"""

from __future__ import annotations

from .pipeline import Port


class DramChannel(Port):
    """Shared DRAM bandwidth (bytes/cycle) and load-to-use latency (cycles)."""

    def __init__(self, env, bytes_per_cycle: float, latency_cycles: float):
        super().__init__(env, "dram", bytes_per_cycle, latency_cycles)

    @classmethod
    def from_arch(cls, env, arch):
        clock_hz = arch.clock.sustained_mhz * 1e6
        bpc = arch.dram.bandwidth_gbps * 1e9 * arch.efficiency.dram / clock_hz
        return cls(env, bpc, arch.dram.latency_ns * 1e-9 * clock_hz)
