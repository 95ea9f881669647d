"""Each timing component alone, in a tiny SimPy environment."""

from __future__ import annotations

from collections import defaultdict

import pytest
import simpy

from sparsesim.arch import derive, load_arch, register_kind
from sparsesim.errors import InputError
from sparsesim.patterns import parse_pattern
from sparsesim.timing import register_simulator, simulate
from sparsesim.timing.buffers import L2Cache, SharedMemory
from sparsesim.timing.decode import MetadataDecoder, decode_cycles
from sparsesim.timing.dram import DramChannel
from sparsesim.timing.mac import Accumulators, MacArray, issue_limited_cycles
from sparsesim.timing.mux import OperandMux, mux_cycles
from sparsesim.timing.pipeline import END, Fetch, Port, Unit, store
from sparsesim.timing.workload import build_plan, sm_unit_cycles
from toy_arch import ToyArch


def _run_chain(units, items, gap=0.0):
    """Feed ``items`` (ready at 0, gap, 2 gap, ...) through ``units`` as SimPy processes;
    return the (first, last) outputs of the last unit and the end time."""
    env = simpy.Environment()
    qs = [store(env) for _ in range(len(units) + 1)]
    for i, u in enumerate(units):
        env.process(u.run(env, qs[i], qs[i + 1]))

    def feed():
        for i in range(items):
            t = i * gap
            if t > env.now:
                yield env.timeout(t - env.now)
            qs[0].put((t, t))
        qs[0].put(END)

    env.process(feed())
    env.run()
    return [x for x in qs[-1].items if x is not END], env.now


def test_unit_is_pipelined_and_cut_through():
    stats = defaultdict(float)
    a = Unit("a", 10.0, latency=3.0, stats=stats)
    b = Unit("b", 4.0, latency=5.0, stats=stats)
    out, end = _run_chain([a, b], 4)
    # a: one item per 10 cycles; b starts 3 cycles after a started (cut-through), cannot
    # finish before a's last piece (a end + 3), then passes it on 5 cycles later
    assert out[0] == pytest.approx((0 + 3 + 5, 10 + 3 + 5))
    assert [o[1] for o in out] == pytest.approx([18, 28, 38, 48])
    assert stats == pytest.approx({"a": 40.0, "b": 16.0})
    assert a.done == b.done == 4 and end == pytest.approx(43)


def test_unit_serve_equals_its_process():
    # the same timing rule driven directly (a chain owning its units) and as processes
    def units(stats):
        return [Unit("s", 6.0, 29.0, stats, setup=2.0), MetadataDecoder(3.0, 1.0, stats),
                OperandMux(5.0, 2.0, stats), MacArray(7.0, 32.0, stats)]

    proc, _ = _run_chain(units(defaultdict(float)), 6, gap=4.0)
    direct = []
    us = units(defaultdict(float))
    for i in range(6):
        first = last = i * 4.0
        for u in us:
            first, last = u.serve(first, last)
        direct.append((first, last))
    assert [x for o in direct for x in o] == pytest.approx([x for o in proc for x in o])


def test_unit_setup_is_store_and_forward():
    u = Unit("smem", 10.0, latency=29.0, stats=defaultdict(float), setup=4.0)
    assert u.serve(0.0, 0.0) == pytest.approx((4.0 + 29.0, 14.0 + 29.0))


def test_port_is_first_come_first_served():
    env = simpy.Environment()
    p = Port(env, "dram", 8.0)
    assert p.reserve(10.0) == (0.0, 10.0)
    assert p.reserve(5.0) == (10.0, 15.0)  # queued behind the first
    assert p.reserve(1.0, at=20.0) == (20.0, 21.0)  # idle until it arrives
    assert p.cycles_for(80) == 10.0


def test_dram_is_shared_first_come_first_served():
    env = simpy.Environment()
    dram = DramChannel(env, 8.0, 100.0)
    stats = defaultdict(float)
    fetches = [Fetch([(dram, 10.0, "dram", 1)], dram.latency, stats) for _ in range(2)]
    ready = []

    def issue():
        for _ in range(5):
            for f in fetches:
                ready.append(f.request(env.now))
            yield env.timeout(1.0)

    env.process(issue())
    env.run()
    # bandwidth-bound: ten requests of 10 cycles back to back, each ready 100 later
    assert ready[-1] == pytest.approx(100 + 100.0) and stats["dram"] == pytest.approx(100.0)


def test_fetch_member_share_and_last_member():
    env = simpy.Environment()
    l2 = L2Cache(env, 100.0, 200.0)
    stats = defaultdict(float)
    f = Fetch([(l2, 64.0, "l2", 64)], l2.latency, stats, total=2)
    # a request for 64 SMs in lockstep: this SM's own share is delivered first ...
    assert f.request(0.0) == pytest.approx(1.0 + 200.0)
    # ... except at the last item, which waits for the last SM (behind the first request)
    assert f.request(0.0) == pytest.approx(128.0 + 200.0)
    assert f.spread == pytest.approx(63.0)


def test_shared_memory_serves_fill_reads_and_stores():
    env = simpy.Environment()
    smem = SharedMemory(env, 128.0, 29.0)
    l2 = L2Cache(env, 1000.0, 200.0)
    stats = defaultdict(float)
    read = Unit("smem", smem.cycles_for(2560), smem.latency, stats, "smem", port=smem,
                setup=smem.cycles_for(1280))
    assert read.serve(0.0, 0.0) == pytest.approx((10 + 29, 30 + 29))
    acc = Accumulators(env, smem, l2, sm_c_bytes=1280, c_bytes=10000, latency=32.0)
    env.process(acc.drain(stats))
    env.run()
    # MMA latency, then 10 cycles of stores behind the 30 of the read, then L2 10 + 200
    assert env.now == pytest.approx(32 + 10 + 10 + 200)
    assert stats["smem"] == pytest.approx(40.0) and stats["l2"] == pytest.approx(10.0)


def test_decoder_and_mux_throughput():
    assert decode_cycles(640, 64) == 10.0
    assert decode_cycles(640, 64, reencoded=320, reencoded_per_cycle=32) == 20.0
    assert mux_cycles(5120, 256) == 20.0 and mux_cycles(0, 256) == 0.0
    # alone in a tiny environment: a decoder of 2 cycles per item paces a chain
    out, _ = _run_chain([MetadataDecoder(2.0, 1.0, defaultdict(float))], 5)
    assert [o[1] for o in out] == pytest.approx([3, 5, 7, 9, 11])


def test_mux_latency_shows_in_fill_and_drain_only():
    def end_time(mux_latency):
        stats = defaultdict(float)
        chain = [MetadataDecoder(8.0, 1.0, stats), OperandMux(8.0, mux_latency, stats), MacArray(8.0, 32.0, stats)]
        out, end = _run_chain(chain, 20)
        return out, end

    (_, e1), (_, e2) = end_time(1.0), end_time(2.0)
    assert e2 - e1 == pytest.approx(1.0)  # one more cycle once, not per item


def test_littles_law_on_mma_issue():
    # 8 cycles per MMA, 32-cycle dependent latency: 4 independent fragments keep it busy
    assert issue_limited_cycles(800.0, 8.0, independent=4, latency=32.0) == 800.0
    assert issue_limited_cycles(800.0, 8.0, independent=2, latency=32.0) == 1600.0
    assert issue_limited_cycles(800.0, 8.0, independent=8, latency=32.0, operand_latency=128.0) == 1600.0
    assert issue_limited_cycles(0.0, 8.0, 1, 32.0) == 0.0


def test_sm_unit_cycles_idle_tensor_cores_and_latency():
    a = load_arch("a100")
    tile = [t for t in a.tiles.candidates if (t.cta_m, t.cta_n) == (64, 32)][0]  # 2 warps
    plan = build_plan(a, 4096, 32, 4096, "fp16", parse_pattern("2:4"), "index", tile)
    one = sm_unit_cycles(plan, 1)
    two = sm_unit_cycles(plan, 2)
    # one CTA of 2 warps keeps 2 of the 4 tensor cores busy: twice the cycles of the full SM
    assert one[0] == pytest.approx(2 * plan.demand.mac_cycles)
    assert two[0] == pytest.approx(2 * plan.demand.mac_cycles)  # 4 warps, 4 tensor cores
    slow = build_plan(derive(a, {"tensor_core.mma_latency_cycles": 400}), 4096, 32, 4096, "fp16",
                      parse_pattern("2:4"), "index", tile)
    # 16 fragments per CTA on 2 tensor cores: 8 x 8.9 cycles per round < 400 + 2 select cycles
    r = sm_unit_cycles(slow, 1)[0] / one[0]
    assert r == pytest.approx(402 / (8 * slow.mma.issue_cycles))


def test_deeper_pipelines_hide_latency():
    shape = (2048, 2048, 2048)
    times = [simulate(derive("a100", {"tiles.stages": s}), *shape, "fp16", "2:4", tile=(128, 128, 32)).cycles
             for s in (1, 2, 3, 4)]
    assert times[0] > times[1] > times[2] >= times[3]
    # single-buffered: every iteration waits a full DRAM round trip
    a = load_arch("a100")
    k_iters = 2048 // 32
    assert times[0] > k_iters * a.dram.latency_ns * 1.41


def test_other_kinds_dispatch_to_their_registered_model(tmp_path):
    register_kind("toysim", ToyArch)
    p = tmp_path / "t.toml"
    p.write_text('name = "t"\nkind = "toysim"\ndescription = "x"\n[core]\nlanes = 8\n')
    with pytest.raises(InputError, match="no timing model"):
        simulate(p, 8, 8, 8, "int8", "dense")
    register_simulator("toysim", lambda arch, m, n, k, dtype, pattern, **kw: ("toy", arch.core.lanes, m * n * k))
    assert simulate(p, 8, 8, 8, "int8", "dense") == ("toy", 8, 512)
    with pytest.raises(ValueError):
        register_simulator("gpu", print)
