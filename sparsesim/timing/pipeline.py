"""Pipeline building blocks the SM model is made of.

Work flows as *items* (one main-loop iteration of one CTA, on one SM or on each SM of a
lockstep group) from unit to unit.  An item is the pair ``(first, last)``: the cycles at
which its first and its last piece of data are available to the next unit.

* :class:`Port` - a shared hardware port (the DRAM channel every SM uses, one SM's
  shared-memory banks used by the fills, the operand reads and the epilogue, or in mode
  "full" one SM's decoders, multiplexers and tensor cores shared by its CTAs): a
  first-come first-served timeline of ``per_cycle`` bytes (or work units) per cycle.
* :class:`Unit` - one pipelined unit working *cut-through*: it starts on an item when the
  item's first data is there and it is free, is busy ``cycles`` (its throughput), cannot
  finish before the item's last data arrived, and passes the first piece on ``latency``
  cycles after it started and the last piece ``latency`` cycles after it finished.
  Chained units therefore overlap on one item (warp instructions stream through the
  operand reads, the index decoder, the multiplexers and the MAC array) and successive
  items overlap in every unit; each latency shows once in the fill of a chain and once
  in its drain.  ``setup`` is store-and-forward work done first (a whole shared-memory
  stage is written before the warps may read it).  A unit either runs as a SimPy process
  between two stores (:meth:`Unit.run`, used where its port is shared with other
  chains) or is driven directly (:meth:`Unit.serve`) by a chain that owns it: the same
  timing rule, without events.
* :class:`Fetch` - the tile loads: requests to several shared ports at once (DRAM and
  L2 bandwidth); the item is handed on whole (``first == last``) ``latency`` after the
  slowest port delivered, because a CTA waits for its whole stage
  (``cp.async.wait_group`` + barrier) before computing on it.  Loads stay outstanding:
  the next request does not wait for this one.

``END`` flows through stores after the last item.
"""

from __future__ import annotations

import simpy

END = None


class Port:
    """A shared hardware port of ``per_cycle`` bytes (or work units) per cycle, FIFO.

    A port is a timeline: a request at time ``t`` for ``cycles`` starts when the port
    is free (``free_at``) and keeps it busy ``cycles``.  Requests are made when their
    data is ready (in simulated-time order), so the reservation equals a FIFO queue
    without its events.
    """

    def __init__(self, env, name, per_cycle, latency=0.0):
        self.env = env
        self.name = name
        self.per_cycle = float(per_cycle)
        self.latency = float(latency)
        self.free_at = 0.0

    def cycles_for(self, amount) -> float:
        return amount / self.per_cycle

    def reserve(self, cycles, at=None):
        """(start, end) of ``cycles`` of service requested at ``at`` (default: now)."""
        start = max(self.env.now if at is None else at, self.free_at)
        self.free_at = start + cycles
        return start, self.free_at

    def backlog(self) -> float:
        """Cycles of service already committed beyond now."""
        return max(0.0, self.free_at - self.env.now)


def hold(env, port, cycles, stats, key):
    """Occupy ``port`` for ``cycles`` (queueing first-come first-served), until done."""
    _, end = port.reserve(cycles)
    stats[key] += cycles
    yield env.timeout(end - env.now)


class Unit:
    """A pipelined unit: per item busy ``cycles``, output ``latency`` later, cut-through.

    ``cycles``: a number, or a callable returning the busy cycles of the next item.
    ``port``: a shared :class:`Port` serving the unit's work, or None for a private unit.
    ``setup``: store-and-forward cycles done before any of the item can go on.
    Busy cycles are added to ``stats[key]``; ``done`` counts items; ``end`` is the cycle the
    last served item leaves the unit.
    """

    def __init__(self, name, cycles, latency=0.0, stats=None, key=None, port=None, setup=0.0):
        self.name = name
        self.cycles = cycles if callable(cycles) else float(cycles)
        self.latency = float(latency)
        self.stats = stats if stats is not None else {}
        self.key = key or name
        self.port = port
        self.setup = float(setup)
        self.free_at = 0.0
        self.end = 0.0
        self.done = 0

    def serve(self, first, last):
        """Timing of one item whose data is available from ``first`` to ``last``; returns
        the (first, last) of its output."""
        c = (self.cycles() if callable(self.cycles) else self.cycles) + self.setup
        if self.port is not None:
            start, end = self.port.reserve(c, at=max(first, self.free_at))
        else:
            start = max(first, self.free_at)
            end = start + c
        end = max(end, last)
        self.free_at = self.end = end
        self.stats[self.key] += c
        self.done += 1
        lat = self.latency
        return start + self.setup + lat, end + lat

    def run(self, env, inbox, outbox, on_item=None):
        """The unit as a SimPy process between two stores (generator)."""
        while True:
            item = yield inbox.get()
            if item is END:
                if outbox is not None:
                    outbox.put(END)
                return
            first, last = item
            if first > env.now:
                yield env.timeout(first - env.now)
            out = self.serve(env.now, last)
            if outbox is not None:  # the first piece is on its way
                outbox.put(out)
            if self.end > env.now:
                yield env.timeout(self.end - env.now)
            if on_item is not None:
                on_item(self)


class Fetch:
    """Tile loads of a chain: ``shared`` = [(Port, cycles, stat key, members), ...].

    ``members`` > 1: the request stands for that many identical SMs in lockstep, which the
    port serves one after the other, interleaved in reality with the others' requests;
    an item stands for one member, whose own share is delivered ``cycles / members`` after
    the request's start (the rest of the request is other SMs' traffic, which delays this
    SM only through the port's backlog), except the chain's last item (``total``-th), which
    waits for the last member.
    """

    def __init__(self, shared, latency, stats, total=None):
        self.shared = [(p, float(c), k, m) for p, c, k, m in shared if c > 0]
        self.latency = float(latency)
        self.stats = stats
        self.total = total
        self.done = 0
        self.spread = 0.0  # last item: cycles between the first and the last member's data

    def request(self, now):
        """Issue one item's loads at ``now``; returns the cycle its stage is ready."""
        last = self.total is not None and self.done == self.total - 1
        delivered = now
        for p, c, k, members in self.shared:
            start, _ = p.reserve(c, at=now)
            share = 1.0 if last or members <= 1 else 1.0 / members
            if start + c * share > delivered:
                delivered = start + c * share
                self.spread = c * (1.0 - 1.0 / members) if last else 0.0
            self.stats[k] += c
        self.done += 1
        return delivered + self.latency

    def run(self, env, inbox, outbox):
        """The fetch as a SimPy process between two stores (generator)."""
        while True:
            item = yield inbox.get()
            if item is END:
                outbox.put(END)
                return
            if item[1] > env.now:
                yield env.timeout(item[1] - env.now)
            r = self.request(env.now)
            outbox.put((r, r))


def store(env):
    return simpy.Store(env)
