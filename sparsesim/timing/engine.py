"""The timing engine: SM groups of pipelined units, scheduled in waves, with fast-forward.

Composition (SCALE-Sim style: the compute model emits demands, the memory system is
injected):

* the compute model (:mod:`sparsesim.timing.workload`) turns a GEMM, a pattern and a
  tile shape into per-iteration demands of one thread block (CTA) and a wave
  schedule with the DRAM bytes each wave reads;
* the memory system (:class:`MemorySystem`: DRAM channel + L2, shared by all SMs)
  is built per wave and handed to the SM groups; any factory ``(env, arch)`` giving an
  object with ``dram`` (``read(bytes)``, ``write(bytes, stats)``, ``latency``) and
  ``l2`` (``read(bytes)``, ``latency``) can replace it (``memory_system=``);
* each :class:`SmGroup` stands for ``sms`` identical SMs running ``ctas`` CTAs each
  in lockstep, as a chain of stages that reads like the hardware::

      loader --slot--> fetch [DRAM | L2 | smem fill]
             --> compute [smem read | metadata decode | mux | MAC array] (frees slot)
             --> accumulators --> write-back

Global units (DRAM, L2) see the bytes of all ``sms`` SMs; SM-local units (shared
memory, decoder, mux, tensor cores) the work of one SM.

Fast-forward (mode ``"statistical"``): inside a wave, every group repeats the same
iteration, so after the pipeline fills the system becomes periodic.  The
:class:`FastForward` controller records, at each MAC retirement of each group, the
time, every counter (items issued and retired by every stage, busy cycles of every
unit) and the queue state; when the last windows of L retirements are identical the
state after a window is the state before it shifted by the window's period, and the
controller skips whole windows (leaving ``stages + 4`` iterations to run), adding
their time to an offset and their counts to the statistics, so the drain runs
exactly.  Waves are separated by a barrier (all SMs
finish their CTAs - identical CTAs finish together), so a wave's time depends only
on its specification: identical full waves are simulated once (the middle ones
with their DRAM demand averaged), and the first and last (partial) waves run
exactly.  Mode ``"full"`` simulates every wave and every iteration.
"""

from __future__ import annotations

from collections import defaultdict

import simpy

from .buffers import L2Cache, SharedMemory, StageBuffers
from .decode import MetadataDecoder
from .dram import DramChannel
from .mac import Accumulators, MacArray
from .mux import OperandMux
from .pipeline import END, Stage, store

UNITS = ("tensor", "decode", "mux", "smem", "l2", "dram")
SM_LOCAL = ("tensor", "decode", "mux", "smem")


class MemorySystem:
    """DRAM channel and L2 shared by every SM of the chip."""

    def __init__(self, env, arch):
        self.dram = DramChannel.from_arch(env, arch)
        self.l2 = L2Cache.from_arch(env, arch)


class SmGroup:
    """``sms`` SMs, each running ``ctas`` CTAs of ``k_iters`` main-loop iterations in lockstep.

    Two stages per iteration, cut-through inside (see :mod:`.pipeline`):

    * fetch: DRAM (the wave's missed bytes) + L2 + shared-memory fill, ready one
      DRAM (or L2) latency later;
    * compute: shared-memory operand reads + metadata decoder + multiplexers + MAC
      array, then the smem + decode + mux + MMA pipeline latency.  When it leaves the
      units its operands are consumed and its stage buffer is freed.

    The accumulators drain to DRAM after the last iteration.
    """

    def __init__(self, env, plan, mem, sms, ctas, dram_bytes_per_cta_iter, c_bytes_per_cta,
                 scale=1.0, observe=None, start_delay=0.0):
        self.env = env
        self.sms, self.ctas = sms, ctas
        self.total = plan.k_iters
        self.issued = 0
        self.stats = defaultdict(float)
        d, lat = plan.demand, plan.latency
        arch = plan.arch
        smem = SharedMemory(env, arch.sm.shared_memory_bytes_per_cycle, lat["smem"])
        self.buffers = StageBuffers(env, arch.tiles.stages)
        decoder = MetadataDecoder(ctas * d.decode_cycles * scale, lat["decode"])
        mux = OperandMux(ctas * d.mux_cycles * scale, lat["mux"])
        macs = MacArray(ctas * d.mac_cycles * scale, lat["mma"])
        self.accumulators = Accumulators(env, mem.dram, sms * ctas * c_bytes_per_cta, lat["mma"])
        cl = sms * ctas  # CTAs whose bytes cross the global units
        q0, q1 = store(env), store(env)
        self.inbox = q0
        dram_bytes = cl * dram_bytes_per_cta_iter
        self.fetch = Stage(
            env, "fetch", q0, q1,
            shared=[mem.dram.read(dram_bytes), mem.l2.read(cl * d.l2_bytes), smem.fill(ctas * d.smem_fill_bytes)],
            latency=mem.dram.latency if dram_bytes > 0 else mem.l2.latency,
            stats=self.stats)
        self.observe = observe
        self.compute = Stage(
            env, "compute", q1, None,
            shared=[smem.read(ctas * d.smem_read_bytes)],
            private=[decoder.part(), mux.part(), macs.part()],
            latency=smem.latency + decoder.latency + mux.latency,
            stats=self.stats, on_item=self._retired)
        self.stages = [self.fetch, self.compute]
        self.start_delay = start_delay
        self.finished = env.process(self._run())

    def _retired(self, stage):
        # the iteration's MMAs have consumed its operands: its shared-memory stage is free
        self.buffers.release()
        if self.observe is not None:
            self.observe(self)

    def _loader(self):
        env = self.env
        if self.start_delay:
            yield env.timeout(self.start_delay)
        while self.issued < self.total:
            yield self.buffers.acquire()
            self.issued += 1
            self.inbox.put(env.now)
        self.inbox.put(END)

    def _run(self):
        self.env.process(self._loader())
        yield self.compute.process
        yield from self.accumulators.drain(self.stats)

    def counters(self):
        return (self.issued,) + tuple(s.done for s in self.stages)

    def queue_state(self, now):
        """Ready times, relative to now, of the items waiting between the stages."""
        return tuple(round(r - now, 6) if r is not None else -1.0
                     for q in (self.fetch.inbox, self.compute.inbox) for r in q.items)


class FastForward:
    """Detects the periodic steady state of a wave and skips whole periods.

    Each group is watched at its own MAC retirements: it is periodic when its last
    ``WINDOWS`` windows of L retirements (L = 1..MAX_WINDOW) took the same time, did
    the same work (every stage counter and unit busy time) and left the same queue
    state (ready times of waiting items relative to now).  When every running group
    is periodic, the controller skips a span D of whole periods of the slowest group
    (so the group that decides the wave's end stays exact); every other group skips
    the whole periods of its own that fit in D (a phase error below one of its
    periods, on a group that finishes earlier).  ``margin`` iterations always remain
    to be simulated, so drains are exact.  Several skips may happen in one wave (e.g.
    again after a faster group has finished).
    """

    MAX_WINDOW = 32
    WINDOWS = 3  # consecutive identical windows required
    LOOSE = 2e-3  # relative tolerance of the loose (hyperperiod) criterion

    def __init__(self, env, enabled=True, margin=8):
        self.env = env
        self.enabled = enabled
        self.margin = margin
        self.groups = []
        self.hist = {}
        self.period = {}
        self.offset = 0.0
        self.skipped = 0

    def attach(self, groups):
        self.groups = groups
        self.hist = {id(g): [] for g in groups}
        self.period = {}

    def _snapshot(self, g):
        now = self.env.now
        return (now, g.counters(), tuple(g.stats[u] for u in UNITS), g.queue_state(now))

    def observe(self, g):
        if not self.enabled:
            return
        h = self.hist[id(g)]
        h.append(self._snapshot(g))
        W = self.WINDOWS
        if len(h) > W * self.MAX_WINDOW + 1:
            del h[0]
        self.period.pop(id(g), None)
        found = self._find_period(h, strict=True)
        if found is None and len(h) == W * self.MAX_WINDOW + 1:
            # a group coupled to others through the shared ports may only repeat over a
            # long hyperperiod: accept windows that agree in work and, within LOOSE, in time
            found = self._find_period(h, strict=False)
        if found is not None:
            self.period[id(g)] = found
            self._try_skip()

    def _find_period(self, h, strict):
        W = self.WINDOWS
        for L in range(1, self.MAX_WINDOW + 1):
            if len(h) < W * L + 1:
                break
            pts = [h[-1 - i * L] for i in range(W, -1, -1)]
            if self._periodic(pts, 1e-9 if strict else self.LOOSE, strict):
                b, c = pts[-2], pts[-1]
                if not strict:  # use the mean window over the whole history
                    b = pts[0]
                    n = W
                else:
                    n = 1
                return ((c[0] - b[0]) / n,
                        [(z - y) // n for y, z in zip(b[1], c[1])],
                        [(z - y) / n for y, z in zip(b[2], c[2])],
                        strict)
        return None

    @staticmethod
    def _periodic(pts, tol, strict):
        """True when consecutive windows have the same length (within ``tol``), the same
        work and - if ``strict`` - the same queue state."""
        p0 = pts[1][0] - pts[0][0]
        c0 = [y - x for x, y in zip(pts[0][1], pts[1][1])]
        s0 = [y - x for x, y in zip(pts[0][2], pts[1][2])]
        for a, b in zip(pts[1:-1], pts[2:]):
            if abs((b[0] - a[0]) - p0) > tol * max(1.0, p0):
                return False
            if [y - x for x, y in zip(a[1], b[1])] != c0:
                return False
            if any(abs((y - x) - d) > tol * max(1.0, abs(d)) for x, y, d in zip(a[2], b[2], s0)):
                return False
        if not strict:
            return True
        qs = [p[3] for p in pts]
        return all(q == qs[0] for q in qs[1:])

    def _try_skip(self):
        running = [g for g in self.groups if g.issued < g.total]
        if not running or any(id(g) not in self.period for g in running):
            return
        # the slowest group: the one with the most time left at its periodic rate
        def time_left(g):
            T, dc = self.period[id(g)][:2]
            return (g.total - g.issued) / dc[0] * T if dc[0] else float("inf")

        ref = max(running, key=time_left)
        T_ref, dc_ref, _, strict_ref = self.period[id(ref)]
        if dc_ref[0] <= 0 or T_ref <= 0:
            return
        # span D: whole windows of ref, leaving every group at least `margin` iterations
        D = None
        for g in running:
            T, dc = self.period[id(g)][:2]
            if dc[0] <= 0:
                return
            jmax = (g.total - g.issued - self.margin) // dc[0]
            if jmax < 1:
                return
            span = jmax * T
            D = span if D is None else min(D, span)
        J_ref = int(D // T_ref)
        if J_ref < 1:
            return
        D = J_ref * T_ref
        for g in running:
            T, dc, ds = self.period[id(g)][:3]
            J = J_ref if g is ref else int(D // T)
            if J < 1:
                continue
            g.issued += J * dc[0]
            for si, st in enumerate(g.stages):
                st.done += J * dc[1 + si]
            for ui, u in enumerate(UNITS):
                g.stats[u] += J * ds[ui]
            self.skipped += J * dc[0] * g.sms * g.ctas
        self.offset += D
        for g in self.groups:
            self.hist[id(g)].clear()
        self.period.clear()


def simulate_wave(plan, wave, fast_forward=True, scales=None, memory_system=MemorySystem):
    """Cycles of one wave, per-unit busy cycles (SM-local ones averaged over all SMs),
    events processed and iterations skipped."""
    env = simpy.Environment()
    mem = memory_system(env, plan.arch)
    ff = FastForward(env, enabled=fast_forward, margin=plan.arch.tiles.stages + 4)
    dram_per = wave.dram_read_bytes / (wave.ctas * plan.k_iters)
    c_per = wave.c_bytes / wave.ctas
    scales = list(scales) if scales else [1.0] * len(wave.groups)
    order = sorted(range(len(wave.groups)), key=lambda i: -wave.groups[i][1])
    groups = [wave.groups[i] for i in order]
    scales = [scales[i] for i in order]
    objs = []
    for i, (sms, ctas) in enumerate(groups):
        obj = SmGroup(env, plan, mem, sms, ctas, dram_per, c_per, scale=scales[i],
                      observe=ff.observe, start_delay=plan.arch.launch.cta_launch_cycles)
        objs.append(obj)
    ff.attach(objs)
    done = simpy.AllOf(env, [g.finished for g in objs])
    env.run(until=done)
    cycles = env.now + ff.offset
    busy = defaultdict(float)
    nsm = plan.arch.sm.count
    for g in objs:
        for u in UNITS:
            if u in SM_LOCAL:
                busy[u] += g.stats[u] * g.sms / nsm
            else:
                busy[u] += g.stats[u]
    eid = getattr(env, "_eid", None)
    events = next(eid) if eid is not None and hasattr(eid, "__next__") else 0
    return cycles, dict(busy), events, ff.skipped


def estimate_cycles(plan) -> float:
    """Cheap analytical estimate (steady-state roofline per wave) used to rank tile shapes."""
    d, arch = plan.demand, plan.arch
    clock_hz = arch.clock.sustained_mhz * 1e6
    dram_bpc = arch.dram.bandwidth_gbps * 1e9 * arch.efficiency.dram / clock_hz
    total = 0.0
    for w, count in plan.waves.summary():
        per_sm = max(c for _, c in w.groups)
        it = max(per_sm * d.mac_cycles, per_sm * d.decode_cycles, per_sm * d.mux_cycles,
                 per_sm * (d.smem_fill_bytes + d.smem_read_bytes) / arch.sm.shared_memory_bytes_per_cycle,
                 w.ctas * d.l2_bytes / arch.l2.bytes_per_cycle,
                 w.dram_read_bytes / plan.k_iters / dram_bpc)
        fill = plan.latency["dram"] + plan.latency["l2"] + plan.latency["mma"]
        total += count * (plan.k_iters * it + fill + w.c_bytes / dram_bpc)
    return total
