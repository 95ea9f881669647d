"""Execution-port model of an out-of-order x86 core running a micro-kernel loop.

The loop body of :mod:`sparsesim.cpu.microkernels` is unrolled ``iterations``
times and pushed through three SimPy processes that stand for the core's back end,
each advancing one clock per step:

* **allocate** (front end + rename): up to ``core.issue_width`` micro-ops per
  cycle enter the reorder buffer in program order, while the ROB
  (``rob_entries``) and the scheduler (``scheduler_entries``) have room.  An
  instruction's sources are bound to the youngest older instruction that writes
  them (register renaming: only read-after-write dependencies remain).
  Each micro-op is bound to one port of its set at allocation: the port with the
  fewest queued (bound, not yet dispatched) cycles, then the least used -- the
  load-balancing port assignment Intel's allocator performs.
* **dispatch** (schedulers): every cycle, oldest first, each waiting micro-op whose
  instruction's sources are ready issues if its port is free, and holds it for
  its occupancy (1 cycle; 2 for a 512-bit op double-pumped through a 256-bit
  pipe).  The instruction's result is ready ``latency_cycles`` after its first
  micro-op dispatched.
* **retire**: up to ``core.retire_width`` completed micro-ops leave the ROB per
  cycle, in order.

Cycles per iteration are measured in steady state: the least-squares slope of the
retirement time of each iteration's last instruction over the middle half of the
run (after the pipeline has filled, before it drains).

Alongside the simulation, three lower bounds name what limits the loop
(``bound``): the busiest port group (for every set of ports, the port-cycles of
the micro-ops that can only run there divided by the number of ports), the
loop-carried dependency recurrence (the simulation rerun with unlimited ports and
width), and the front end (micro-ops / issue width).  Not modelled: memory
latency beyond a fixed load-to-use latency (operands are L1 hits; the whole-GEMM
estimate adds cache/DRAM traffic separately), branch mispredictions (the loop
branch is predicted), store traffic.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field

from ..errors import InputError, LimitError
from .microkernels import KERNELS, Kernel, build_kernel

DEFAULT_ITERATIONS = 96
# The loop reaches its steady state within a few dozen iterations; each simulated one
# costs about a millisecond, so this bounds a call to seconds (docs/limits.md).
MAX_ITERATIONS = 10_000

# (arch, kernel body, iterations) -> PortResult; the simulation is deterministic
_RESULTS: dict = {}


@dataclass
class _Inflight:
    seq: int
    iteration: int
    op: str
    uops: tuple  # tuple[Uop]
    latency: int
    srcs: tuple  # producers (_Inflight) of the sources
    pending: list = field(default_factory=list)  # (uop, bound port) not dispatched yet
    first_dispatch: float | None = None
    ready_at: float | None = None  # result ready
    done_at: float | None = None  # all uops dispatched and result ready
    retired: bool = False


@dataclass(frozen=True)
class PortResult:
    """Steady-state timing of one micro-kernel on one core."""

    arch: str
    kernel: str
    mr: int
    nr: int
    cycles_per_iteration: float
    macs_per_iteration: int
    port_bound_cycles: float
    latency_bound_cycles: float
    frontend_bound_cycles: float
    bound: str  # "ports:<group>", "latency", "frontend" ('+'-joined when within 1%)
    port_cycles: dict  # port -> busy cycles per iteration (simulated)
    uops_per_iteration: int
    iterations: int

    @property
    def macs_per_cycle(self) -> float:
        return self.macs_per_iteration / self.cycles_per_iteration

    def to_dict(self) -> dict:
        return {
            "arch": self.arch,
            "kernel": self.kernel,
            "mr": self.mr,
            "nr": self.nr,
            "cycles_per_iteration": self.cycles_per_iteration,
            "macs_per_iteration": self.macs_per_iteration,
            "macs_per_cycle": self.macs_per_cycle,
            "bound": self.bound,
            "port_bound_cycles": self.port_bound_cycles,
            "latency_bound_cycles": self.latency_bound_cycles,
            "frontend_bound_cycles": self.frontend_bound_cycles,
            "uops_per_iteration": self.uops_per_iteration,
            "port_cycles_per_iteration": self.port_cycles,
            "iterations_simulated": self.iterations,
        }


def _uops_of(arch, op):
    ins = arch.instruction(op)
    return ins.parsed_uops(), ins.latency_cycles


class _Core:
    """One core's back end running ``iterations`` copies of a loop body: three SimPy
    processes (allocate, dispatch, retire), each advancing one clock per step."""

    def __init__(self, env, arch, kernel: Kernel, iterations: int):
        core = arch.core
        self.env = env
        self.issue_width = core.issue_width
        self.retire_width = core.retire_width
        self.rob_entries = core.rob_entries
        self.sched_entries = core.scheduler_entries
        # the body's uops and latencies, once per instruction form (validated against the arch)
        self.table = {insn.op: _uops_of(arch, insn.op) for insn in kernel.body}
        self.program = ((it, insn) for it in range(iterations) for insn in kernel.body)
        ports = core.port_list()
        self.rename: dict = {}  # register -> youngest producer
        self.rob: deque = deque()  # in-flight instructions, program order
        self.waiting: list = []  # instructions with undispatched uops, program order
        self.port_free = {p: 0 for p in ports}  # cycle at which the port is free again
        self.port_busy = {p: 0 for p in ports}  # total cycles held (for balancing and reporting)
        self.queued = {p: 0 for p in ports}  # cycles of uops bound to the port, not yet dispatched
        self.last_retire = [None] * iterations
        self.rob_uops = self.sched_uops = self.seq = self.retired = 0
        self.exhausted = False
        self.total = iterations * len(kernel.body)

    def _fits(self, n, budget):
        return not (self.rob_uops + n > self.rob_entries or self.sched_uops + n > self.sched_entries
                    or (n > budget and budget < self.issue_width))

    def _enter(self, it, insn, uops, lat):
        """Rename the sources, bind each uop to the least loaded port of its set (queued
        uops, then cycles already executed: the allocator's load balancing), enter the ROB."""
        srcs = tuple(self.rename[r] for r in insn.reads if r in self.rename)
        bound_ports = []
        for u in uops:
            p = min(u.ports, key=lambda q: (self.queued[q], self.port_busy[q]))
            self.queued[p] += u.occupancy
            bound_ports.append((u, p))
        inst = _Inflight(seq=self.seq, iteration=it, op=insn.op, uops=uops, latency=lat, srcs=srcs,
                         pending=bound_ports)
        self.seq += 1
        for r in insn.writes:
            self.rename[r] = inst
        self.rob.append(inst)
        self.waiting.append(inst)
        self.rob_uops += len(uops)
        self.sched_uops += len(uops)

    def allocate(self):
        """Front end + rename: in order, issue_width uops per cycle, while ROB/RS have room."""
        pending = None
        while True:
            budget = self.issue_width
            while budget > 0:
                if pending is None:
                    pending = next(self.program, None)
                    if pending is None:
                        self.exhausted = True
                        return
                it, insn = pending
                uops, lat = self.table[insn.op]
                if not self._fits(len(uops), budget):
                    break
                self._enter(it, insn, uops, lat)
                budget -= len(uops)
                pending = None
            yield self.env.timeout(1)

    def _issue(self, inst, now):
        """Issue the instruction's uops whose bound port is free; True when none is left."""
        left = []
        for u, p in inst.pending:
            if self.port_free[p] > now:
                left.append((u, p))
                continue
            self.port_free[p] = now + u.occupancy
            self.port_busy[p] += u.occupancy
            self.queued[p] -= u.occupancy
            self.sched_uops -= 1
            if inst.first_dispatch is None:
                inst.first_dispatch = now
                inst.ready_at = now + inst.latency
        inst.pending = left
        if left:
            return False
        inst.done_at = max(inst.ready_at, now + 1)
        return True

    def dispatch(self):
        """Schedulers: oldest first, a uop whose instruction's sources are ready issues when its
        bound port is free.  The uops of one instruction issue independently (its load-to-use
        latency is part of the instruction's latency)."""
        while True:
            now = self.env.now
            still = []
            for inst in self.waiting:
                ready = all(s.ready_at is not None and s.ready_at <= now for s in inst.srcs)
                if not (ready and self._issue(inst, now)):
                    still.append(inst)
            self.waiting[:] = still
            yield self.env.timeout(1)

    def retire(self):
        """In-order retirement of completed instructions, retire_width uops per cycle."""
        while True:
            now = self.env.now
            budget = self.retire_width
            while self.rob and budget > 0:
                inst = self.rob[0]
                if inst.done_at is None or inst.done_at > now:
                    break
                n = len(inst.uops)
                if n > budget and budget < self.retire_width:
                    break
                self.rob.popleft()
                inst.retired = True
                self.rob_uops -= n
                budget -= n
                self.retired += 1
                self.last_retire[inst.iteration] = now
            if self.exhausted and not self.rob:
                return
            yield self.env.timeout(1)


def _run(arch, kernel: Kernel, iterations: int):
    """Simulate; return (retire time of each iteration's last instruction, port busy cycles)."""
    import simpy

    env = simpy.Environment()
    core = _Core(env, arch, kernel, iterations)
    # Process order fixes the order of the stages inside one cycle: retire frees
    # ROB entries, dispatch issues ready uops, allocate fills the window.
    retiring = env.process(core.retire())
    env.process(core.dispatch())
    env.process(core.allocate())
    # watchdog: no instruction waits longer than the longest latency plus 64 cycles on average
    limit = 64 + core.total * (64 + max(lat for _, lat in core.table.values()))
    env.run(until=env.any_of([retiring, env.timeout(limit)]))
    if core.retired != core.total:  # pragma: no cover - a deadlock would be a model bug
        raise RuntimeError(f"port model did not finish {kernel.name} on {arch.name} in {limit} cycles")
    return core.last_retire, core.port_busy


def _dataflow(arch, kernel: Kernel, iterations: int):
    """Finish time of each iteration with unlimited ports and width (pure dependency recurrence)."""
    ready: dict = {}
    done = [0.0] * iterations
    for it in range(iterations):
        last = 0.0
        for insn in kernel.body:
            _, lat = _uops_of(arch, insn.op)
            start = max((ready.get(r, 0.0) for r in insn.reads), default=0.0)
            fin = start + lat
            for r in insn.writes:
                ready[r] = fin
            last = max(last, fin)
        done[it] = last
    # the finish time of an iteration is the max over its instructions; make it monotone
    for i in range(1, iterations):
        done[i] = max(done[i], done[i - 1])
    return done


def _steady_slope(times):
    """Least-squares slope of retirement time per iteration over the middle half of the run
    (skips the pipeline fill at the start and the drain at the end)."""
    n = len(times)
    lo, hi = n // 4, max(n // 4 + 2, (3 * n) // 4)
    xs = list(range(lo, hi))
    ys = [times[i] for i in xs]
    mx = sum(xs) / len(xs)
    my = sum(ys) / len(ys)
    num = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    den = sum((x - mx) ** 2 for x in xs)
    return num / den


def port_bound(arch, kernel: Kernel):
    """Lower bound from port pressure: max over port sets S of (cycles of uops confined to S)/|S|."""
    ports = arch.core.port_list()
    demand = []  # (frozenset ports, cycles)
    for insn in kernel.body:
        uops, _ = _uops_of(arch, insn.op)
        for u in uops:
            demand.append((frozenset(u.ports), u.occupancy))
    groups = sorted({d[0] for d in demand}, key=len)
    # candidate sets: unions of the uops' port sets (the bound is attained on one of them)
    cands = set(groups)
    for r in range(2, min(len(groups), 4) + 1):
        for combo in itertools.combinations(groups, r):
            cands.add(frozenset().union(*combo))
    best, best_set = 0.0, frozenset()
    for s in cands:
        load = sum(c for ps, c in demand if ps <= s)
        v = load / len(s)
        if v > best + 1e-12:
            best, best_set = v, s
    order = {p: i for i, p in enumerate(ports)}
    return best, "|".join(sorted(best_set, key=lambda p: order.get(p, 0)))


def check_iterations(iterations) -> int:
    """``iterations`` of the port model: an integer in 8 .. :data:`MAX_ITERATIONS`."""
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 8:
        raise InputError(f"iterations must be an integer in 8..{MAX_ITERATIONS}, got {iterations!r}")
    if iterations > MAX_ITERATIONS:
        raise LimitError(f"iterations = {iterations} is above the limit of {MAX_ITERATIONS} (the loop is in its "
                         "steady state long before; docs/limits.md)")
    return iterations


def simulate_kernel(arch, kernel: Kernel | str, mr: int | None = None, nr: int | None = None,
                    iterations: int = DEFAULT_ITERATIONS) -> PortResult:
    """Steady-state cycles per iteration of ``kernel`` on the core of ``arch``.

    ``arch`` is a CPU arch (name, path or :class:`~sparsesim.cpu.config.CpuArch`);
    ``kernel`` a :class:`Kernel` or a kernel name (then ``mr``/``nr`` choose the
    register blocking).  Raises :class:`InputError` if the core lacks an ISA
    extension the kernel needs.
    """
    from .config import load_cpu_arch

    arch = load_cpu_arch(arch)
    if isinstance(kernel, str):
        kw = {}
        if mr is not None:
            kw["mr"] = mr
        if nr is not None:
            kw["nr"] = nr
        kernel = build_kernel(kernel, **kw)
    elif not isinstance(kernel, Kernel):
        raise InputError(f"kernel must be a kernel name (one of {', '.join(KERNELS)}) or a Kernel, "
                         f"got {type(kernel).__name__} {kernel!r}")
    elif mr is not None or nr is not None:
        raise InputError("mr and nr choose the blocking of a kernel given by name; this Kernel is already built")
    check_iterations(iterations)
    missing = [e for e in kernel.isa if not arch.has_isa(e)]
    if missing:
        raise InputError(
            f"{arch.name} ({arch.description}) lacks {', '.join(missing)}, which kernel "
            f"{kernel.name!r} needs"
        )
    key = (arch, kernel.name, kernel.mr, kernel.nr, kernel.body, iterations)
    hit = _RESULTS.get(key)
    if hit is not None:
        return hit
    times, busy = _run(arch, kernel, iterations)
    cyc = _steady_slope(times)
    lat = _steady_slope(_dataflow(arch, kernel, iterations))
    pb, pset = port_bound(arch, kernel)
    nuops = sum(len(_uops_of(arch, i.op)[0]) for i in kernel.body)
    fe = nuops / arch.core.issue_width
    bounds = {f"ports:{pset}": pb, "latency": lat, "frontend": fe}
    top = max(bounds.values())
    bound = "+".join(k for k, v in bounds.items() if v >= top * 0.99)
    res = PortResult(
        arch=arch.name,
        kernel=kernel.name,
        mr=kernel.mr,
        nr=kernel.nr,
        cycles_per_iteration=float(cyc),
        macs_per_iteration=kernel.macs_per_iteration,
        port_bound_cycles=float(pb),
        latency_bound_cycles=float(lat),
        frontend_bound_cycles=float(fe),
        bound=bound,
        port_cycles={p: busy[p] / iterations for p in arch.core.port_list()},
        uops_per_iteration=nuops,
        iterations=iterations,
    )
    if len(_RESULTS) > 512:
        _RESULTS.clear()
    _RESULTS[key] = res
    return res
