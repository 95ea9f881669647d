"""The timing engine: SM groups of pipelined units, scheduled in waves, with fast-forward.

Composition (SCALE-Sim style: the compute model emits demands, the memory system is
injected):

* the compute model (:mod:`sparsesim.timing.workload`) turns a GEMM, a pattern and a
  tile shape into per-iteration demands of one thread block (CTA), the per-SM unit
  cycles (active tensor cores, Little's law on MMA issue) and a wave schedule with the
  DRAM bytes each wave reads;
* the memory system (:class:`MemorySystem`: DRAM channel + L2, shared by all SMs) is
  built per wave and handed to the SM groups; any factory ``(env, arch)`` giving an
  object with ``dram`` and ``l2`` :class:`~sparsesim.timing.pipeline.Port` objects
  (``cycles_for``, ``reserve``, ``latency``) can replace it (``memory_system=``);
* each :class:`SmGroup` stands for ``sms`` identical SMs in lockstep, each running
  ``ctas`` CTAs whose iterations interleave through the SM's units, a chain that
  reads like the hardware::

      slot --> fetch [DRAM | L2] --> smem [fill | operand reads]
           --> metadata decode --> multiplexers --> MAC array (frees the slot)
           --> accumulators --> stores (posted; acknowledged by L2 at the kernel's end)

Global ports (DRAM, L2) see the bytes of all ``sms`` SMs; an item stands for one of
them, whose own share of a request is delivered first (the other SMs' traffic delays it
through the port's backlog), except at the last iteration (the last SM).  The C tiles
of a wave are written back while the next wave runs (its global demand carries them).

Fast-forward (mode ``"statistical"``): inside a wave, every group repeats the same
iteration, so after the pipeline fills the system becomes periodic.  The
:class:`FastForward` controller records, at each issued iteration of each group, the
time, its counters and busy cycles and its state relative to now (slot release
times, unit and port backlogs); when the last windows of L iterations are identical
the state after a window is the state before it shifted by the window's period, and
the controller skips whole windows (leaving ``(stages + 2) x CTAs`` iterations to
run), adding their time to an offset and their counts to the statistics, so the drain
runs exactly.  Waves are separated by a barrier, so a wave's time depends only on its
specification: identical full waves are simulated once (the middle ones with their
DRAM demand averaged), and the first and last (partial) waves run exactly.  Mode
``"full"`` (:mod:`.full`) shares none of these simplifications: every SM and CTA on its
own, no waves, every event.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from math import ceil

import simpy

from .buffers import L2Cache, SharedMemory
from .decode import MetadataDecoder
from .dram import DramChannel
from .mac import Accumulators, MacArray
from .mux import OperandMux
from .pipeline import END, Fetch, Unit, store
from .workload import sm_unit_cycles

UNITS = ("tensor", "decode", "mux", "smem", "l2", "dram")
SM_LOCAL = ("tensor", "decode", "mux", "smem")


class MemorySystem:
    """DRAM channel and L2 shared by every SM of the chip."""

    def __init__(self, env, arch):
        self.dram = DramChannel.from_arch(env, arch)
        self.l2 = L2Cache.from_arch(env, arch)


class SmGroup:
    """``sms`` SMs in lockstep, each running ``ctas`` CTAs of ``k_iters`` main-loop iterations
    (``sms = ctas = 1`` with shared ``ports``: one CTA of an SM whose units other CTAs share).

    An item is one iteration of one CTA (of each of the ``sms`` SMs): the CTAs of an SM
    interleave their iterations through the SM's units, each CTA with its own ``stages``
    shared-memory slots.  A chain of units per item (see :mod:`.pipeline`)::

        slot --> fetch [DRAM | L2]                          whole stage, DRAM/L2 latency
             --> smem [fill | operand reads]                cut-through from here
             --> metadata decode --> multiplexers           sparse datapaths only
             --> MAC array (frees the slot) --> accumulators --> stores

    ``cycles``: (MAC, decode, mux) busy cycles per item, numbers or callables.
    ``ports``: None - the chain owns its SM-local units (lockstep groups: nothing else uses
    them), so it drives them directly, one event per item; or (decoder, mux, tensor) Ports
    shared with the SM's other CTAs - the units then run as SimPy processes.
    """

    def __init__(self, env, plan, mem, smem, sms, ctas, dram_bytes_per_cta_iter, c_bytes_per_cta,
                 cycles, ports=None, observe=None, start_delay=0.0, stats=None, l2_bytes_per_cta_iter=None,
                 final=True):
        self.env = env
        self.mem, self.smem = mem, smem
        self.sms, self.ctas = sms, ctas
        self.total = plan.k_iters * ctas
        self.slots = plan.stages * ctas
        self.issued = 0
        self.stats = stats if stats is not None else defaultdict(float)
        d, lat = plan.demand, plan.latency
        st = self.stats
        self.accumulators = Accumulators(env, smem, mem.l2, ctas * c_bytes_per_cta, sms * ctas * c_bytes_per_cta,
                                         lat["mma"], final, sms)
        dram_bytes = sms * dram_bytes_per_cta_iter  # the global units see every SM's bytes
        l2_bytes = sms * (d.l2_bytes if l2_bytes_per_cta_iter is None else l2_bytes_per_cta_iter)
        self.fetch = Fetch([(mem.dram, mem.dram.cycles_for(dram_bytes), "dram", sms),
                            (mem.l2, mem.l2.cycles_for(l2_bytes), "l2", sms)],
                           mem.dram.latency if dram_bytes > 0 else mem.l2.latency, st, self.total)
        mac_c, dec_c, mux_c = cycles
        dec_port, mux_port, mac_port = ports or (None, None, None)
        # the arriving stage is written into shared memory (fill), then the warps read it
        units = [Unit("smem", smem.cycles_for(d.smem_port_bytes), smem.latency, st, "smem", port=smem,
                      setup=smem.cycles_for(d.smem_fill_bytes))]
        if d.decode_cycles or d.reencode_cycles:
            units.append(MetadataDecoder(dec_c, lat["decode"], st, dec_port))
        if d.mux_cycles:
            units.append(OperandMux(mux_c, lat["mux"], st, mux_port))
        units.append(MacArray(mac_c, lat["mma"], st, mac_port))
        self.units = units
        self.observe = observe
        self.start_delay = start_delay
        self.free = []  # cycles the shared-memory slots free (owned chains)
        self.finished = env.process(self._run_shared() if ports else self._run_owned())

    def _run_owned(self):
        env, fetch, units = self.env, self.fetch, self.units
        if self.start_delay:
            yield env.timeout(self.start_delay)
        free = self.free = [env.now] * self.slots
        mac = units[-1]
        while self.issued < self.total:
            t = heapq.heappop(free)
            if t > env.now:
                yield env.timeout(t - env.now)
            first = last = fetch.request(env.now)
            for u in units:
                first, last = u.serve(first, last)
            heapq.heappush(free, mac.end)  # the MMAs have consumed the stage: its slot frees
            self.issued += 1
            if self.observe is not None:
                self.observe(self)
        done = max(free)
        if done > env.now:
            yield env.timeout(done - env.now)
        yield from self.accumulators.drain(self.stats, self.fetch.spread)

    def _run_shared(self):
        env, units = self.env, self.units
        q = [store(env) for _ in range(len(units) + 2)]
        slots = simpy.Container(env, capacity=self.slots, init=self.slots)
        env.process(self.fetch.run(env, q[0], q[1]))
        procs = [env.process(u.run(env, q[i + 1], q[i + 2] if i + 1 < len(units) else None,
                                   on_item=(lambda _u: slots.put(1)) if i + 1 == len(units) else None))
                 for i, u in enumerate(units)]
        if self.start_delay:
            yield env.timeout(self.start_delay)
        while self.issued < self.total:
            yield slots.get(1)
            self.issued += 1
            q[0].put((env.now, env.now))
        q[0].put(END)
        yield procs[-1]
        yield from self.accumulators.drain(self.stats)

    def counters(self):
        return (self.issued, self.fetch.done) + tuple(u.done for u in self.units)

    def advance(self, periods, dc):
        """Skip ``periods`` periods of counter increments ``dc`` (fast-forward)."""
        self.issued += periods * dc[0]
        self.fetch.done += periods * dc[1]
        for u, c in zip(self.units, dc[2:]):
            u.done += periods * c

    def queue_state(self, now):
        """The chain's state relative to now: (backlogs of the global DRAM and L2 ports,
        slot release times and backlogs of the SM's own units)."""
        own = sorted(t - now for t in self.free)
        own += [u.free_at - now for u in self.units] + [self.smem.free_at - now]
        shared = [p.free_at - now for p in (self.mem.dram, self.mem.l2)]
        return (tuple(round(max(x, 0.0), 6) for x in shared), tuple(round(max(x, 0.0), 6) for x in own))


SHARED_PORTS = ("dram", "l2")  # ports every SM shares (the others are per SM)


class FastForward:
    """Detects the periodic steady state of a wave and skips whole periods.

    Each group is watched at each issued iteration: it is periodic when its last
    ``WINDOWS`` windows of L iterations (L = 1..MAX_WINDOW) took the same time, did the
    same work (every counter and unit busy time), the global ports' backlogs repeated
    and no part of its own state (slot release times, unit backlogs relative to now)
    grew.  When every running group
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
        self.drain_ok = False

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
        self.drain_ok = sum(1 for x in self.groups if x.issued < x.total) <= 1
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
        tol = 1e-9 if strict else self.LOOSE
        n_h = len(h)
        now = h[-1][0]
        for L in range(1, min(self.MAX_WINDOW, (n_h - 1) // W) + 1):
            # cheap test first: W windows of equal length
            p0 = now - h[-1 - L][0]
            eps = tol * max(1.0, p0)
            if any(abs(h[-1 - i * L][0] - h[-1 - (i + 1) * L][0] - p0) > eps for i in range(1, W)):
                continue
            if strict and self._growing(h[-1 - L][3], h[-1][3], self.drain_ok):  # the last window first
                continue
            pts = [h[-1 - i * L] for i in range(W, -1, -1)]
            if self._periodic(pts, tol, strict, self.drain_ok):
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
    def _periodic(pts, tol, strict, drain_ok=False):
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
        return not any(FastForward._growing(a[3], b[3], drain_ok) for a, b in zip(pts[:-1], pts[1:]))

    @staticmethod
    def _growing(before, after, drain_ok=False):
        """True when the state changed over a window in a way that may change what follows:
        the global ports' backlogs (shared with other SMs) differ, or a part of the SM's own
        state (slot release times, its units' backlogs, relative to now) changed - or, when
        ``drain_ok`` (the only running group: nothing couples to its phase), grew.  A unit
        running ahead of the MAC array empties its queue slowly while the iteration times
        already repeat, and earlier data never makes a result later (the chain is a
        max-plus system)."""
        if before[0] != after[0] or len(before[1]) != len(after[1]):
            return True
        if not drain_ok:
            return before[1] != after[1]
        return any(b - a > 1e-6 for a, b in zip(before[1], after[1]))

    def _try_skip(self):
        running = [g for g in self.groups if g.issued < g.total]
        if not running or any(id(g) not in self.period for g in running):
            return
        # the slowest group: the one with the most time left at its periodic rate
        def time_left(g):
            T, dc = self.period[id(g)][:2]
            return (g.total - g.issued) / dc[0] * T if dc[0] else float("inf")

        # the periods found group by group (loose ones over short windows of a long coupled
        # hyperperiod) must together fit the shared ports: a skip may not claim more DRAM or
        # L2 busy time than it spans, or the wave would end early with a port over 100 % busy
        if any(self.period[id(g)][0] <= 0 for g in running):
            return
        for u in SHARED_PORTS:
            ui = UNITS.index(u)
            if sum(self.period[id(g)][2][ui] / self.period[id(g)][0] for g in running) > 1.0 + 1e-9:
                return
        ref = max(running, key=time_left)
        T_ref, dc_ref, _, strict_ref = self.period[id(ref)]
        if dc_ref[0] <= 0 or T_ref <= 0:
            return
        # span D: whole windows of ref, leaving every group at least `margin` iterations
        D = None
        jmax = {}
        for g in running:
            T, dc = self.period[id(g)][:2]
            if dc[0] <= 0:
                return
            jmax[id(g)] = (g.total - g.issued - self.margin * g.ctas) // dc[0]
            if jmax[id(g)] < 1:
                return
            span = jmax[id(g)] * T
            D = span if D is None else min(D, span)
        J_ref = int(D // T_ref)
        if J_ref < 1:
            return
        D = J_ref * T_ref
        for g in running:
            T, dc, ds = self.period[id(g)][:3]
            # other groups skip the whole periods that cover D (they end up at most one of their
            # periods ahead, never behind, so none of them overtakes ref's exact end)
            J = J_ref if g is ref else min(jmax[id(g)], ceil(D / T - 1e-9))
            if J < 1:
                continue
            g.advance(J, dc)
            for ui, u in enumerate(UNITS):
                g.stats[u] += J * ds[ui]
            self.skipped += J * dc[0] * g.sms
        self.offset += D
        for g in self.groups:
            self.hist[id(g)].clear()
        self.period.clear()


def simulate_wave(plan, wave, fast_forward=True, scales=None, memory_system=MemorySystem):
    """Cycles of one wave, per-unit busy cycles (SM-local ones averaged over all SMs),
    events processed and iterations skipped."""
    env = simpy.Environment()
    mem = memory_system(env, plan.arch)
    ff = FastForward(env, enabled=fast_forward, margin=plan.stages + 2)
    # the previous wave's C goes out through L2 and DRAM while this wave runs
    carried = wave.carried_write_bytes / (wave.ctas * plan.k_iters)
    dram_per = wave.dram_read_bytes / (wave.ctas * plan.k_iters) + carried
    l2_per = plan.demand.l2_bytes + carried
    c_per = wave.c_bytes / wave.ctas
    scales = list(scales) if scales else [1.0] * len(wave.groups)
    order = sorted(range(len(wave.groups)), key=lambda i: -wave.groups[i][1])
    groups = [wave.groups[i] for i in order]
    scales = [scales[i] for i in order]
    objs = []
    for i, (sms, ctas) in enumerate(groups):
        cycles = [c * scales[i] for c in sm_unit_cycles(plan, 1, ctas)]
        smem = SharedMemory(env, plan.arch.sm.shared_memory_bytes_per_cycle, plan.latency["smem"])
        obj = SmGroup(env, plan, mem, smem, sms, ctas, dram_per, c_per, cycles,
                      observe=ff.observe, start_delay=plan.arch.launch.cta_launch_cycles,
                      l2_bytes_per_cta_iter=l2_per, final=wave.last)
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
        it = max(*sm_unit_cycles(plan, per_sm),
                 per_sm * (d.smem_fill_bytes + d.smem_port_bytes) / arch.sm.shared_memory_bytes_per_cycle,
                 w.ctas * d.l2_bytes / arch.l2.bytes_per_cycle,
                 w.dram_read_bytes / plan.k_iters / dram_bpc)
        lat = plan.latency
        fill = lat["dram"] + lat["l2"] + lat["smem"] + lat["decode"] + lat["mux"] + lat["mma"]
        total += count * (plan.k_iters * it + fill + w.c_bytes / dram_bpc)
    return total
