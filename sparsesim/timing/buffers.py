"""On-chip storage: the L2 cache and each SM's shared memory.

* :class:`L2Cache` - one port of the aggregate read bandwidth of all L2 slices, with a
  hit latency.  Which bytes also went to DRAM is decided by the tile schedule's reuse
  model (:mod:`sparsesim.timing.workload`); every operand byte crosses the L2 once per
  thread block that reads it, and the C tiles are written through it.
* :class:`SharedMemory` - an SM's banked shared memory (with L1 on the same banks): one
  port of ``bytes_per_cycle`` shared by the stage fills (L2 -> smem), the operand reads
  (smem -> registers, ``ldmatrix``) and the epilogue's stores, with a load latency.

The multi-buffered tile pipeline (``tiles.stages`` slots per CTA: a load may start only
when a slot is free, and a slot frees when the iteration's MMAs have consumed its
operands) is part of the SM chain (:class:`sparsesim.timing.engine.SmGroup`).
"""

from __future__ import annotations

from .pipeline import Port


class L2Cache(Port):
    def __init__(self, env, bytes_per_cycle: float, latency_cycles: float):
        super().__init__(env, "l2", bytes_per_cycle, latency_cycles)

    @classmethod
    def from_arch(cls, env, arch):
        return cls(env, arch.l2.bytes_per_cycle, arch.l2.latency_cycles)


class SharedMemory(Port):
    """Shared-memory banks of one SM (in a lockstep group: of each of its SMs)."""

    def __init__(self, env, bytes_per_cycle: float, latency_cycles: float):
        super().__init__(env, "smem", bytes_per_cycle, latency_cycles)
