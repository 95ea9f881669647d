"""Exec mode's engine: every SM and every CTA on its own; each CTA-iteration is an item that
carries its own work, read off the real operand (:mod:`.exectiles`), and its operands.

The structure is mode "full"'s (:mod:`.full`): CTAs go to SMs in launch order as slots free,
the CTAs of an SM share its shared-memory banks, decoders, multiplexers and tensor cores as
FIFO ports, DRAM and L2 are shared by all.  What differs is the item.  A CTA of tile
``(r, c)`` runs the items of tile row ``r`` - only the iterations its format does not skip -
each with its own bytes and work::

    slot --> fetch [DRAM | L2]            the item's encoded A bytes + its B slice (none when skipped)
         --> smem [fill | operand reads]
         --> metadata decode               its passes' indices + its non-zeros re-encoded on chip
         --> multiplexers                  its passes' routed lanes
         --> MAC array                     its passes' MMAs; it takes the item's region of A and B
         --> accumulators --> C stores     the functional MMAs of the CTA's items, in item order,
                                           accumulate; the C tile is written into the output

A unit's busy cycles for an item are the plan's per-iteration cycles (at the SM's residency
of the moment, as in mode "full") scaled by the item's work relative to the plan's mean.
DRAM bytes: the wave's reads under the schedule's reuse rules (:func:`.exectiles.dram_reads`),
spread over the wave's items by their L2 bytes.  No fast-forward: its cost grows with the
GEMM (about 20 events per item).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import simpy

from .buffers import SharedMemory
from .engine import SM_LOCAL, UNITS, MemorySystem
from .exectiles import dram_reads
from .mac import Accumulators
from .pipeline import END, Fetch, Port, Unit, store
from .workload import sm_unit_cycles


class ItemFetch(Fetch):
    """Tile loads whose DRAM and L2 bytes differ per item: ``loads[i] = (dram, l2)``."""

    def __init__(self, mem, loads, stats):
        super().__init__([], mem.l2.latency, stats, total=len(loads))
        self.mem, self.loads = mem, loads

    def request(self, now):
        dram_b, l2_b = self.loads[self.done]
        mem = self.mem
        self.shared = [(p, p.cycles_for(x), key, 1)
                       for p, x, key in ((mem.dram, dram_b, "dram"), (mem.l2, l2_b, "l2")) if x > 0]
        self.latency = mem.dram.latency if dram_b > 0 else mem.l2.latency
        return super().request(now)


class ItemUnit(Unit):
    """A unit whose (busy cycles, store-and-forward setup) come per item from ``work(i)``;
    ``after(i)`` runs when item ``i`` is served (the MAC array's functional MMA)."""

    def __init__(self, name, work, latency, stats, port, after=None):
        super().__init__(name, 0.0, latency, stats, name, port)
        self.work, self.after = work, after

    def serve(self, first, last):
        i = self.done
        self.cycles, self.setup = self.work(i)
        out = super().serve(first, last)
        if self.after is not None:
            self.after(i)
        return out


class ExecSm:
    """One SM: its shared memory, its decoder / multiplexer / tensor-core ports, its residency."""

    def __init__(self, env, plan):
        self.plan = plan
        self.smem = SharedMemory(env, plan.arch.sm.shared_memory_bytes_per_cycle, plan.latency["smem"])
        self.ports = {u: Port(env, u, 1.0) for u in ("decode", "mux", "tensor")}
        self.resident = 0
        self._cycles = {}

    def unit_cycles(self):
        """(MAC, index decode, re-encode, mux) cycles of one plan iteration at the residency of now."""
        if self.resident not in self._cycles:
            mac, dec, mux = sm_unit_cycles(self.plan, 1, self.resident)
            re = self.plan.demand.reencode_cycles
            self._cycles[self.resident] = (mac, dec - re, re, mux)
        return self._cycles[self.resident]


class ExecCta:
    """One CTA of tile (r, c) on one SM: its chain of units and its accumulators."""

    def __init__(self, env, plan, work, mem, sm, r, c, dram_factor, carried, final, stats, mma=None, out=None):
        self.env, self.plan, self.sm = env, plan, sm
        rw = work.row[r]
        self.rw, self.work = rw, work
        a = rw.a_values + rw.a_meta
        b = work.b_bytes(r, c)
        extra = carried / len(rw.iters)  # the previous CTA's C, written back during this one
        loads = list(zip((a + b) * dram_factor + extra, a + b + extra))
        fill = a + b
        reads = np.where(rw.compute, plan.demand.smem_port_bytes, 0.0)  # through the LSU port
        smem = sm.smem
        self.fetch = ItemFetch(mem, loads, stats)
        units = [ItemUnit("smem", lambda i: (smem.cycles_for(reads[i]), smem.cycles_for(fill[i])),
                          smem.latency, stats, smem)]
        d, lat = plan.demand, plan.latency
        if d.decode_cycles or d.reencode_cycles:
            units.append(ItemUnit("decode", self._decode, lat["decode"], stats, sm.ports["decode"]))
        if d.mux_cycles:
            units.append(ItemUnit("mux", lambda i: (sm.unit_cycles()[3] * rw.pass_scale[i], 0.0), lat["mux"],
                                  stats, sm.ports["mux"]))
        units.append(ItemUnit("tensor", lambda i: (sm.unit_cycles()[0] * rw.pass_scale[i], 0.0), lat["mma"],
                              stats, sm.ports["tensor"], after=self._mma if mma is not None else None))
        self.units = units
        t = plan.tile
        self.r0, self.c0 = r * t.cta_m, c * t.cta_n
        self.r1, self.c1 = self.r0 + int(work.rows[r]), self.c0 + int(work.cols[c])
        self.mma, self.out = mma, out
        self.acc = mma.accumulator(self.r1 - self.r0, self.c1 - self.c0) if mma is not None else None
        self.k_runs = []
        c_b = work.c_bytes(r, c)
        self.c_bytes = c_b
        self.accumulators = Accumulators(env, smem, mem.l2, c_b, c_b, lat["mma"], final, 1)
        self.stats = stats
        self.finished = env.process(self._run(plan.arch.launch.cta_launch_cycles))

    def _decode(self, i):
        _, dec, re, _ = self.sm.unit_cycles()
        return dec * self.rw.pass_scale[i] + re * self.rw.nnz_scale[i], 0.0

    def _mma(self, i):
        """The MAC array takes item ``i``'s operands: its K range joins the CTA's MMAs."""
        if self.rw.compute[i]:
            j = int(self.rw.iters[i])
            k0 = j * self.plan.tile.cta_k
            k1 = k0 + int(self.work.kcols[j])
            if self.k_runs and self.k_runs[-1][1] == k0:
                self.k_runs[-1][1] = k1
            else:
                self.k_runs.append([k0, k1])

    def _store(self):
        """The CTA's MMAs, in item order, into its accumulators; the C tile into the output.  The
        kernels run once per run of consecutive items (per CTA, mostly) rather than once per
        item: same bits, without the per-call packing cost of the VNNI kernels on tiny regions."""
        for k0, k1 in self.k_runs:
            self.mma.run(self.acc, self.r0, self.r1, k0, k1, self.c0, self.c1)
        self.out[self.r0:self.r1, self.c0:self.c1] = self.acc

    def _run(self, start_delay):
        env, units = self.env, self.units
        q = [store(env) for _ in range(len(units) + 2)]
        slots = simpy.Container(env, capacity=self.plan.stages, init=self.plan.stages)
        env.process(self.fetch.run(env, q[0], q[1]))
        procs = [env.process(u.run(env, q[i + 1], q[i + 2] if i + 1 < len(units) else None,
                                   on_item=(lambda _u: slots.put(1)) if i + 1 == len(units) else None))
                 for i, u in enumerate(units)]
        if start_delay:
            yield env.timeout(start_delay)
        for _ in range(len(self.rw.iters)):
            yield slots.get(1)
            q[0].put((env.now, env.now))
        q[0].put(END)
        yield procs[-1]
        yield from self.accumulators.drain(self.stats)
        if self.out is not None:  # the C tile leaves the accumulators
            self._store()


def simulate_exec(plan, work, mma=None, out=None, memory_system=MemorySystem):
    """Cycles of the kernel, per-unit busy cycles (SM-local ones averaged over the SMs), events,
    DRAM bytes by operand.  With ``mma`` (a :class:`~.execmma.FunctionalMma`) every item's MMA
    also runs on the operands and the C tiles land in ``out``."""
    arch = plan.arch
    factor, dram, (rr, cc) = dram_reads(work)
    env = simpy.Environment()
    mem = memory_system(env, arch)
    nsm, per_sm = arch.sm.count, plan.ctas_per_sm
    per_wave = nsm * per_sm
    stats = defaultdict(float)
    sms = [ExecSm(env, plan) for _ in range(nsm)]
    state = {"next": 0}

    def slot(sm):
        carried = 0.0
        while state["next"] < plan.ctas:
            t = state["next"]
            state["next"] += 1
            last = state["next"] >= plan.ctas or t + per_wave >= plan.ctas
            sm.resident += 1
            cta = ExecCta(env, plan, work, mem, sm, int(rr[t]), int(cc[t]), float(factor[t]), carried, last,
                          stats, mma, out)
            yield cta.finished
            sm.resident -= 1
            carried = cta.c_bytes

    for _ in range(per_sm):
        for sm in sms:
            env.process(slot(sm))
    env.run()
    busy = {u: stats[u] / nsm if u in SM_LOCAL else stats[u] for u in UNITS}
    eid = getattr(env, "_eid", None)
    events = next(eid) if eid is not None and hasattr(eid, "__next__") else 0
    return env.now, busy, events, dram
