"""The MAC array (tensor cores of one SM) and the accumulators.

The array retires ``dense_macs_per_cycle`` multiply-accumulates per tensor core per
cycle on dense operands and ``sparse_speedup`` times that on operands in the
hardware's N:M pattern (half the multiplies, each standing for two dense MACs),
scaled by the achievable fraction of peak (``efficiency.tensor_dense`` /
``tensor_sparse``: issue slots lost to address math, ``ldmatrix`` and barriers).
Partial tiles at the matrix edge still execute whole MMAs (padding).  Products are
accumulated in registers (fp32 / int32) until the last main-loop iteration; then the
epilogue converts them and writes the C tile through L2 to DRAM.
"""

from __future__ import annotations


class MacArray:
    def __init__(self, cycles_per_iter: float, latency_cycles: float):
        self.cycles = float(cycles_per_iter)
        self.latency = float(latency_cycles)

    def part(self):
        return (self.cycles, "tensor")


class Accumulators:
    """Register accumulators of the group's tiles; ``drain`` is the epilogue (generator)."""

    def __init__(self, env, dram, c_bytes: float, mma_latency: float):
        self.env, self.dram, self.c_bytes, self.mma_latency = env, dram, c_bytes, mma_latency

    def drain(self, stats):
        yield self.env.timeout(self.mma_latency)  # the last MMA's results land
        yield from self.dram.write(self.c_bytes, stats)
