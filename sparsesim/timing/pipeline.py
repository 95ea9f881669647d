"""Pipeline stages: the building block the SM model is made of.

A stage takes work items from its inbox (an item is the cycle at which its data
is ready), occupies a set of hardware units for the item, and hands the item on
to its outbox ``latency`` cycles after the last unit finished.  Units are either

* *shared ports* (``Port``: a SimPy ``Resource`` with a throughput, such as the DRAM
  channel used by every SM, or one SM's shared-memory banks used by both the fill
  and the operand reads), held first-come first-served, or
* *private units* (the SM's metadata decoder, multiplexers, MAC array) that only
  this stage drives, so they need no arbitration.

The units of one stage work *cut-through*: data streams through them at fine
granularity (cache lines, warp instructions), so each unit is busy for its own
occupancy concurrently and the item takes as long as the slowest unit - the
iteration's bottleneck - plus the pipeline latency.  Successive items overlap:
while item i is in flight for its latency, item i+1 already occupies the units.
``END`` flows through after the last item.
"""

from __future__ import annotations

import simpy

END = None


class Port:
    """A shared hardware port of ``bytes_per_cycle`` (or work units per cycle)."""

    def __init__(self, env, name, per_cycle, latency=0.0):
        self.env = env
        self.name = name
        self.per_cycle = float(per_cycle)
        self.latency = float(latency)
        self.resource = simpy.Resource(env, capacity=1)

    def cycles_for(self, amount) -> float:
        return amount / self.per_cycle


def hold(env, port, cycles, stats, key):
    """Occupy ``port`` for ``cycles`` (queueing first-come first-served)."""
    req = port.resource.request()
    yield req
    yield env.timeout(cycles)
    port.resource.release(req)
    stats[key] += cycles


class Stage:
    """Per item: hold ``shared`` ports and ``private`` units concurrently, then ``latency``.

    ``shared``: list of (Port, cycles, stat key); ``private``: list of (cycles, stat key).
    ``on_item(stage)`` runs when an item leaves the units (before its latency).
    """

    def __init__(self, env, name, inbox, outbox, shared=(), private=(), latency=0.0,
                 stats=None, on_item=None):
        self.env = env
        self.name = name
        self.inbox = inbox
        self.outbox = outbox
        self.shared = [(p, float(c), k) for p, c, k in shared if c > 0]
        self.private = [(float(c), k) for c, k in private if c > 0]
        self.private_cycles = max((c for c, _ in self.private), default=0.0)
        self.latency = float(latency)
        self.stats = stats if stats is not None else {}
        self.on_item = on_item
        self.done = 0
        self.process = env.process(self.run())

    def run(self):
        env = self.env
        stats = self.stats
        shared, private, pc = self.shared, self.private, self.private_cycles
        while True:
            ready = yield self.inbox.get()
            if ready is END:
                if self.outbox is not None:
                    self.outbox.put(END)
                return
            if ready > env.now:
                yield env.timeout(ready - env.now)
            if len(shared) == 0:
                if pc > 0:
                    yield env.timeout(pc)
            elif len(shared) == 1 and pc == 0:
                p, c, k = shared[0]
                yield from hold(env, p, c, stats, k)
            else:
                events = [env.process(hold(env, p, c, stats, k)) for p, c, k in shared]
                if pc > 0:
                    events.append(env.timeout(pc))
                yield simpy.AllOf(env, events)
            for c, k in private:
                stats[k] += c
            self.done += 1
            if self.on_item is not None:
                self.on_item(self)
            if self.outbox is not None:
                self.outbox.put(env.now + self.latency)


def store(env):
    return simpy.Store(env)
