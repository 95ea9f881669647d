"""``simulate(cpu_arch, ..., mode="exec", a=W, b=X)``: the int8 kernel the arch's ISA has
runs on the operands; C comes back in ``output``, bit-exact against the real
instructions (gcc-compiled loops), PyTorch and plain integer references."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "native"))
import native_build  # noqa: E402

import sparsesim  # noqa: E402
from sparsesim import FormatError, InputError  # noqa: E402
from sparsesim.cpu import execution  # noqa: E402
from sparsesim.formats import compress, prune  # noqa: E402
from sparsesim.kernels import vnni_sparse  # noqa: E402
from sparsesim.kernels.int8_gemm import pack_weights  # noqa: E402
from sparsesim.kernels.int8_gemm_ref import ref_int8_gemm  # noqa: E402

torch = pytest.importorskip("torch")


def _wrap(x):
    return ((np.asarray(x, np.int64) + 2**31) % 2**32 - 2**31).astype(np.int32)


def _operands(rng, m, k, n, two_four, act_dtype=np.int8, extreme=0.4):
    w = rng.integers(-128, 128, (m, k)).astype(np.int8)
    w[rng.random((m, k)) < extreme] = 127
    if two_four:
        w = prune(w, 2, 4)
    if act_dtype == np.int8:
        x = rng.integers(-128, 128, (k, n)).astype(np.int8)
        x[rng.random((k, n)) < extreme] = 127
    else:
        x = rng.integers(0, 256, (k, n)).astype(np.uint8)
        x[rng.random((k, n)) < extreme] = 255
    return w, x


def _routed_reference(w, x):
    """The routed 3-instruction 2:4 product from its definition (numpy int64): per row, the
    two kept products of each group of 4 form one s16 word and saturate; int8 activations
    are shifted by 128 first and 128 * rowsum(W) subtracted at the end."""
    xu = x.astype(np.int64) + (128 if x.dtype == np.int8 else 0)
    values, indices = compress(w, 2, 4)
    pos = (np.arange(values.shape[1]) // 2 * 4)[None, :] + indices.astype(np.int64)  # k of each kept value
    prod = values.astype(np.int64)[:, :, None] * xu[pos]  # (m, kept, n)
    words = np.clip(prod[:, 0::2] + prod[:, 1::2], -32768, 32767).sum(axis=1)
    if x.dtype == np.int8:
        words -= 128 * w.astype(np.int64).sum(axis=1)[:, None]
    return _wrap(words)


@pytest.fixture(scope="module")
def native(tmp_path_factory):
    d = tmp_path_factory.mktemp("cpu_exec_native")
    exes = {src: native_build.build(src, d) for src in ("int8_gemm.c", "routed.c")}
    for exe in exes.values():
        if isinstance(exe, str):
            pytest.skip(exe)
    return exes


# ------------------------------------------------------------------ results
@pytest.mark.usefixtures("int8_backend")
@pytest.mark.parametrize("arch", ["xeon-8280", "zen4-genoa", "xeon-8380"])
@pytest.mark.parametrize("pattern", ["dense", "2:4"])
def test_vnni_archs_return_the_exact_product(arch, pattern):
    rng = np.random.default_rng(1)
    m, k, n = 37, 96, 29
    w, x = _operands(rng, m, k, n, pattern == "2:4")
    r = sparsesim.simulate(arch, m, n, k, "int8", pattern, mode="exec", a=w, b=x)
    assert r.mode == "exec" and r.output.dtype == np.int32 and r.output.shape == (m, n)
    np.testing.assert_array_equal(r.output, torch._int_mm(torch.from_numpy(np.pad(w, ((0, 0), (0, 0)))),
                                                           torch.from_numpy(np.pad(x, ((0, 0), (0, 3))))).numpy()[:, :n])
    assert r.actions["s16_saturated_outputs"] == 0
    stat = sparsesim.simulate(arch, m, n, k, "int8", pattern)
    assert r.seconds == stat.seconds and r.datapath == stat.datapath  # time from the same port model


@pytest.mark.usefixtures("int8_backend")
def test_unsigned_activations_are_used_as_they_are():
    rng = np.random.default_rng(2)
    w, x = _operands(rng, 20, 64, 24, False, np.uint8)
    r = sparsesim.simulate("xeon-8280", 20, 24, 64, "int8", "dense", mode="exec", a=w, b=x)
    np.testing.assert_array_equal(r.output, _wrap(w.astype(np.int64) @ x.astype(np.int64)))


@pytest.mark.usefixtures("int8_backend")
@pytest.mark.parametrize("act_dtype", [np.int8, np.uint8])
def test_skylake_dense_saturates_like_the_real_three_instruction_loop(native, tmp_path, act_dtype):
    """xeon-8180 has no VNNI: VPMADDUBSW -> VPMADDWD -> VPADDD, against gcc's intrinsic loop
    on the same operands (weights in the lanes, activations broadcast)."""
    rng = np.random.default_rng(3)
    m, k, n = 48, 128, 33
    w, x = _operands(rng, m, k, n, False, act_dtype, extreme=0.6)
    r = sparsesim.simulate("xeon-8180", m, n, k, "int8", "dense", mode="exec", a=w, b=x)
    assert r.datapath == "x86 avx512-int8"
    xu = x if act_dtype == np.uint8 else (x.view(np.uint8) ^ np.uint8(0x80))
    hw = native_build.run_gemm(native["int8_gemm.c"], tmp_path, "avx512", np.ascontiguousarray(xu.T),
                               pack_weights(np.ascontiguousarray(w.T)))[:, :m].T.astype(np.int64)
    if act_dtype == np.int8:
        hw -= 128 * w.astype(np.int64).sum(axis=1)[:, None]
    np.testing.assert_array_equal(r.output, _wrap(hw))
    ref = ref_int8_gemm(np.ascontiguousarray(xu.T), np.ascontiguousarray(w.T), "avx512").T.astype(np.int64)
    if act_dtype == np.int8:
        ref -= 128 * w.astype(np.int64).sum(axis=1)[:, None]
    np.testing.assert_array_equal(r.output, _wrap(ref))
    exact = _wrap(w.astype(np.int64) @ x.astype(np.int64))
    changed = int((r.output != exact).sum())
    assert changed > 0 and r.actions["s16_saturated_outputs"] == changed
    assert sparsesim.simulate("xeon-8280", m, n, k, "int8", "dense", mode="exec", a=w, b=x).actions[
        "s16_saturated_outputs"] == 0


@pytest.mark.usefixtures("int8_backend")
@pytest.mark.parametrize("act_dtype", [np.int8, np.uint8])
def test_skylake_two_four_routes_then_saturates_like_the_real_loop(native, tmp_path, act_dtype):
    """2:4 on xeon-8180 (VPSHUFB -> VPMADDUBSW -> VPMADDWD -> VPADDD): against the gcc
    loop on the packed operands and against the definition written with numpy."""
    rng = np.random.default_rng(4)
    m, k, n = 40, 160, 21
    w, x = _operands(rng, m, k, n, True, act_dtype, extreme=0.6)
    r = sparsesim.simulate("xeon-8180", m, n, k, "int8", "2:4", mode="exec", a=w, b=x)
    assert r.datapath == "x86 avx512-int8-2to4-mux"
    np.testing.assert_array_equal(r.output, _routed_reference(w, x))
    values, indices = compress(w, 2, 4)
    panel = vnni_sparse.pack_sparse(values, indices, 2, 4)
    flip = 0x80 if act_dtype == np.int8 else 0
    act = vnni_sparse.pack_columns(x, panel.steps, 8, flip)
    tiles = native_build.run_routed(native["routed.c"], tmp_path, "avx512", panel.blocks, act)
    hw = tiles.transpose(1, 3, 0, 2).reshape(panel.blocks.shape[0] * 16, act.shape[0] * 16)[:m, :n].astype(np.int64)
    if act_dtype == np.int8:
        hw -= 128 * w.astype(np.int64).sum(axis=1)[:, None]
    np.testing.assert_array_equal(r.output, _wrap(hw))
    assert r.actions["s16_saturated_outputs"] > 0
    # the routed pairs are the kept products of one group; the decompressed register pairs
    # positions (0, 1) and (2, 3): a different saturation, so a different result
    dense_path = sparsesim.simulate("xeon-8180", m, n, k, "int8", "dense", mode="exec", a=w, b=x).output
    assert (dense_path != r.output).any()


def test_routed_vnni_kernel_matches_the_real_loop(native, tmp_path):
    rng = np.random.default_rng(5)
    w, x = _operands(rng, 33, 128, 40, True, np.uint8)
    values, indices = compress(w, 2, 4)
    panel = vnni_sparse.pack_sparse(values, indices, 2, 4)
    act = vnni_sparse.pack_columns(x, panel.steps, 8, 0)
    tiles = native_build.run_routed(native["routed.c"], tmp_path, "vnni", panel.blocks, act)
    hw = tiles.transpose(1, 3, 0, 2).reshape(panel.blocks.shape[0] * 16, act.shape[0] * 16)[:33, :40]
    np.testing.assert_array_equal(vnni_sparse.sparse_times_dense(panel, x), hw)
    np.testing.assert_array_equal(hw, _wrap(w.astype(np.int64) @ x.astype(np.int64)))


# ------------------------------------------------------------------ bad input, before any work
@pytest.fixture
def no_work(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a kernel ran before the operands were checked")

    monkeypatch.setattr(execution, "run_kernel", boom)


@pytest.mark.usefixtures("no_work")
@pytest.mark.parametrize("kwargs,err,match", [
    ({"a": np.zeros((8, 16), np.int8)}, InputError, "needs both operands"),
    ({"a": np.zeros((8, 16), np.int16), "b": np.zeros((16, 4), np.int8)}, InputError, "a must have dtype int8"),
    ({"a": np.zeros((8, 16), np.int8), "b": np.zeros((16, 4), np.float32)}, InputError, "b must have dtype"),
    ({"a": np.zeros((8, 12), np.int8), "b": np.zeros((16, 4), np.int8)}, InputError, r"a has shape \(8, 12\)"),
    ({"a": np.zeros((8, 16), np.int8), "b": np.zeros((16, 5), np.int8)}, InputError, r"b has shape \(16, 5\)"),
    ({"a": [[1]], "b": np.zeros((16, 4), np.int8)}, InputError, "a must be a numpy array"),
])
def test_mismatched_operands_are_refused(kwargs, err, match):
    with pytest.raises(err, match=match):
        sparsesim.simulate("xeon-8280", 8, 4, 16, "int8", "dense", mode="exec", **kwargs)


@pytest.mark.usefixtures("no_work")
def test_pattern_and_mode_mismatches_are_refused():
    w = np.ones((8, 16), np.int8)
    x = np.ones((16, 4), np.int8)
    with pytest.raises(FormatError, match=r"not 2:4 sparse along k: row 0, group 0 \(k = 0..3\) has 4"):
        sparsesim.simulate("xeon-8280", 8, 4, 16, "int8", "2:4", mode="exec", a=w, b=x)
    with pytest.raises(FormatError, match="multiple of 4"):
        sparsesim.simulate("xeon-8280", 8, 4, 14, "int8", "2:4", mode="exec", a=w[:, :14], b=x[:14])
    with pytest.raises(InputError, match="dense or 2:4"):
        sparsesim.simulate("xeon-8280", 8, 4, 16, "int8", "4:8", mode="exec", a=w, b=x)
    with pytest.raises(InputError, match="int8 kernels"):
        sparsesim.simulate("xeon-8280", 8, 4, 16, "fp32", "dense", mode="exec", a=w, b=x)
    with pytest.raises(InputError, match="only with mode='exec'"):
        sparsesim.simulate("xeon-8280", 8, 4, 16, "int8", "dense", a=w, b=x)


@pytest.mark.usefixtures("no_work")
def test_a_workspace_larger_than_memory_is_refused(monkeypatch):
    monkeypatch.setattr(execution, "available_memory", lambda: 1 << 20)
    w = np.zeros((256, 256), np.int8)
    x = np.zeros((256, 256), np.int8)
    with pytest.raises(InputError, match=r"256x256x256 on zen4-genoa needs about 1\.1 MiB .* more than the 1\.0 MiB"):
        sparsesim.simulate("zen4-genoa", 256, 256, 256, "int8", "dense", mode="exec", a=w, b=x)
