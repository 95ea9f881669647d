"""Execution-port model of an out-of-order x86 core running a micro-kernel loop.

The loop body of :mod:`sparsesim.timing.microkernels` is unrolled ``iterations``
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

from ..errors import InputError
from .microkernels import Kernel, build_kernel

DEFAULT_ITERATIONS = 96

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


def _run(arch, kernel: Kernel, iterations: int):
    """Simulate; return (retire time of each iteration's last instruction, port busy cycles)."""
    import simpy

    core = arch.core
    ports = core.port_list()
    issue_width = core.issue_width
    retire_width = core.retire_width
    rob_entries = core.rob_entries
    sched_entries = core.scheduler_entries

    # Expand the body once (uop specs, latency per op), validate against the arch.
    table = {}
    for insn in kernel.body:
        if insn.op not in table:
            table[insn.op] = _uops_of(arch, insn.op)

    env = simpy.Environment()
    program = ((it, insn) for it in range(iterations) for insn in kernel.body)
    rename: dict = {}  # register -> youngest producer
    rob: deque = deque()  # in-flight instructions, program order
    waiting: list = []  # instructions with undispatched uops, program order
    port_free = {p: 0 for p in ports}  # cycle at which the port is free again
    port_busy = {p: 0 for p in ports}  # total cycles held (for balancing and reporting)
    queued = {p: 0 for p in ports}  # cycles of uops bound to the port, not yet dispatched
    last_retire = [None] * iterations
    state = {"rob_uops": 0, "sched_uops": 0, "seq": 0, "exhausted": False, "retired": 0}
    total = iterations * len(kernel.body)

    def allocate():
        """Front end + rename: in order, issue_width uops per cycle, while ROB/RS have room."""
        pending = None
        while True:
            budget = issue_width
            while budget > 0:
                if pending is None:
                    nxt = next(program, None)
                    if nxt is None:
                        state["exhausted"] = True
                        return
                    pending = nxt
                it, insn = pending
                uops, lat = table[insn.op]
                n = len(uops)
                if (state["rob_uops"] + n > rob_entries or state["sched_uops"] + n > sched_entries
                        or (n > budget and budget < issue_width)):
                    break
                srcs = tuple(rename[r] for r in insn.reads if r in rename)
                # bind each uop to a port now, the least loaded one of its set
                # (queued uops + cycles already executed), as an allocator does
                bound_ports = []
                for u in uops:
                    p = min(u.ports, key=lambda q: (queued[q], port_busy[q]))
                    queued[p] += u.occupancy
                    bound_ports.append((u, p))
                inst = _Inflight(seq=state["seq"], iteration=it, op=insn.op, uops=uops,
                                 latency=lat, srcs=srcs, pending=bound_ports)
                state["seq"] += 1
                for r in insn.writes:
                    rename[r] = inst
                rob.append(inst)
                waiting.append(inst)
                state["rob_uops"] += n
                state["sched_uops"] += n
                budget -= n
                pending = None
            yield env.timeout(1)

    def dispatch():
        """Schedulers: oldest first, a uop whose instruction's sources are ready issues when its
        bound port is free.  The uops of one instruction issue independently (its load-to-use
        latency is part of the instruction's latency)."""
        while True:
            now = env.now
            still = []
            for inst in waiting:
                ready = all(s.ready_at is not None and s.ready_at <= now for s in inst.srcs)
                if ready:
                    left = []
                    for u, p in inst.pending:
                        if port_free[p] > now:
                            left.append((u, p))
                            continue
                        port_free[p] = now + u.occupancy
                        port_busy[p] += u.occupancy
                        queued[p] -= u.occupancy
                        state["sched_uops"] -= 1
                        if inst.first_dispatch is None:
                            inst.first_dispatch = now
                            inst.ready_at = now + inst.latency
                    inst.pending = left
                    if not left:
                        inst.done_at = max(inst.ready_at, now + 1)
                        continue
                still.append(inst)
            waiting[:] = still
            yield env.timeout(1)

    def retire():
        """In-order retirement of completed instructions, retire_width uops per cycle."""
        while True:
            now = env.now
            budget = retire_width
            while rob and budget > 0:
                inst = rob[0]
                if inst.done_at is None or inst.done_at > now:
                    break
                n = len(inst.uops)
                if n > budget and budget < retire_width:
                    break
                rob.popleft()
                inst.retired = True
                state["rob_uops"] -= n
                budget -= n
                state["retired"] += 1
                last_retire[inst.iteration] = now
            if state["exhausted"] and not rob:
                return
            yield env.timeout(1)

    # Process order fixes the order of the stages inside one cycle: retire frees
    # ROB entries, dispatch issues ready uops, allocate fills the window.
    retiring = env.process(retire())
    env.process(dispatch())
    env.process(allocate())
    limit = 64 + total * 64  # watchdog: no instruction takes 64 cycles on average
    env.run(until=env.any_of([retiring, env.timeout(limit)]))
    if state["retired"] != total:  # pragma: no cover - a deadlock would be a model bug
        raise RuntimeError(f"port model did not finish {kernel.name} on {arch.name} in {limit} cycles")
    return last_retire, port_busy


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


def simulate_kernel(arch, kernel: Kernel | str, mr: int | None = None, nr: int | None = None,
                    iterations: int = DEFAULT_ITERATIONS) -> PortResult:
    """Steady-state cycles per iteration of ``kernel`` on the core of ``arch``.

    ``arch`` is a CPU arch (name, path or :class:`~sparsesim.arch.cpu.CpuArch`);
    ``kernel`` a :class:`Kernel` or a kernel name (then ``mr``/``nr`` choose the
    register blocking).  Raises :class:`InputError` if the core lacks an ISA
    extension the kernel needs.
    """
    from ..arch.cpu import load_cpu_arch

    arch = load_cpu_arch(arch)
    if isinstance(kernel, str):
        kw = {}
        if mr is not None:
            kw["mr"] = mr
        if nr is not None:
            kw["nr"] = nr
        kernel = build_kernel(kernel, **kw)
    if not isinstance(iterations, int) or iterations < 8:
        raise InputError(f"iterations must be an integer >= 8, got {iterations!r}")
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


# ------------------------------------------------------------------ validation helpers


def with_instructions(arch, overrides: dict, name_suffix: str = "+overrides"):
    """A copy of CPU ``arch`` with instruction rows replaced.

    ``overrides`` maps an instruction form to ``(uops, latency_cycles)``; used to
    run the same engine on another tool's port tables (e.g. llvm-mca's) so that
    differences can be traced to individual table entries.
    """
    import dataclasses

    from ..arch.cpu import CpuInstruction, load_cpu_arch

    arch = load_cpu_arch(arch)
    rows = []
    seen = set()
    for ins in arch.instructions:
        if ins.op in overrides:
            uops, lat = overrides[ins.op]
            ins = CpuInstruction(op=ins.op, uops=uops, latency_cycles=int(lat), cite="override")
            seen.add(ins.op)
        rows.append(ins)
    for op, (uops, lat) in overrides.items():
        if op not in seen:
            rows.append(CpuInstruction(op=op, uops=uops, latency_cycles=int(lat), cite="override"))
    new = dataclasses.replace(arch, name=arch.name + name_suffix, instructions=tuple(rows))
    new.check(f"overrides of {arch.name}")
    return new


def llvm_mca_cycles(asm: str, mcpu: str, executable: str = "llvm-mca", iterations: int = 400) -> float:
    """Cycles per iteration llvm-mca predicts for the loop text ``asm`` (Intel syntax).

    Runs ``executable -mcpu=MCPU -iterations=N`` and returns Total Cycles / Iterations.
    Raises :class:`InputError` when llvm-mca fails or does not know ``mcpu``.
    """
    import re
    import subprocess

    try:
        out = subprocess.run(
            [executable, "-mtriple=x86_64-unknown-linux-gnu", f"-mcpu={mcpu}", f"-iterations={iterations}",
             "-timeline=false", "-resource-pressure=false", "-instruction-info=false"],
            input=asm, capture_output=True, text=True, timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"cannot run {executable}: {exc}") from None
    if out.returncode != 0 or "is not a recognized processor" in out.stderr:
        raise InputError(f"{executable} -mcpu={mcpu} failed: {out.stderr.strip()[-400:]}")
    it = re.search(r"Iterations:\s+(\d+)", out.stdout)
    cyc = re.search(r"Total Cycles:\s+(\d+)", out.stdout)
    if not it or not cyc:
        raise InputError(f"unexpected {executable} output: {out.stdout[:400]}")
    return int(cyc.group(1)) / int(it.group(1))


# ------------------------------------------------------------------ whole GEMM


@dataclass(frozen=True)
class CpuGemm:
    """Time of a whole GEMM on one socket: the micro-kernel plus cache/DRAM traffic.

    Convention (as in :func:`sparsesim.timing.simulate`): C[m x n] = A[m x k] . B[k x n],
    A the weights (int8, possibly 2:4-compressed along k), B the activations.  In the
    micro-kernel the weights are the packed zmm operand (16 output channels = 16
    of the m rows per zmm) and the activations are broadcast, so the kernel's
    register tile covers 16*NR of m and MR of n.
    """

    arch: str
    kernel: str
    m: int
    n: int
    k: int
    cores: int
    ghz: float
    cycles_per_iteration: float  # port model, L1-resident operands
    l2_cycles_per_iteration: float  # weight + activation bytes per iteration / L2 bandwidth
    iterations_per_core: float
    compute_seconds: float
    dram_seconds: float
    seconds: float
    bound: str  # "compute" (ports), "l2", or "dram"
    dram_bytes: dict
    weight_passes: int
    macs: int

    @property
    def tops(self) -> float:
        return 2.0 * self.macs / self.seconds / 1e12

    def to_dict(self) -> dict:
        import dataclasses as _dc

        d = _dc.asdict(self)
        d["tops"] = self.tops
        return d


def weight_bytes(kernel_name: str, m: int, k: int) -> dict:
    """Bytes of the packed weights A[m x k] the kernel streams (values, metadata)."""
    if kernel_name == "fp32":
        return {"values": 4 * m * k, "metadata": 0}
    if kernel_name == "vnni-2to4":
        # 2 kept int8 values per group of 4 along k; one mask bit per dense weight
        # (the 64-bit kmovq mask of 64 weights = 2 bits per kept value, the same
        # size as the 2-bit-index hardware layout)
        return {"values": m * k // 2, "metadata": m * k // 8}
    return {"values": m * k, "metadata": 0}


def gemm_timing(arch, kernel: str, m: int, n: int, k: int, cores: int | None = None,
                ghz: float | None = None, mr: int | None = None, nr: int | None = None) -> CpuGemm:
    """Whole-GEMM estimate on one socket (``cores`` defaults to all cores of the socket).

    Model (assumptions stated in docs/ports.md):

    * compute: every core runs the register-blocked micro-kernel over its share of the
      C tiles; its cycles per iteration come from the port model (L1 hits), raised to
      the L2 -> L1 time of the weight and activation bytes of one iteration when the
      weight panel (k x 16*NR) does not fit in L1.
    * DRAM: the weights are read once per pass over the activations; a pass covers as
      many activation columns (n) as fit in half of L2 per core (``n_block``); when
      n <= n_block the weights are read once.  Activations are read once, C written
      once (int32 / fp32).
    * compute and DRAM overlap (hardware prefetch of a streaming access pattern).
    """
    from ..arch.cpu import load_cpu_arch

    arch = load_cpu_arch(arch)
    for label, v in (("m", m), ("n", n), ("k", k)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise InputError(f"GEMM dimension {label} must be a positive integer, got {v!r}")
    kern = build_kernel(kernel, **{key: val for key, val in (("mr", mr), ("nr", nr)) if val is not None})
    if k % max(kern.k_per_iteration, 1):
        raise InputError(f"k={k} must be a multiple of {kern.k_per_iteration} for kernel {kernel!r}")
    cores = arch.core.count if cores is None else cores
    if not isinstance(cores, int) or not 1 <= cores <= arch.core.count:
        raise InputError(f"cores must be an integer in 1..{arch.core.count}, got {cores!r}")
    ghz = arch.clock.avx512_all_core_turbo_ghz if ghz is None else float(ghz)
    if not ghz > 0:
        raise InputError(f"ghz must be positive, got {ghz!r}")

    port = simulate_kernel(arch, kern)
    cols = 16 * kern.nr  # weight rows (of m) per register tile
    tiles_m = -(-m // cols)
    tiles_n = -(-n // kern.mr)
    iters_per_tile = k // kern.k_per_iteration
    total_iters = tiles_m * tiles_n * iters_per_tile
    iters_per_core = total_iters / cores

    bpi = kern.bytes_per_iteration
    panel_bytes = (bpi["weights"] + bpi["metadata"]) * iters_per_tile
    l1 = arch.memory.l1d_kib * 1024
    if panel_bytes > l1 // 2:
        l2_cyc = (bpi["weights"] + bpi["metadata"] + bpi["activations"]) / arch.memory.l2_bytes_per_cycle
    else:
        l2_cyc = 0.0
    cyc = max(port.cycles_per_iteration, l2_cyc)
    compute_s = iters_per_core * cyc / (ghz * 1e9)

    wb = weight_bytes(kernel, m, k)
    act_elem = 4 if kernel == "fp32" else 1
    n_block = max(kern.mr, (arch.memory.l2_kib * 1024 // 2) // (k * act_elem))
    passes = -(-n // n_block)
    dram = {
        "weights": (wb["values"] + wb["metadata"]) * passes,
        "weight_values": wb["values"] * passes,
        "weight_metadata": wb["metadata"] * passes,
        "activations": n * k * act_elem,
        "c": 4 * m * n,
    }
    dram["total"] = dram["weights"] + dram["activations"] + dram["c"]
    dram_s = dram["total"] / (arch.memory.dram_gbps * 1e9 * arch.memory.dram_efficiency)
    seconds = max(compute_s, dram_s)
    if dram_s >= compute_s:
        bound = "dram"
    else:
        bound = "l2" if l2_cyc > port.cycles_per_iteration else "compute"
    return CpuGemm(
        arch=arch.name, kernel=kernel, m=m, n=n, k=k, cores=cores, ghz=ghz,
        cycles_per_iteration=port.cycles_per_iteration, l2_cycles_per_iteration=l2_cyc,
        iterations_per_core=iters_per_core, compute_seconds=compute_s, dram_seconds=dram_s,
        seconds=seconds, bound=bound, dram_bytes=dram, weight_passes=passes, macs=m * n * k,
    )


def sparse_crossover(arch, m: int, k: int, n_values=None, cores: int | None = None,
                     ghz: float | None = None, mr: int | None = None, nr: int | None = None) -> dict:
    """Where 2:4 weights (``vnni-2to4``) beat dense VNNI as the activation count n grows
    (both kernels with the same MR x NR blocking).

    Returns ``{"n": [...], "dense_s": [...], "sparse_s": [...], "speedup": [...],
    "sparse_wins_up_to_n": N or None}`` (speedup = dense time / 2:4 time).
    """
    if n_values is None:
        n_values = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]
    out = {"n": [], "dense_s": [], "sparse_s": [], "speedup": [], "dense_bound": [], "sparse_bound": []}
    last_win = None
    for n in n_values:
        d = gemm_timing(arch, "vnni", m, n, k, cores=cores, ghz=ghz, mr=mr, nr=nr)
        s = gemm_timing(arch, "vnni-2to4", m, n, k, cores=cores, ghz=ghz, mr=mr, nr=nr)
        out["n"].append(n)
        out["dense_s"].append(d.seconds)
        out["sparse_s"].append(s.seconds)
        out["speedup"].append(d.seconds / s.seconds)
        out["dense_bound"].append(d.bound)
        out["sparse_bound"].append(s.bound)
        if d.seconds > s.seconds:
            last_win = n
    out["sparse_wins_up_to_n"] = last_win
    return out


def simulate_cpu_gemm(arch, m, n, k, dtype="int8", pattern="dense", density=None, cores=None, ghz=None):
    """CPU counterpart of :func:`sparsesim.timing.simulate`; returns its ``SimResult``.

    int8 uses VNNI when the core has it (else the 3-instruction AVX-512 sequence);
    ``pattern="2:4"`` uses the decompress-in-register kernel; fp32 the FMA kernel.
    """
    from ..arch.cpu import load_cpu_arch
    from ..patterns import parse_pattern
    from .result import SimResult

    arch = load_cpu_arch(arch)
    pat = parse_pattern(pattern, density) if not hasattr(pattern, "kind") else pattern
    if dtype == "fp32":
        if pat.kind != "dense":
            raise InputError("the CPU model has no sparse fp32 kernel; use dtype int8 for 2:4")
        kernel = "fp32"
    elif dtype == "int8":
        if pat.kind == "dense":
            kernel = "vnni" if arch.has_isa("avx512_vnni") else "avx512-int8"
        elif pat.kind == "nm" and (pat.n, pat.m) == (2, 4):
            kernel = "vnni-2to4"
        else:
            raise InputError(f"the CPU model runs dense or 2:4 int8 weights, got pattern {pattern!r}")
    else:
        raise InputError(f"the CPU model takes dtype int8 or fp32, got {dtype!r}")
    g = gemm_timing(arch, kernel, m, n, k, cores=cores, ghz=ghz)
    cycles = g.seconds * g.ghz * 1e9
    dram_c = {"a_values": g.dram_bytes["weight_values"], "a_metadata": g.dram_bytes["weight_metadata"],
              "b": g.dram_bytes["activations"], "c": g.dram_bytes["c"], "total": g.dram_bytes["total"]}
    wb = weight_bytes(kernel, m, k)
    comp = {"a_values": wb["values"], "a_metadata": wb["metadata"], "b": g.dram_bytes["activations"],
            "c": g.dram_bytes["c"]}
    comp["total"] = sum(comp.values())
    kern = build_kernel(kernel)
    return SimResult(
        arch=arch.name, m=m, n=n, k=k, dtype=dtype, pattern=str(pattern),
        density=0.5 if kernel == "vnni-2to4" else 1.0, mode="cpu-ports", cycles=cycles,
        seconds=g.seconds, bound=g.bound,
        utilization={"compute": g.compute_seconds / g.seconds, "dram": g.dram_seconds / g.seconds},
        dram_bytes=dram_c, compulsory_bytes=comp, tops=g.tops, ops=2.0 * g.macs,
        tile={"mr": kern.mr, "nr": kern.nr, "m_per_tile": 16 * kern.nr, "n_per_tile": kern.mr},
        waves=1, ctas=g.cores, ctas_per_sm=1, datapath=f"x86 {kernel}",
        kernel_cycles=g.iterations_per_core * g.cycles_per_iteration,
    )


def _simulate_from_driver(arch, m, n, k, dtype, pattern, density=None, mode="statistical", format=None,
                          encoding=None, tile=None, a=None, b=None):
    """Adapter so ``sparsesim.simulate`` on a CPU arch lands here (statistical mode only)."""
    from ..errors import InputError

    if mode != "statistical" or a is not None or b is not None or tile is not None:
        raise InputError(f"CPU archs are simulated in statistical mode only (got mode={mode!r})")
    if format not in (None,) or encoding not in (None, "index"):
        raise InputError("CPU kernels take dense or 2:4 operands with the hardware index metadata")
    return simulate_cpu_gemm(arch, m, n, k, dtype, pattern, density)


def _register():
    from .driver import register_simulator

    register_simulator("cpu", _simulate_from_driver)


_register()
