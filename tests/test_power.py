"""Power-capped clock, board tables, and every dtype end to end (or refused up front)."""

from __future__ import annotations

import json

import pytest

import sparsesim
from sparsesim.arch import available_archs, derive, load_arch
from sparsesim.arch.schema import DTYPES
from sparsesim.cost import load_node, power_at, supply_at
from sparsesim.errors import InputError

GPUS = ("a100", "a100-pcie", "h100", "h100-pcie", "l40s", "rtx4090", "rtx5080", "b200", "gb10")
# a board whose limit binds on a large GEMM: the A100 PCIe with a costlier tensor-core lane
CAPPED = derive("a100-pcie", {"technology.array_energy_factor": 12.0})


def test_every_shipped_gpu_has_a_board_and_its_own_technology():
    expected = {"a100": ("n7", "hbm2e"), "a100-pcie": ("n7", "hbm2e"), "h100": ("n4", "hbm3"),
                "h100-pcie": ("n4", "hbm2e"), "l40s": ("n4", "gddr6"), "rtx4090": ("n4", "gddr6x"),
                "rtx5080": ("n4", "gddr7"), "b200": ("n4p", "hbm3e"), "gb10": ("n3", "lpddr5x")}
    for name, (node, dram) in expected.items():
        a = load_arch(name)
        assert a.board is not None and a.board.power_limit_w > 0, name
        assert (a.technology.node, a.technology.dram) == (node, dram), name
    for name, path in available_archs().items():
        a = load_arch(path)
        if a.kind == "gpu":
            assert a.board is not None, f"{name}: no [board] table"


# data rate per pin over the memory clock, per DRAM technology (as TechPowerUp quotes them: HBM and
# LPDDR double data rate; GDDR6 8x, GDDR6X and GDDR7 16x the listed clock); bus bits per channel
PER_CLOCK = {"hbm2e": 2, "hbm3": 2, "hbm3e": 2, "lpddr5x": 2, "gddr6": 8, "gddr6x": 16, "gddr7": 16}
BUS_BITS = {"hbm2e": 512, "hbm3": 512, "hbm3e": 512, "lpddr5x": 16, "gddr6": 32, "gddr6x": 32, "gddr7": 32}


@pytest.mark.parametrize("name", GPUS)
def test_memory_clock_gives_the_cited_bandwidth(name):
    a = load_arch(name)
    tech = a.technology.dram
    gbps = a.dram.channels * BUS_BITS[tech] * a.board.memory_clock_mhz * 1e6 * PER_CLOCK[tech] / 8 / 1e9
    assert gbps == pytest.approx(a.dram.bandwidth_gbps, rel=0.02)


def test_clock_is_the_ceiling_when_under_the_limit_and_power_is_reported():
    r = sparsesim.simulate("a100", 4096, 4096, 4096, "fp16", "dense")
    assert r.clock_limit == "clock" and r.clock_mhz == pytest.approx(1410.0)
    assert r.power_w <= r.power_limit_w == 400.0
    assert r.power_w == pytest.approx(r.boost_power_w)
    d = json.loads(r.to_json())
    for key in ("clock_mhz", "power_w", "power_limit_w", "vdd_v", "clock_limit"):
        assert d[key] == getattr(r, key)


@pytest.mark.parametrize("pattern", ["dense", "2:4"])
def test_power_at_the_chosen_clock_meets_the_limit(pattern):
    r = sparsesim.simulate(CAPPED, 8192, 8192, 8192, "fp16", pattern)
    assert r.clock_limit == "power" and r.clock_mhz < 1410.0
    assert r.boost_power_w > 300.0
    assert r.power_w == pytest.approx(300.0, rel=1e-4) and r.power_w <= 300.0 + 1e-6
    assert r.vdd_v < 0.7  # a lower clock runs at a lower supply (the node's delay law)
    # the same kernel unconstrained: same work, shorter time
    free = sparsesim.simulate(derive(CAPPED, {"board.power_limit_w": 1000.0}), 8192, 8192, 8192, "fp16", pattern)
    assert free.clock_mhz == pytest.approx(1410.0) and free.seconds < r.seconds
    assert free.actions["multiplies"] == r.actions["multiplies"]


def test_clock_and_time_are_monotonic_in_the_limit():
    clocks, times = [], []
    for limit in (150.0, 200.0, 250.0, 300.0, 350.0, 400.0):
        r = sparsesim.simulate(derive(CAPPED, {"board.power_limit_w": limit}), 4096, 4096, 4096, "fp16", "2:4")
        assert r.power_w <= limit * (1 + 1e-6) or r.clock_limit == "floor"
        clocks.append(r.clock_mhz)
        times.append(r.seconds)
    assert clocks == sorted(clocks) and times == sorted(times, reverse=True)
    assert clocks[0] < clocks[-1]


def test_power_at_rises_with_the_clock_and_the_supply_follows_the_delay_law():
    r = sparsesim.simulate("a100", 4096, 4096, 4096, "fp16", "dense")
    a = load_arch("a100")
    ps = [power_at(a, r, f) for f in (700.0, 1000.0, 1200.0, 1410.0)]
    assert ps == sorted(ps) and ps[-1] == pytest.approx(r.power_w, rel=1e-6)
    n7 = load_node("n7")
    v = supply_at(n7, 0.7, 0.9)
    # Stillmaker & Baas HP7 delay: D(v) = D(0.7) / 0.9; by hand from their coefficients
    d = lambda x: ((-28.58 * x + 76.6) * x - 70.26) * x + 24.69  # noqa: E731
    assert d(v) == pytest.approx(d(0.7) / 0.9, rel=1e-6)
    assert 0.6 < v < 0.7
    assert supply_at(n7, 0.7, 0.5) == pytest.approx(0.6)  # the supply floor: below it only the clock falls
    assert supply_at(n7, 0.7, 1.1) > 0.7


def test_memory_bound_kernels_keep_their_dram_time_under_a_lower_clock():
    base = derive("a100", {"technology.array_energy_factor": 12.0, "board.power_limit_w": 120.0})
    skinny = sparsesim.simulate(base, 8192, 16, 8192, "fp16", "dense")
    free = sparsesim.simulate(derive(base, {"board.power_limit_w": 1000.0}), 8192, 16, 8192, "fp16", "dense")
    assert skinny.clock_mhz < free.clock_mhz and free.bound == "dram"
    # DRAM-bound: the time grows less than the clock falls (the DRAM's busy time does not scale)
    assert skinny.seconds / free.seconds < 0.8 * free.clock_mhz / skinny.clock_mhz


# ------------------------------------------------------------------ dtypes end to end

def test_tf32_runs_1_to_2_sparse_on_the_hardware_path():
    r = sparsesim.simulate("a100", 4096, 4096, 4096, "tf32", "1:2")
    d = sparsesim.simulate("a100", 4096, 4096, 4096, "tf32", "dense")
    assert r.datapath == "sparse" and d.datapath == "dense"
    assert d.seconds / r.seconds > 1.6  # 2x the MAC rate, tf32's 156 TFLOPS dense peak
    assert d.tops < 156.0 * 1.001
    # tf32 stores 4-byte values; 1:2 metadata is two 2-bit indices (16-bit halves) per kept value
    assert r.compulsory_bytes["a_values"] == 4096 * 4096 // 2 * 4
    assert r.compulsory_bytes["a_metadata"] == 4096 * 4096 // 2 * 4 // 8
    assert r.compulsory_bytes["c"] == 4096 * 4096 * 4  # fp32 output
    # 2:4 is not tf32's hardware pattern: re-encoded into 1:2 passes
    assert sparsesim.simulate("a100", 4096, 4096, 4096, "tf32", "2:4").datapath in ("sparse-passes", "dense-fallback")


def test_fp4_packs_two_values_per_byte_and_runs_paired_4_of_8():
    r = sparsesim.simulate("rtx5080", 4096, 4096, 4096, "fp4", "4:8")
    i8 = sparsesim.simulate("rtx5080", 4096, 4096, 4096, "int8", "2:4")
    assert r.datapath == "sparse"
    assert r.compulsory_bytes["b"] == 4096 * 4096 // 2 == i8.compulsory_bytes["b"] // 2
    assert r.compulsory_bytes["a_values"] == 4096 * 4096 // 2 // 2
    # paired 4:8: one 2-bit index per kept pair, 1 bit per kept value
    assert r.compulsory_bytes["a_metadata"] == 4096 * 4096 // 2 // 8
    assert r.compulsory_bytes["c"] == 4096 * 4096 * 2  # bf16 output
    dense = sparsesim.simulate("rtx5080", 4096, 4096, 4096, "fp4", "dense")
    assert dense.seconds < sparsesim.simulate("rtx5080", 4096, 4096, 4096, "fp8", "dense").seconds


@pytest.mark.parametrize("name", GPUS)
def test_every_dtype_runs_or_is_refused_with_the_list(name):
    a = load_arch(name)
    takes = list(a.tensor_core.dense_macs_per_cycle)
    for dtype in (*DTYPES, "fp32", "fp64"):
        if dtype in takes:
            r = sparsesim.simulate(a, 1024, 1024, 1024, dtype, "dense")
            n, m = a.sparse_pattern(dtype)
            s = sparsesim.simulate(a, 1024, 1024, 1024, dtype, f"{n}:{m}")
            assert s.datapath == "sparse" and r.seconds > 0
        else:
            with pytest.raises(InputError) as ei:
                sparsesim.simulate(a, 64, 64, 64, dtype, "dense")
            msg = str(ei.value)
            assert dtype in msg and ", ".join(takes) in msg
    if "fp32" not in takes:
        with pytest.raises(InputError, match="use dtype tf32"):
            sparsesim.simulate(a, 64, 64, 64, "fp32", "dense")


def test_tensor_core_dtypes_per_architecture():
    assert "fp8" not in load_arch("a100").tensor_core.dense_macs_per_cycle
    for name in ("h100", "l40s", "rtx4090", "rtx5080", "b200", "gb10"):
        assert "fp8" in load_arch(name).tensor_core.dense_macs_per_cycle, name
    for name in ("a100", "h100", "l40s", "rtx4090"):
        assert "fp4" not in load_arch(name).tensor_core.dense_macs_per_cycle, name
    for name in ("rtx5080", "b200", "gb10"):
        assert load_arch(name).sparse_pattern("fp4") == (4, 8), name
    for name in GPUS:
        assert load_arch(name).sparse_pattern("tf32") == (1, 2), name
    # peaks per dtype as the datasheets quote them (dense, at the tensor-peak clock)
    a = load_arch("a100")
    assert a.peak_ops("tf32") / 1e12 == pytest.approx(156.0, rel=0.01)
    assert load_arch("h100").peak_ops("tf32") / 1e12 == pytest.approx(494.7, rel=0.01)
    assert load_arch("b200").peak_ops("fp4") / 1e15 == pytest.approx(9.0, rel=0.01)
    assert load_arch("rtx5080").peak_ops("fp4", sparse=True) / 1e12 == pytest.approx(1801.0, rel=0.01)


def test_a_sparse_pattern_at_another_density_is_refused():
    with pytest.raises(sparsesim.ConfigError, match="sparse_patterns.tf32"):
        derive("a100", {"tensor_core.sparse_patterns": {"tf32": "1:4"}})


def test_cli_prints_the_clock_and_power(capsys):
    from sparsesim.cli import main

    assert main(["simulate", "--arch", "a100-pcie", "--gemm", "2048x2048x2048", "--dtype", "tf32",
                 "--pattern", "1:2"]) == 0
    out = capsys.readouterr().out
    assert "clock       1410 MHz" in out and "of the 300 W limit" in out
    assert main(["simulate", "--arch", "a100", "--gemm", "64x64x64", "--dtype", "fp8"]) == 2
    err = capsys.readouterr().err
    assert "fp16, bf16, int8, tf32" in err
