"""Mode ``"full"``: the reference the fast modes are checked against.

Every SM is simulated on its own and every CTA is its own pipeline (the chain of
:class:`~sparsesim.timing.engine.SmGroup` with one CTA), so none of the fast modes'
simplifications is shared:

* no lockstep: the CTAs of one SM share its shared-memory banks, index decoders,
  multiplexers and tensor cores as FIFO ports, and the SMs' requests reach the DRAM
  and L2 ports one CTA at a time;
* no waves: like the hardware's block scheduler, the next CTA (in launch order) starts
  on an SM as soon as one of its CTA slots frees; the first ``SMs x CTAs-per-SM`` CTAs
  go out breadth-first (one per SM first).  A CTA reads the DRAM bytes the reuse model
  gives the wave it belongs to by launch order (the same bytes as the wave model); the C
  tile a CTA stores is written back through L2 and DRAM while the next CTA of its slot
  runs (stores are posted), and the kernel ends when the stores of the CTAs that have no
  successor have reached L2 - the same write-back assumption as the wave model;
* no fast-forward: every iteration of every CTA is an event chain;
* per-tile work variation of re-encoded operands (``plan.tile_cv``) is drawn per CTA
  (normal, fixed seed) instead of charging every SM the expected slowest tile;
* Little's law on an SM uses the CTAs resident on it when an iteration issues.

Its cost grows with the GEMM (about 20 events per CTA-iteration).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import simpy

from .buffers import SharedMemory
from .engine import SM_LOCAL, UNITS, MemorySystem, SmGroup
from .pipeline import Port
from .workload import sm_unit_cycles


class Sm:
    """One SM: its shared memory and its decoder, multiplexer and tensor-core ports."""

    def __init__(self, env, plan):
        arch = plan.arch
        self.plan = plan
        self.smem = SharedMemory(env, arch.sm.shared_memory_bytes_per_cycle, plan.latency["smem"])
        self.ports = tuple(Port(env, u, 1.0) for u in ("decode", "mux", "tensor"))
        self.resident = 0

    def cycles(self, scale):
        """Per-item (MAC, decode, mux) cycles of one of this SM's CTAs, at the residency of the moment."""
        sm = self

        def unit(i):
            return lambda: sm_unit_cycles(sm.plan, 1, sm.resident)[i] * scale

        return unit(0), unit(1), unit(2)


def tile_scales(plan, seed=0):
    """Work of each CTA relative to the mean: 1, or a normal draw for re-encoded operands."""
    if plan.tile_cv <= 0:
        return np.ones(plan.ctas)
    z = np.random.default_rng(seed).standard_normal(plan.ctas)
    return np.maximum(0.0, 1.0 + plan.tile_cv * z)


def simulate_full(plan, memory_system=MemorySystem, scales=None):
    """Cycles of the whole kernel, per-unit busy cycles (SM-local ones averaged over the SMs),
    events processed."""
    arch = plan.arch
    env = simpy.Environment()
    mem = memory_system(env, arch)
    nsm, per_sm, k_iters = arch.sm.count, plan.ctas_per_sm, plan.k_iters
    waves = plan.waves
    per_wave = nsm * per_sm
    scales = tile_scales(plan) if scales is None else scales
    stats = defaultdict(float)
    sms = [Sm(env, plan) for _ in range(nsm)]
    state = {"next": 0}

    def slot(sm):
        carried = 0.0  # C bytes of this slot's previous CTA, written back during the next one
        while state["next"] < plan.ctas:
            c = state["next"]
            state["next"] += 1
            w = c // per_wave
            n_w = int(waves.end[w] - waves.start[w])
            extra = carried / k_iters
            dram_per = float(waves.reads[w]) / (n_w * k_iters) + extra
            c_per = float(waves.c_wave[w]) / n_w
            last = state["next"] >= plan.ctas or c + per_wave >= plan.ctas
            sm.resident += 1
            cta = SmGroup(env, plan, mem, sm.smem, 1, 1, dram_per, c_per, sm.cycles(float(scales[c])),
                          ports=sm.ports, start_delay=arch.launch.cta_launch_cycles, stats=stats,
                          l2_bytes_per_cta_iter=plan.demand.l2_bytes + extra, final=last)
            yield cta.finished
            sm.resident -= 1
            carried = c_per

    for _ in range(per_sm):
        for sm in sms:
            env.process(slot(sm))
    env.run()
    end = env.now
    busy = {u: stats[u] / nsm if u in SM_LOCAL else stats[u] for u in UNITS}
    eid = getattr(env, "_eid", None)
    events = next(eid) if eid is not None and hasattr(eid, "__next__") else 0
    return end, busy, events
