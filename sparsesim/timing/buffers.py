"""On-chip storage: the L2 cache, each SM's shared memory and its pipeline stages.

* :class:`L2Cache` - one port of the aggregate read bandwidth of all L2 slices,
  with a hit latency.  Which bytes also went to DRAM is decided by the tile
  schedule's reuse model (:mod:`sparsesim.timing.workload`); every operand byte
  crosses the L2 once per thread block that reads it.
* :class:`SharedMemory` - an SM's banked shared memory: one port of
  ``bytes_per_cycle`` shared by the asynchronous fills (L2 -> smem) and the operand
  reads (smem -> registers, ``ldmatrix``).
* :class:`StageBuffers` - the multi-buffered tile pipeline (``stages`` slots; 2 is
  classic double buffering): a load may start only when a slot is free, and a slot
  is freed when the iteration's MMAs have consumed its operands.
"""

from __future__ import annotations

import simpy

from .pipeline import Port


class L2Cache(Port):
    def __init__(self, env, bytes_per_cycle: float, latency_cycles: float):
        super().__init__(env, "l2", bytes_per_cycle, latency_cycles)

    @classmethod
    def from_arch(cls, env, arch):
        return cls(env, arch.l2.bytes_per_cycle, arch.l2.latency_cycles)

    def read(self, nbytes):
        return (self, self.cycles_for(nbytes), "l2")


class SharedMemory(Port):
    """Shared-memory banks of the SMs of one group (each SM has its own; the group
    moves in lockstep, so one port stands for each of them)."""

    def __init__(self, env, bytes_per_cycle: float, latency_cycles: float):
        super().__init__(env, "smem", bytes_per_cycle, latency_cycles)

    def fill(self, nbytes):
        return (self, self.cycles_for(nbytes), "smem")

    def read(self, nbytes):
        return (self, self.cycles_for(nbytes), "smem")


class StageBuffers:
    """``stages`` shared-memory slots; ``acquire`` before a load, ``release`` once consumed."""

    def __init__(self, env, stages: int):
        self.slots = simpy.Container(env, capacity=stages, init=stages)

    def acquire(self):
        return self.slots.get(1)

    def release(self):
        return self.slots.put(1)
