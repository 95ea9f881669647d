"""DRAM: the HBM stacks behind all memory controllers, as one channel.

Addresses are interleaved across the controllers at fine granularity, so a GEMM's
streams spread evenly over them; the channels are therefore modeled together as
one first-come first-served bandwidth port of peak bandwidth times the achievable
DRAM efficiency (bytes per SM cycle), with the load-to-use latency pipelined (SMs
keep many cp.async/TMA loads in flight).  Reads and write-backs share the port.
"""

from __future__ import annotations

from .pipeline import Port, hold


class DramChannel(Port):
    """Shared DRAM bandwidth (bytes/cycle) and load-to-use latency (cycles)."""

    def __init__(self, env, bytes_per_cycle: float, latency_cycles: float):
        super().__init__(env, "dram", bytes_per_cycle, latency_cycles)

    @classmethod
    def from_arch(cls, env, arch):
        clock_hz = arch.clock.sustained_mhz * 1e6
        bpc = arch.dram.bandwidth_gbps * 1e9 * arch.efficiency.dram / clock_hz
        return cls(env, bpc, arch.dram.latency_ns * 1e-9 * clock_hz)

    def read(self, nbytes):
        """Stage part: move ``nbytes`` per item (0 bytes: all hits, no DRAM time)."""
        return (self, self.cycles_for(nbytes), "dram")

    def write(self, nbytes, stats):
        """Write ``nbytes`` back (generator): bandwidth, then the latency."""
        if nbytes > 0:
            yield from hold(self.env, self, self.cycles_for(nbytes), stats, "dram")
            yield self.env.timeout(self.latency)
