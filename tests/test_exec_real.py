"""Exec mode on real operands: bit-exact C on every datapath, encoded bytes per tile, skipped
regions, the per-SM engine against mode "full", real-weight CLI runs and refused input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sparsesim
from sparsesim.cli import main
from sparsesim.errors import InputError
from sparsesim.formats import bitmask_encode, csb_encode, csr_encode, prune, traffic_bytes
from sparsesim.timing import simulate

M, N, K = 200, 72, 320  # edge tiles in every dimension; torch._int_mm takes it (multiples of 8)


def _wrap32(x):
    return ((x + 2**31) % 2**32 - 2**31).astype(np.int32)


def _int8_operand(rng, pattern, density=None, shape=(M, K)):
    base = rng.integers(-128, 128, shape).astype(np.int8)
    base[base == 0] = 1
    if pattern == "dense":
        return base
    if pattern != "unstructured":
        n, m = (int(x) for x in pattern.split(":"))
        return prune(base, n, m)
    return np.where(rng.random(shape) < density, base, 0).astype(np.int8)


CASES = [  # pattern, density, format, arch, the datapath it exercises
    ("dense", None, None, "a100", "dense"),
    ("2:4", None, None, "a100", "sparse"),
    ("4:8", None, None, "a100", "dense-fallback"),
    ("4:8", None, None, "a100-4of8", "sparse"),
    ("unstructured", 0.3, "csr", "a100", "dense-fallback"),
    ("unstructured", 0.05, "csb", "a100", "sparse-passes"),
    ("unstructured", 0.08, "bitmask", "a100", "sparse-passes"),
    ("2:4", None, None, "a100-4of8", "sparse-passes"),
]


@pytest.mark.parametrize("pattern,density,fmt,arch,datapath", CASES)
def test_int8_output_is_the_wrapped_integer_product(pattern, density, fmt, arch, datapath):
    rng = np.random.default_rng(hash((pattern, fmt, arch)) % 2**32)
    a = _int8_operand(rng, pattern, density)
    b = rng.integers(-128, 128, (K, N)).astype(np.int8)
    r = simulate(arch, M, N, K, "int8", pattern, format=fmt, mode="exec", a=a, b=b)
    assert r.datapath == datapath
    assert r.output.dtype == np.int32
    assert np.array_equal(r.output, _wrap32(a.astype(np.int64) @ b.astype(np.int64)))
    assert np.array_equal(r.output, torch._int_mm(torch.from_numpy(a), torch.from_numpy(b)).numpy())


def test_int8_accumulators_wrap_like_an_int32_adder():
    k = 131072  # every output sums k products (-128)(-128) = 2^14: exactly 2^31, one past int32
    a = np.full((64, k), -128, dtype=np.int8)
    b = np.full((k, 32), -128, dtype=np.int8)
    r = simulate("a100", 64, 32, k, "int8", "dense", mode="exec", a=a, b=b)
    assert (r.output == -(2**31)).all()  # 2^31 wrapped, as a 32-bit adder leaves it
    a[:, :8] = 1  # 8 fewer products of 2^14, 8 more of -128: 2^31 - 8 * (2^14 + 128) fits again
    r = simulate("a100", 64, 32, k, "int8", "dense", mode="exec", a=a, b=b)
    assert (r.output == 2**31 - 8 * (2**14 + 128)).all()


def _defined_f32(a32, b32, k_slice=None, hw=None):
    """The accumulation exec mode defines, written out plainly: per k-slice, per pass (a non-zero of
    rank q in its group of M goes to pass q // N), ascending K, one fp32 rounding per add."""
    rows, kk = a32.shape
    acc = np.zeros((rows, b32.shape[1]), dtype=np.float32)
    step = k_slice or kk
    hn, hm = hw or (1, 1)
    for r in range(rows):
        for s0 in range(0, kk, step):
            slice_items = []
            for g0 in range(s0, min(s0 + step, kk), hm):
                nz = [q for q in range(g0, min(g0 + hm, s0 + step, kk)) if a32[r, q] != 0]
                slice_items += [(rank // hn, q) for rank, q in enumerate(nz)]
            for _, q in sorted(slice_items):
                for c in range(b32.shape[1]):
                    acc[r, c] = np.float32(acc[r, c] + np.float32(a32[r, q] * b32[q, c]))
    return acc


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
@pytest.mark.parametrize("pattern,density,fmt", [("dense", None, None), ("2:4", None, None),
                                                  ("unstructured", 0.06, "csr")])
def test_float_output_follows_the_defined_accumulation(dtype, pattern, density, fmt):
    rng = np.random.default_rng(11)
    m, n, k = 40, 24, 256
    a = rng.standard_normal((m, k)).astype(np.float32) * np.exp2(rng.integers(-6, 7, (m, k)))
    b = rng.standard_normal((k, n)).astype(np.float32) * np.exp2(rng.integers(-6, 7, (k, n)))
    if pattern == "2:4":
        a = prune(a, 2, 4)
    elif pattern == "unstructured":
        keep = rng.random((m, k)) < density
        keep[:, [0, 1, 2, 5, 8, 9, 10, 11]] = True  # groups of 3 and 4 non-zeros: a second pass
        a = np.where(keep, a, 0).astype(np.float32)
    if dtype == "fp16":
        aa, bb = a.astype(np.float16), b.astype(np.float16)
        a32, b32 = aa.astype(np.float32), bb.astype(np.float32)
    else:  # PyTorch's own bf16 conversion
        aa, bb = (torch.from_numpy(x).to(torch.bfloat16) for x in (a, b))
        a32, b32 = aa.float().numpy(), bb.float().numpy()
    r = simulate("a100", m, n, k, dtype, pattern, format=fmt, mode="exec", a=aa, b=bb)
    passes = r.datapath == "sparse-passes"
    assert r.datapath == {"dense": "dense", "2:4": "sparse", "unstructured": "sparse-passes"}[pattern]
    ref = _defined_f32(a32, b32, 32, (2, 4)) if passes else _defined_f32(a32, b32)
    assert r.output.dtype == np.float32
    assert np.array_equal(r.output, ref)
    if passes:  # the pass order is part of the definition: plain ascending K gives other bits
        assert not np.array_equal(r.output, _defined_f32(a32, b32))


@pytest.mark.parametrize("fmt,encode", [("csr", csr_encode), ("csb", csb_encode), ("bitmask", bitmask_encode)])
def test_traffic_is_the_encoded_size_of_the_real_matrix(fmt, encode):
    rng = np.random.default_rng(3)
    m, n, k = 256, 64, 512
    a = _int8_operand(rng, "unstructured", 0.12, (m, k))
    b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    r = simulate("a100", m, n, k, "int8", "unstructured", format=fmt, mode="exec", a=a, b=b, tile=(64, 64, 64))
    nb = encode(a).nbytes()
    nnz = int(np.count_nonzero(a))
    assert r.compulsory_bytes["a_values"] == nb["values"] == nnz
    assert r.compulsory_bytes["a_metadata"] == nb["metadata"]
    closed = traffic_bytes(m, k, "int8", "unstructured", fmt, density=nnz / (m * k))
    assert (r.compulsory_bytes["a_values"], r.compulsory_bytes["a_metadata"]) == (closed["values"], closed["metadata"])
    assert r.dram_bytes == r.compulsory_bytes  # it all fits in L2: every byte read once
    # every CTA of a tile row reads the row's encoded bytes, every CTA of a column its B slices
    tiles_m, tiles_n = m // 64, n // 64
    assert r.exec_stats["l2_bytes"] == pytest.approx(tiles_n * nb["total"] + tiles_m * k * n, rel=1e-12)
    assert r.actions["l2_read_bytes"] == pytest.approx(r.exec_stats["l2_bytes"])


def test_fp16_nm_traffic_matches_the_closed_form():
    rng = np.random.default_rng(4)
    m, n, k = 128, 64, 256
    for enc in ("index", "combinatorial", "bitmask"):
        a = prune(rng.standard_normal((m, k)).astype(np.float16), 2, 4)
        b = rng.standard_normal((k, n)).astype(np.float16)
        r = simulate("a100", m, n, k, "fp16", "2:4", encoding=enc, mode="exec", a=a, b=b)
        t = traffic_bytes(m, k, "fp16", "2:4", enc)
        assert (r.compulsory_bytes["a_values"], r.compulsory_bytes["a_metadata"]) == (t["values"], t["metadata"])
        stat = simulate("a100", m, n, k, "fp16", "2:4", encoding=enc)
        operands = ("a_values", "a_metadata", "b")
        assert [r.dram_bytes[x] for x in operands] == [stat.dram_bytes[x] for x in operands]
        # exec mode runs data-parallel kernels: C written once; the statistical mode may pick
        # split-K, whose partial tiles add C traffic
        assert r.dram_bytes["c"] == m * n * 2 <= stat.dram_bytes["c"]


def test_empty_regions_are_skipped_in_time_and_traffic():
    rng = np.random.default_rng(5)
    m, n, k = 512, 128, 1024
    b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    full = _int8_operand(rng, "unstructured", 0.08, (m, k))
    holed = full.copy()
    holed[128:256] = 0  # two empty tile rows of 64
    holed[:, 512:768] = 0  # four iterations of 64 that no row needs
    tile = (64, 64, 64)
    rf = simulate("a100", m, n, k, "int8", "unstructured", format="csb", mode="exec", a=full, b=b, tile=tile)
    rh = simulate("a100", m, n, k, "int8", "unstructured", format="csb", mode="exec", a=holed, b=b, tile=tile)
    assert np.array_equal(rh.output, _wrap32(holed.astype(np.int64) @ b.astype(np.int64)))
    tiles_n = n // 64
    assert rf.exec_stats["skipped_iterations"] == 0
    # 2 empty rows x 16 iterations + 6 other rows x 4 empty iterations, for each tile column
    assert rh.exec_stats["skipped_iterations"] == (2 * 16 + 6 * 4) * tiles_n
    assert rh.exec_stats["empty_ctas"] == 2 * tiles_n
    assert rh.dram_bytes["b"] == (k - 256) * n  # B rows that no non-zero needs are never fetched
    assert rh.exec_stats["l2_bytes"] < 0.7 * rf.exec_stats["l2_bytes"]
    assert rh.kernel_cycles < rf.kernel_cycles
    # an N:M operand names no empty region: the hardware runs it all
    nm = prune(holed, 2, 4)
    r24 = simulate("a100", m, n, k, "int8", "2:4", mode="exec", a=nm, b=b, tile=tile)
    assert r24.exec_stats["skipped_iterations"] == 0 and r24.dram_bytes["b"] == k * n


@pytest.mark.parametrize("pattern", ["dense", "2:4"])
def test_exec_engine_matches_full_mode_on_uniform_operands(pattern):
    rng = np.random.default_rng(6)
    m, n, k = 1024, 512, 1024
    a = _int8_operand(rng, pattern, shape=(m, k))
    b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    tile = (128, 128, 32)
    r = simulate("a100", m, n, k, "int8", pattern, mode="exec", a=a, b=b, tile=tile)
    f = simulate("a100", m, n, k, "int8", pattern, mode="full", tile=tile)
    assert r.kernel_cycles == pytest.approx(f.kernel_cycles, rel=0.01)
    assert r.dram_bytes == f.dram_bytes


def test_functional_mmas_do_not_move_the_timing():
    from sparsesim.arch import load_arch
    from sparsesim.patterns import parse_pattern
    from sparsesim.timing.execdriven import prepare_exec
    from sparsesim.timing.execengine import simulate_exec
    from sparsesim.timing.exectiles import tile_work
    from sparsesim.timing.workload import build_plan

    rng = np.random.default_rng(7)
    m, n, k = 256, 96, 512
    arch, pat = load_arch("a100"), parse_pattern("unstructured", 0.1)
    a = _int8_operand(rng, "unstructured", 0.1, (m, k))
    b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    ex = prepare_exec(arch, m, n, k, "int8", pat, a, b)
    plan = build_plan(arch, m, n, k, "int8", pat, "bitmask", arch.tiles.candidates[5], ex.mean_passes)
    work = tile_work(ex.a_enc, ex.passes, plan)
    timing_only = simulate_exec(plan, work)
    from sparsesim.timing.execmma import FunctionalMma

    out = np.zeros((m, n), dtype=np.int32)
    mma = FunctionalMma(a, b, "int8", pat, plan.datapath, 2, 4)
    with_mma = simulate_exec(plan, work, mma, out)
    assert with_mma[0] == timing_only[0] and with_mma[3] == timing_only[3]
    assert np.array_equal(out, _wrap32(a.astype(np.int64) @ b.astype(np.int64)))


def test_bad_operands_are_refused_before_any_work(monkeypatch):
    a = np.ones((64, 64), dtype=np.int8)
    b = np.ones((64, 32), dtype=np.int8)
    with pytest.raises(InputError, match="shapes"):
        simulate("a100", 64, 64, 64, "int8", "dense", mode="exec", a=a, b=b)
    with pytest.raises(InputError, match="not 2:4"):
        simulate("a100", 64, 32, 64, "int8", "2:4", mode="exec", a=a, b=b)
    with pytest.raises(InputError, match="float16"):
        simulate("a100", 64, 32, 64, "fp16", "dense", mode="exec", a=a, b=b)
    with pytest.raises(InputError, match="bf16 bit patterns"):
        simulate("a100", 64, 32, 64, "bf16", "dense", mode="exec", a=a, b=b)
    with pytest.raises(InputError, match="density 1.000"):
        simulate("a100", 64, 32, 64, "int8", "unstructured", density=0.3, mode="exec", a=a, b=b)
    bad = np.ones((64, 32), dtype=np.float16)
    bad[3, 4] = np.inf
    with pytest.raises(InputError, match="NaN or Inf"):
        simulate("a100", 64, 32, 64, "fp16", "dense", mode="exec", a=a.astype(np.float16), b=bad)
    with pytest.raises(InputError, match="runs int8, fp16 or bf16"):
        simulate("h100", 64, 32, 64, "fp8", "dense", mode="exec", a=a, b=b)
    import sparsesim.timing.execdriven as ed

    monkeypatch.setattr(ed, "_available_memory", lambda: 10_000)
    with pytest.raises(InputError, match="memory"):
        simulate("a100", 64, 32, 64, "int8", "dense", mode="exec", a=a, b=b)


def _weights_file(tmp_path, rng):
    from safetensors.numpy import save_file

    path = tmp_path / "w.safetensors"
    save_file({"block.0.fc.weight": rng.standard_normal((96, 128)).astype(np.float32),
               "block.0.fc.bias": rng.standard_normal(96).astype(np.float32),
               "block.0.proj.weight": rng.standard_normal((128, 96)).astype(np.float32)}, str(path))
    return path


def test_cli_runs_a_layer_of_a_weights_file(tmp_path, capsys):
    from sparsesim.operands import layer_operands

    rng = np.random.default_rng(8)
    path = _weights_file(tmp_path, rng)
    x = rng.standard_normal((128, 40)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "c.npy"
    args = ["simulate", "--arch", "a100", "--weights", str(path), "--layer", "block.0.fc", "--dtype", "int8",
            "--pattern", "unstructured", "--density", "0.25", "--format", "csb", "--activations",
            str(tmp_path / "x.npy"), "--save-output", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "C[96x40] = A[96x128] . B[128x40]" in text and "exec" in text
    ops = layer_operands(path, "block.0.fc", "unstructured", 0.25, "int8", activations=tmp_path / "x.npy")
    assert np.count_nonzero(ops.a_f32) == round(0.25 * 96 * 128)
    assert np.array_equal(np.load(out), _wrap32(ops.a.astype(np.int64) @ ops.b.astype(np.int64)))
    # int8 dequantized C is close to the float product of the pruned weights
    c = ops.dequantized(np.load(out))
    assert np.abs(c - ops.a_f32 @ x).max() < 0.05 * np.abs(ops.a_f32 @ x).max()
    # drawn activations: the seed fixes them, n from --tokens
    assert main(["simulate", "--arch", "a100", "--weights", str(path), "--layer", "block.0.proj.weight",
                 "--pattern", "2:4", "--tokens", "24", "--json"]) == 0
    assert '"mode": "exec"' in capsys.readouterr().out


@pytest.mark.parametrize("extra,message", [
    (["--layer", "block.0.fcc"], "no layer 'block.0.fcc'; close matches: block.0.fc.weight"),
    (["--layer", "block.0.fc", "--gemm", "96x8x64"], "does not match layer"),
    (["--layer", "block.0.fc", "--mode", "full"], "mode exec"),
    (["--layer", "block.0.fc", "--activations", "X"], "no such file or directory"),
    (["--layer", "block.0.fc", "--activations", "T"], "transpose"),
])
def test_cli_refuses_bad_weight_runs_in_one_line(tmp_path, capsys, extra, message):
    rng = np.random.default_rng(9)
    path = _weights_file(tmp_path, rng)
    np.save(tmp_path / "t.npy", np.zeros((40, 128), dtype=np.float32))
    extra = [str(tmp_path / "t.npy") if e == "T" else str(tmp_path / "nope.npy") if e == "X" else e for e in extra]
    assert main(["simulate", "--arch", "a100", "--weights", str(path)] + extra) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_exec_reports_its_cost_and_the_default_stays_statistical():
    rng = np.random.default_rng(10)
    a = _int8_operand(rng, "2:4", shape=(128, 256))
    b = rng.integers(-128, 128, (256, 64)).astype(np.int8)
    r = sparsesim.simulate("a100", 128, 64, 256, "int8", "2:4", mode="exec", a=a, b=b)
    assert r.mode == "exec" and r.exec_stats["wall_seconds"] > 0 and r.exec_stats["items"] > 0
    s = sparsesim.simulate("a100", 128, 64, 256, "int8", "2:4")
    assert s.mode == "statistical" and s.exec_stats is None and s.output is None


@pytest.mark.parametrize("shape,tile", [((72, 40, 100), 0), ((130, 33, 96), 5), ((200, 64, 70), 3)])
def test_items_account_for_every_pass_byte_and_nonzero(shape, tile):
    from sparsesim.arch import load_arch
    from sparsesim.patterns import parse_pattern
    from sparsesim.timing.execdriven import prepare_exec
    from sparsesim.timing.exectiles import tile_work
    from sparsesim.timing.workload import build_plan

    m, n, k = shape
    rng = np.random.default_rng(12)
    a = _int8_operand(rng, "unstructured", 0.08, (m, k))
    b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    arch, pat = load_arch("a100"), parse_pattern("unstructured", np.count_nonzero(a) / a.size)
    ex = prepare_exec(arch, m, n, k, "int8", pat, a, b)
    for fmt, encode in (("csr", csr_encode), ("csb", csb_encode), ("bitmask", bitmask_encode)):
        plan = build_plan(arch, m, n, k, "int8", pat, fmt, arch.tiles.candidates[tile], ex.mean_passes)
        work = tile_work(ex.a_enc, ex.passes, plan)
        steps = (plan.tile.cta_m / 16) * (plan.tile.cta_k / 64)
        if plan.datapath == "sparse-passes":
            got = sum(float(rw.pass_scale.sum()) for rw in work.row) * steps * plan.passes
            assert got == pytest.approx(ex.passes.sum(), rel=1e-9)  # every MMA step's passes, once
        fetched = sum(float((rw.a_values + rw.a_meta).sum()) for rw in work.row)
        assert fetched == pytest.approx(encode(a).nbytes()["total"], rel=1e-9)
        assert sum(float(rw.nnz_scale.sum()) for rw in work.row) * (plan.demand.reencoded or 1) == \
            pytest.approx(np.count_nonzero(a) if plan.demand.reencoded else 0)
