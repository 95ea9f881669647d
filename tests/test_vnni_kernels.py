"""The int8 kernels on the real AVX-512 instructions: feature detection, which kernel runs
where, and bit-exactness against PyTorch, plain integers and a gcc-compiled VPDPBUSD loop."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "native"))
import native_build  # noqa: E402

from sparsesim.formats import compress, decompress  # noqa: E402
from sparsesim.kernels import simd, vnni_dense, vnni_sparse  # noqa: E402
from sparsesim.kernels.dense import int8_matmul, int8_matmul_reference  # noqa: E402
from sparsesim.kernels.int8_gemm import int8_gemm, pack_weights, sparse24_int8_gemm  # noqa: E402
from sparsesim.kernels.spmac import pack, spmac, spmac_packed  # noqa: E402

torch = pytest.importorskip("torch")


def _torch_int_mm(a, b):
    """PyTorch's int8 x int8 -> int32 product (the oracle we did not write); _int_mm needs
    M > 16 and K, N multiples of 8, so the operands are zero-padded."""
    m, k = a.shape
    n = b.shape[1]
    mp, kp, np_ = max(17, m), -(-k // 8) * 8, -(-n // 8) * 8
    ap = np.zeros((mp, kp), np.int8)
    ap[:m, :k] = a
    bp = np.zeros((kp, np_), np.int8)
    bp[:k, :n] = b
    return torch._int_mm(torch.from_numpy(ap), torch.from_numpy(bp)).numpy()[:m, :n]


def _extreme_int8(rng, shape, frac=0.3):
    x = rng.integers(-128, 128, shape).astype(np.int8)
    hot = rng.random(shape) < frac
    x[hot] = rng.choice(np.array([-128, 127, -127], np.int8), size=int(hot.sum()))
    return x


# ------------------------------------------------------------------ detection and dispatch
def test_feature_detection_agrees_with_proc_cpuinfo(monkeypatch):
    monkeypatch.delenv(simd.BACKEND_ENV, raising=False)
    from numba.core import config

    if getattr(config, "CPU_NAME", None) or getattr(config, "CPU_FEATURES", None):
        pytest.skip("NUMBA_CPU_NAME / NUMBA_CPU_FEATURES choose the target, not the host")
    flags = native_build.cpu_flags()
    if not flags:
        pytest.skip("no /proc/cpuinfo")
    assert simd.has_path("vnni") == ({"avx512f", "avx512bw", "avx512_vnni"} <= flags)
    assert simd.has_path("avx512") == ({"avx512f", "avx512bw"} <= flags)


def test_backend_switch_and_environment(monkeypatch):
    monkeypatch.setenv(simd.BACKEND_ENV, "portable")
    assert not simd.has_path("vnni") and simd.backend() == "portable"
    monkeypatch.setenv(simd.BACKEND_ENV, "auto")
    simd.set_backend("portable")
    try:
        assert not simd.has_path("avx512")
    finally:
        simd.set_backend(None)
    with pytest.raises(ValueError):
        simd.set_backend("fast")


def _forbid(monkeypatch, *targets):
    def boom(*a, **k):
        raise AssertionError("an AVX-512 kernel ran although the CPU lacks the instructions")

    for mod, name in targets:
        monkeypatch.setattr(mod, name, boom)


def test_portable_kernels_run_when_the_cpu_lacks_vnni(monkeypatch):
    """A CPU without AVX512_VNNI (features as LLVM reports them): every entry point takes the
    portable kernel, and the results stay exact."""
    monkeypatch.setattr(simd, "host_features", lambda: frozenset({"avx2", "fma"}))
    import sparsesim.kernels.int8_gemm as ig

    _forbid(monkeypatch, (ig, "dense_products"), (ig, "dense_times_sparse_t"),
            (vnni_sparse, "sparse_times_dense"), (vnni_sparse, "pack_sparse"))
    rng = np.random.default_rng(1)
    a, b = _extreme_int8(rng, (20, 64)), _extreme_int8(rng, (64, 24))
    v, i = compress(a, 2, 4)
    np.testing.assert_array_equal(spmac(v, i, b), _torch_int_mm(decompress(v, i, 2, 4), b))
    assert isinstance(pack(v, i), tuple)
    np.testing.assert_array_equal(int8_matmul(a, b), _torch_int_mm(a, b))
    au = rng.integers(0, 256, (5, 64), dtype=np.uint8)
    wv, wi = compress(np.ascontiguousarray(b.T), 2, 4)
    sparse24_int8_gemm(au, wv, wi, "vnni")
    int8_gemm(au, b, "avx512")


@pytest.mark.skipif(not simd.has_path("vnni"), reason="this CPU has no AVX512_VNNI")
def test_vnni_kernels_run_where_the_cpu_has_them(monkeypatch):
    calls = []
    import sparsesim.kernels.int8_gemm as ig

    for mod, name in ((ig, "dense_products"), (vnni_sparse, "sparse_times_dense")):
        real = getattr(mod, name)
        monkeypatch.setattr(mod, name, lambda *a, _r=real, _n=name, **k: calls.append(_n) or _r(*a, **k))
    rng = np.random.default_rng(2)
    a, b = _extreme_int8(rng, (20, 64)), _extreme_int8(rng, (64, 24))
    v, i = compress(a, 2, 4)
    spmac(v, i, b)
    int8_matmul(a, b)
    assert calls == ["sparse_times_dense", "dense_products"]


# ------------------------------------------------------------------ bit-exactness
@pytest.mark.usefixtures("int8_backend")
@pytest.mark.parametrize("pattern", ["2:4", "4:8", "1:4", "1:2", "2:8"])
@pytest.mark.parametrize("shape", [(1, 1, 1), (16, 2, 16), (37, 11, 29), (70, 40, 300)])
def test_spmac_equals_torch_int_mm_on_the_decompressed_operand(pattern, shape):
    n, m = map(int, pattern.split(":"))
    rows, groups, cols = shape
    rng = np.random.default_rng(rows * groups + cols + m)
    a = _extreme_int8(rng, (rows, groups * m))
    b = _extreme_int8(rng, (groups * m, cols))
    v, i = compress(a, n, m)
    c = spmac(v, i, b, pattern)
    ref = _torch_int_mm(decompress(v, i, n, m), b)
    np.testing.assert_array_equal(c, ref)
    np.testing.assert_array_equal(spmac_packed(pack(v, i, pattern), b), ref)


@pytest.mark.usefixtures("int8_backend")
def test_spmac_wraps_like_the_real_vpdpbusd_loop(tmp_path):
    """Against gcc-compiled _mm512_dpbusd_epi32 (tests/native/int8_gemm.c): with rows of A in
    the lanes, C^T = (B^T + 128) . A^T - 128 * rowsum(A), all modulo 2**32."""
    exe = native_build.build("int8_gemm.c", tmp_path)
    if isinstance(exe, str):
        pytest.skip(exe)
    rng = np.random.default_rng(3)
    rows, k, cols = 32, 2 * 131_080, 16  # kept (-128)(-128) products reach past INT32_MAX
    a = _extreme_int8(rng, (rows, k), frac=0.9)
    a[:2] = -128
    b = _extreme_int8(rng, (k, cols), frac=0.9)
    b[:, :2] = -128
    v, i = compress(a, 2, 4)
    ad = decompress(v, i, 2, 4)
    shifted = np.ascontiguousarray(b.T.view(np.uint8) ^ np.uint8(0x80))
    hw = native_build.run_gemm(exe, tmp_path, "vnni", shifted, pack_weights(np.ascontiguousarray(ad.T)))
    fix = ((128 * ad.astype(np.int64).sum(1)) & 0xFFFFFFFF).astype(np.uint32).view(np.int32)
    expected = (hw.T - fix[:, None]).astype(np.int32)
    c = spmac(v, i, b)
    np.testing.assert_array_equal(c, expected)
    exact = ad[0].astype(np.int64) @ b[:, 0].astype(np.int64)
    assert exact > 2**31 - 1 and c[0, 0] == (exact + 2**31) % 2**32 - 2**31


@pytest.mark.usefixtures("int8_backend")
@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 5, 7), (17, 33, 65), (70, 260, 130)])
def test_int8_matmul_equals_torch_and_plain_integers(shape):
    rng = np.random.default_rng(sum(shape))
    a, b = _extreme_int8(rng, shape[:2]), _extreme_int8(rng, shape[1:])
    c = int8_matmul(a, b)
    np.testing.assert_array_equal(c, _torch_int_mm(a, b))
    if shape[0] * shape[2] <= 500:
        np.testing.assert_array_equal(c, int8_matmul_reference(a, b))


@pytest.mark.usefixtures("int8_backend")
def test_int8_matmul_wraps_modulo_2_32():
    k = 131_080  # (-128)(-128) * k > INT32_MAX
    a = np.full((2, k), -128, np.int8)
    b = np.full((k, 3), -128, np.int8)
    b[:, 1] = 127
    c = int8_matmul(a, b)
    for j, w in ((0, -128), (1, 127)):
        exact = -128 * w * k
        assert c[0, j] == (exact + 2**31) % 2**32 - 2**31
    assert c[0, 0] < 0 < 16384 * k


# ------------------------------------------------------------------ layouts
def test_sparse_panel_layout():
    a = np.zeros((17, 8), np.int8)
    a[0] = [0, 5, 0, -7, 9, 0, 0, 3]  # groups: kept (1, 3) and (0, 3)
    a[16, :4] = [1, 2, 0, 0]
    v, i = compress(a, 2, 4)
    panel = vnni_sparse.pack_sparse(v, i, 2, 4)
    assert panel.blocks.shape == (2, 1, 128) and panel.k == 8 and panel.width == 8
    np.testing.assert_array_equal(panel.blocks[0, 0, :4], [5, -7, 9, 3])
    np.testing.assert_array_equal(panel.blocks[0, 0, 64:68], [1, 3, 4, 7])  # group*M + index
    np.testing.assert_array_equal(panel.blocks[1, 0, 64 + 4:64 + 8], [-128] * 4)  # padding row: zero
    assert panel.rowsum[0] == 10 and panel.rowsum[16] == 3


@pytest.mark.parametrize("shape", [(16, 16), (32, 48), (24, 40), (10, 7)])
@pytest.mark.parametrize("width", [8, 16])
def test_activation_panel_fast_transpose_equals_generic(shape, width):
    rng = np.random.default_rng(shape[0] + width)
    x = rng.integers(-128, 128, shape).astype(np.int8)
    steps = -(-shape[0] // width)
    got = vnni_sparse.pack_columns(x, steps, width, 0x80)
    ref = np.zeros_like(got)
    vnni_sparse._pack_columns(x, np.uint8(0x80), width, ref)
    np.testing.assert_array_equal(got, ref)
    g, t, c, q = 0, steps - 1, 3, 1
    if t * width + q < shape[0]:
        assert got[g, t, c, q] == (int(x[t * width + q, c]) + 128)


@pytest.mark.skipif(not simd.has_path("vnni"), reason="this CPU has no AVX512_VNNI")
def test_dense_products_pads_ragged_tiles():
    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, (7, 12), dtype=np.uint8)
    w = rng.integers(-128, 128, (12, 70), dtype=np.int8)
    got = vnni_dense.dense_products(a, pack_weights(w), "vnni")[:, :70]
    np.testing.assert_array_equal(got, (a.astype(np.int64) @ w.astype(np.int64)).astype(np.int32))
