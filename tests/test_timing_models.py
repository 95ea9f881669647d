"""Per-slice density model (checked by Monte Carlo), execution-driven mode and CLI."""

from __future__ import annotations

import json
from math import comb

import numpy as np
import pytest

from sparsesim.arch import derive
from sparsesim.cli import main
from sparsesim.errors import InputError
from sparsesim.formats import prune
from sparsesim.patterns import parse_pattern
from sparsesim.timing import simulate
from sparsesim.timing.execdriven import slice_passes
from sparsesim.timing.statistical import cell_pmf_nm, cell_pmf_unstructured, expected_passes, passes_per_slice


@pytest.mark.parametrize("density", [0.05, 0.2, 0.4, 0.7])
def test_expected_passes_matches_monte_carlo(density):
    rng = np.random.default_rng(1)
    rows, k_slice, n, m = 16, 32, 2, 4
    trials = 4000
    x = rng.random((trials, rows, k_slice)) < density
    groups = x.reshape(trials, rows, k_slice // m, m).sum(axis=3)
    mc = np.ceil(groups / n).max(axis=(1, 2)).mean()
    model = passes_per_slice(parse_pattern("unstructured", density), n, m, rows, k_slice)
    assert model == pytest.approx(mc, abs=0.03)


def test_hypergeometric_cells_of_4of8_on_2of4():
    pmf = cell_pmf_nm(4, 4, 8)
    # count by enumeration: positions of 4 non-zeros among 8, X = how many fall in the first 4
    counts = np.zeros(5)
    from itertools import combinations
    for c in combinations(range(8), 4):
        counts[sum(1 for p in c if p < 4)] += 1
    assert np.allclose(pmf, counts / comb(8, 4))
    assert cell_pmf_unstructured(4, 0.3).sum() == pytest.approx(1.0)
    assert expected_passes(np.array([1.0, 0, 0, 0, 0]), 2, 64) == 0.0  # all-empty slices: no pass
    assert passes_per_slice(parse_pattern("2:4"), 2, 4, 16, 32) == 1.0


def test_slice_passes_counts_real_groups():
    a = np.zeros((16, 32), dtype=np.int8)
    a[3, 0:3] = 1  # 3 non-zeros in one group of 4 -> 2 passes for the whole slice
    assert slice_passes(a, 2, 4, 32, native=False).tolist() == [[2.0]]
    a[:] = 0
    assert slice_passes(a, 2, 4, 32, native=False).tolist() == [[0.0]]


def _wrap32(x):
    return ((x + 2**31) % 2**32 - 2**31).astype(np.int32)


def test_exec_mode_int8_24_is_bit_exact():
    rng = np.random.default_rng(2)
    m, n, k = 256, 192, 512
    a = prune(rng.integers(-128, 128, (m, k)).astype(np.int8), 2, 4)
    b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    r = simulate("a100", m, n, k, "int8", "2:4", mode="exec", a=a, b=b)
    assert r.output.dtype == np.int32
    assert np.array_equal(r.output, _wrap32(a.astype(np.int64) @ b.astype(np.int64)))
    # native 2:4: the same work per tile, so the same time as the statistical mode for one kernel
    # (a 128x64 tile divides m and n: no edge tile, whose real work exec mode would count smaller)
    pinned = simulate("a100", m, n, k, "int8", "2:4", mode="exec", a=a, b=b, tile=(128, 64, 32))
    assert pinned.cycles == pytest.approx(simulate("a100", m, n, k, "int8", "2:4", tile=(128, 64, 32)).cycles,
                                          rel=1e-9)
    # exec mode searches the data-parallel kernels; the statistical one also split-K and stream-K
    stat = simulate("a100", m, n, k, "int8", "2:4")
    assert stat.cycles <= r.cycles * (1 + 1e-9)


def test_exec_mode_fp16_matches_sequential_fp32_accumulation():
    rng = np.random.default_rng(3)
    m, n, k = 64, 48, 128
    a = prune(rng.standard_normal((m, k)).astype(np.float16), 2, 4)
    b = rng.standard_normal((k, n)).astype(np.float16)
    r = simulate("a100", m, n, k, "fp16", "2:4", mode="exec", a=a, b=b)
    ref = np.zeros((m, n), dtype=np.float32)
    for kk in range(k):  # ascending K, one fp32 rounding per add (products exact in fp32)
        ref = (ref + np.float32(1) * (a[:, kk:kk + 1].astype(np.float32) * b[kk:kk + 1, :].astype(np.float32))).astype(np.float32)
    assert np.array_equal(r.output, ref)


def test_exec_mode_shows_load_imbalance():
    # a chip whose shared memory, L2 and pipeline depth let the MAC array limit int8 GEMMs
    arch = derive("a100", {"sm.shared_memory_bytes_per_cycle": 1024, "l2.bytes_per_cycle": 20480,
                           "tiles.stages": 8})
    rng = np.random.default_rng(4)
    m, n, k = 1024, 1024, 2048
    b = rng.integers(-8, 8, (k, n)).astype(np.int8)
    vals = rng.integers(1, 127, (m, k)).astype(np.int8)

    def operand(p_top, p_rest):
        mask = rng.random((m, k)) < p_rest
        mask[:128] = rng.random((128, k)) < p_top  # the first tile row
        return np.where(mask, vals, 0).astype(np.int8)

    def run(x, **kw):
        d = np.count_nonzero(x) / x.size
        return simulate(arch, m, n, k, "int8", "unstructured", density=d, tile=2, **kw)

    sparse, skewed = operand(0.05, 0.05), operand(0.85, 0.05)
    rs = run(skewed, mode="exec", a=skewed, b=b)
    r0 = run(sparse, mode="exec", a=sparse, b=b)
    rows = np.r_[0:8, 120:136, 1016:1024]  # dense tile row, its border, the last rows
    assert np.array_equal(rs.output[rows], _wrap32(skewed[rows].astype(np.int64) @ b.astype(np.int64)))
    assert max(rs.tile_cycles) > 1.5 * min(rs.tile_cycles)  # the dense tile row works longer
    assert max(r0.tile_cycles) < 1.2 * min(r0.tile_cycles)
    # one slow tile row holds up its wave: the whole kernel is much slower ...
    assert rs.kernel_cycles > 1.3 * r0.kernel_cycles
    # ... because the wave lasts as long as its slowest tile row
    assert rs.kernel_cycles > max(rs.tile_cycles) > r0.kernel_cycles


def test_exec_mode_rejects_bad_operands():
    a = np.ones((64, 64), dtype=np.int8)
    b = np.ones((64, 64), dtype=np.int8)
    with pytest.raises(InputError, match="not 2:4"):
        simulate("a100", 64, 64, 64, "int8", "2:4", mode="exec", a=a, b=b)
    with pytest.raises(InputError, match="shapes"):
        simulate("a100", 64, 32, 64, "int8", "dense", mode="exec", a=a, b=b)
    with pytest.raises(InputError, match="needs"):
        simulate("a100", 64, 64, 64, "fp16", "dense", mode="exec", a=a, b=b)
    with pytest.raises(InputError, match="a= "):
        simulate("a100", 64, 64, 64, "int8", "dense", mode="exec")


def test_cli_simulate_json_and_text(capsys):
    assert main(["simulate", "--arch", "a100", "--gemm", "4096x4096x4096", "--dtype", "fp16",
                 "--pattern", "2:4", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["arch"] == "a100" and d["pattern"] == "2:4" and d["dram_bytes"]["total"] > 0
    assert main(["simulate", "--arch", "a100", "--gemm", "1024x1024x1024", "--pattern", "unstructured",
                 "--density", "0.2", "--format", "csb"]) == 0
    out = capsys.readouterr().out
    assert "bound" in out and "csb" in out


def test_cli_errors_and_archs(capsys):
    assert main(["simulate", "--arch", "a100", "--gemm", "64x64x64", "--dtype", "fp8"]) == 2
    assert "fp8" in capsys.readouterr().err
    assert main(["simulate", "--arch", "nosuch", "--gemm", "64x64x64"]) == 2
    with pytest.raises(SystemExit):
        main(["simulate", "--arch", "a100", "--gemm", "64x64"])
    assert main(["archs"]) == 0
    out = capsys.readouterr().out
    assert "a100" in out and "h100" in out and "a100-4of8" in out
    assert main(["archs", "--json"]) == 0
    names = [r["name"] for r in json.loads(capsys.readouterr().out)]
    assert "a100" in names


def test_cli_exec_mode(capsys):
    assert main(["simulate", "--arch", "a100", "--gemm", "256x128x512", "--dtype", "int8",
                 "--pattern", "unstructured", "--density", "0.3", "--mode", "exec", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["mode"] == "exec" and d["tile_cycles"] and abs(d["density"] - 0.3) < 0.02
    assert main(["simulate", "--arch", "a100", "--gemm", "100000x100000x1000", "--mode", "exec"]) == 2
    assert "too large" in capsys.readouterr().err


def test_per_tile_variation_model():
    from sparsesim.timing.statistical import expected_max_normal, slice_passes_moments, slowest_tile_factor

    rng = np.random.default_rng(5)
    density, trials = 0.1, 4000
    x = rng.random((trials, 16, 32)) < density
    p = np.ceil(x.reshape(trials, 16, 8, 4).sum(axis=3) / 2).max(axis=(1, 2))
    mean, var = slice_passes_moments(parse_pattern("unstructured", density), 2, 4, 16, 32)
    assert mean == pytest.approx(p.mean(), abs=0.03) and var == pytest.approx(p.var(), abs=0.02)
    # E[max of p normals] against sampling
    z = rng.standard_normal((20000, 108)).max(axis=1).mean()
    assert expected_max_normal(108) == pytest.approx(z, abs=0.05)
    assert slowest_tile_factor(0.0, 108) == 1.0 and expected_max_normal(1) == 0.0
    # short K: few MMA steps per tile, more spread, a slower wave than the mean tile
    from sparsesim.timing.workload import build_plan
    from sparsesim.arch import load_arch as _load

    a = _load("a100")
    pat = parse_pattern("unstructured", 0.1)
    short = build_plan(a, 4096, 4096, 128, "fp16", pat, "csr", a.tiles.candidates[2])
    long = build_plan(a, 4096, 4096, 8192, "fp16", pat, "csr", a.tiles.candidates[2])
    assert short.tile_cv > 4 * long.tile_cv > 0


def test_full_mode_refuses_huge_gemms(capsys):
    assert main(["simulate", "--arch", "a100", "--gemm", "65536x65536x65536", "--mode", "full"]) == 2
    assert "statistical" in capsys.readouterr().err
    with pytest.raises(InputError, match="CTA-iterations"):
        from sparsesim.timing import simulate as sim
        sim("a100", 16384, 16384, 16384, "fp16", "2:4", mode="full", full_limit=1000)
