"""Each timing component alone, in a tiny SimPy environment."""

from __future__ import annotations


import pytest
import simpy

from sparsesim.arch import derive, load_arch, register_kind
from sparsesim.errors import InputError
from sparsesim.timing import register_simulator, simulate
from sparsesim.timing.buffers import L2Cache, SharedMemory, StageBuffers
from sparsesim.timing.dram import DramChannel
from sparsesim.timing.pipeline import END, Stage, store
from toy_arch import ToyArch


def _feed(env, q, n):
    for _ in range(n):
        q.put(env.now)
    q.put(END)


def test_stage_is_cut_through_and_pipelined():
    env = simpy.Environment()
    dram, l2 = DramChannel(env, 10.0, 100.0), L2Cache(env, 20.0, 30.0)
    stats = {"dram": 0.0, "l2": 0.0, "tensor": 0.0}
    qi, qo = store(env), store(env)
    st = Stage(env, "fetch", qi, qo, shared=[dram.read(50), l2.read(50)], private=[(3.0, "tensor")],
               latency=dram.latency, stats=stats)
    _feed(env, qi, 4)
    env.run()
    # each item holds DRAM 5 cycles, L2 2.5, private 3 concurrently -> 5 per item, then 100 latency
    assert st.done == 4 and env.now == pytest.approx(4 * 5.0)
    assert stats == pytest.approx({"dram": 20.0, "l2": 10.0, "tensor": 12.0})
    ready = []
    while qo.items and qo.items[0] is not END:
        ready.append(qo.items.pop(0))
    assert ready == pytest.approx([105.0, 110.0, 115.0, 120.0])


def test_dram_is_shared_first_come_first_served():
    env = simpy.Environment()
    dram = DramChannel(env, 8.0, 0.0)
    stats = {"dram": 0.0}
    stages = []
    for _ in range(2):
        qi = store(env)
        stages.append(Stage(env, "s", qi, None, shared=[dram.read(80)], stats=stats))
        _feed(env, qi, 5)
    env.run()
    assert env.now == pytest.approx(2 * 5 * 80 / 8.0)  # bandwidth-bound: all bytes / rate
    assert stats["dram"] == pytest.approx(100.0)


def test_shared_memory_port_serves_fill_and_reads():
    env = simpy.Environment()
    smem = SharedMemory(env, 128.0, 29.0)
    stats = {"smem": 0.0}
    q1, q2 = store(env), store(env)
    Stage(env, "fill", q1, None, shared=[smem.fill(1280)], stats=stats)
    Stage(env, "read", q2, None, shared=[smem.read(2560)], stats=stats)
    _feed(env, q1, 3)
    _feed(env, q2, 3)
    env.run()
    assert env.now == pytest.approx(3 * (10 + 20))


def test_stage_buffers_bound_the_run_ahead():
    env = simpy.Environment()
    buf = StageBuffers(env, 2)
    issued = []

    def loader():
        for i in range(5):
            yield buf.acquire()
            issued.append((i, env.now))

    def consumer():
        for _ in range(5):
            yield env.timeout(10)
            buf.release()

    env.process(loader())
    env.process(consumer())
    env.run()
    assert [t for _, t in issued] == [0, 0, 10, 20, 30]


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
