"""Int8 GEMM from the x86 instructions: fused kernels vs plain integers vs the
instructions issued one by one vs a C program running the real intrinsic loop;
2:4 compressed weights vs the dense path; the s16 saturation and its 7-bit fix."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "native"))
import native_build  # noqa: E402

from sparsesim.errors import InputError  # noqa: E402
from sparsesim.kernels.int8_gemm import (  # noqa: E402
    PATHS,
    compress_weights_24,
    int8_gemm,
    int8_gemm_packed,
    int8_gemm_registers,
    pack_weights,
    s16_saturations,
    sparse24_int8_gemm,
    split_outlier_gemm,
    unpack_weights,
)
from sparsesim.kernels.int8_gemm_ref import ref_int8_gemm, ref_scatter_24  # noqa: E402

I32_MIN, I32_MAX = np.iinfo(np.int32).min, np.iinfo(np.int32).max


@pytest.fixture(scope="module")
def gemm_exe(tmp_path_factory):
    exe = native_build.build("int8_gemm.c", tmp_path_factory.mktemp("gemm_native"))
    if isinstance(exe, str):
        pytest.skip(exe)
    return exe


def _operands(rng, m, k, n, extreme=0.3):
    """Random u8/s8 operands, a fraction of entries pushed to the extremes so the
    s16 saturation of VPMADDUBSW actually occurs."""
    a = rng.integers(0, 256, (m, k), dtype=np.uint8)
    w = rng.integers(-128, 128, (k, n), dtype=np.int8)
    a[rng.random((m, k)) < extreme] = 255
    hot = rng.random((k, n)) < extreme
    w[hot] = rng.choice(np.array([127, -128, -127], np.int8), size=hot.sum())
    return a, w


def _sparse_24(rng, k, n):
    """Random 2:4 weights W[K x N] (every group of 4 along K has <= 2 non-zeros)."""
    _, w = _operands(rng, 1, k, n)
    pos = np.argsort(rng.random((k // 4, n, 4)), axis=-1)[..., :2]
    mask = np.zeros((k // 4, n, 4), bool)
    np.put_along_axis(mask, pos, True, axis=-1)
    return np.where(mask.transpose(0, 2, 1).reshape(k, n), w, 0).astype(np.int8)


# ------------------------------------------------------------------- layout
def test_pack_layout_matches_article():
    k, n = 8, 32
    w = np.arange(k * n, dtype=np.int64).reshape(k, n).astype(np.int8)
    wp = pack_weights(w)
    assert wp.shape == (2, 2, 64)
    # register (nb=1, kb=1), lane j=3 holds W[4..7, 19]
    np.testing.assert_array_equal(wp[1, 1, 12:16], w[4:8, 19])
    np.testing.assert_array_equal(unpack_weights(wp, k, n), w)
    w_odd = w[:7, :20]
    np.testing.assert_array_equal(unpack_weights(pack_weights(w_odd), 7, 20), w_odd)


@pytest.mark.usefixtures("int8_backend")
# ------------------------------------------------------------------- dense
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("shape", [(1, 4, 16), (7, 37, 21), (32, 128, 64), (3, 1, 5), (0, 8, 16)])
def test_dense_matches_plain_integer_reference(path, shape):
    rng = np.random.default_rng(sum(shape))
    a, w = _operands(rng, *shape)
    got = int8_gemm(a, w, path)
    assert got.dtype == np.int32 and got.shape == (shape[0], shape[2])
    np.testing.assert_array_equal(got, ref_int8_gemm(a, w, path))


@pytest.mark.usefixtures("int8_backend")
@pytest.mark.parametrize("path", PATHS)
def test_fused_kernel_equals_instruction_by_instruction(path):
    rng = np.random.default_rng(11)
    a, w = _operands(rng, 9, 52, 40)
    np.testing.assert_array_equal(int8_gemm(a, w, path), int8_gemm_registers(a, w, path))


@pytest.mark.usefixtures("int8_backend")
@pytest.mark.parametrize("path", ["avx512", "vnni", "vnnis"])
def test_dense_matches_real_intrinsic_loop(gemm_exe, tmp_path, path):
    rng = np.random.default_rng(12)
    m, k, n = 33, 260, 48
    a, w = _operands(rng, m, k, n)
    hw = native_build.run_gemm(gemm_exe, tmp_path, path, a, pack_weights(w))[:, :n]
    np.testing.assert_array_equal(int8_gemm(a, w, path), hw)
    if path == "avx512":  # the C loop saturates where the exact product does not
        assert (hw != ref_int8_gemm(a, w, "vnni")).sum() > 100


@pytest.mark.usefixtures("int8_backend")
def test_accumulator_wraps_and_saturates_like_the_cpu(gemm_exe, tmp_path):
    # 255 x 127 everywhere: each VPDPBUSD adds 129540, so K = 66320 passes INT32_MAX
    k = 66_320
    a = np.full((2, k), 255, np.uint8)
    w = np.full((k, 16), 127, np.int8)
    w[:, 1] = -128
    exact = 255 * 127 * k
    wp = pack_weights(w)
    wrap = native_build.run_gemm(gemm_exe, tmp_path, "vnni", a, wp)
    sat = native_build.run_gemm(gemm_exe, tmp_path, "vnnis", a, wp)
    assert wrap[0, 0] == exact - 2**32 and sat[0, 0] == I32_MAX and sat[0, 1] == I32_MIN
    for path, hw in (("vnni", wrap), ("vnnis", sat)):
        np.testing.assert_array_equal(int8_gemm(a, w, path), hw)
        np.testing.assert_array_equal(ref_int8_gemm(a, w, path), hw)
    hw = native_build.run_gemm(gemm_exe, tmp_path, "avx512", a, wp)
    np.testing.assert_array_equal(int8_gemm(a, w, "avx512"), hw)


@pytest.mark.usefixtures("int8_backend")
def test_bias_added_with_wraparound():
    a = np.full((1, 4), 255, np.uint8)
    w = np.full((4, 2), 127, np.int8)
    bias = np.array([I32_MAX, -5], np.int32)
    got = int8_gemm(a, w, "vnni", bias_s32=bias)
    assert got[0, 0] == I32_MIN + 4 * 255 * 127 - 1 and got[0, 1] == 4 * 255 * 127 - 5


# ------------------------------------------------------------------- s16 saturation
def test_three_instruction_path_saturates_where_vnni_does_not():
    a = np.full((1, 4), 255, np.uint8)
    w = np.array([[127], [127], [-128], [-128]], np.int8)
    # VPMADDUBSW: 255*127*2 = 64770 -> 32767 and -65280 -> -32768
    assert int8_gemm(a, w, "avx512")[0, 0] == 32767 - 32768
    assert int8_gemm(a, w, "vnni")[0, 0] == 255 * 127 * 2 - 255 * 128 * 2
    assert s16_saturations(a, w)[0, 0] == 2


@pytest.mark.usefixtures("int8_backend")
def test_paths_differ_exactly_where_a_word_saturated():
    rng = np.random.default_rng(13)
    a, w = _operands(rng, 40, 96, 48, extreme=0.5)
    diff = int8_gemm(a, w, "avx512") != int8_gemm(a, w, "vnni")
    sat = s16_saturations(a, w)
    assert diff.any()
    assert not (diff & (sat == 0)).any()  # no difference without a saturated word


def test_saturation_count_matches_plain_count():
    rng = np.random.default_rng(18)
    a, w = _operands(rng, 6, 30, 20, extreme=0.5)
    a2 = np.zeros((6, 32), np.int64)
    a2[:, :30] = a
    w2 = np.zeros((32, 20), np.int64)
    w2[:30] = w
    words = np.einsum("mpq,pqn->mpn", a2.reshape(6, 16, 2), w2.reshape(16, 2, 20))
    np.testing.assert_array_equal(s16_saturations(a, w), ((words > 32767) | (words < -32768)).sum(axis=1))


def test_seven_bit_activations_remove_the_difference():
    rng = np.random.default_rng(14)
    a, w = _operands(rng, 40, 96, 48, extreme=0.5)
    a7 = np.minimum(a, 127).astype(np.uint8)  # 7-bit inputs: |2 * 127 * -128| < 2**15
    a7[:, :8] = 127
    w[:8] = -128
    assert (s16_saturations(a7, w) == 0).all()
    np.testing.assert_array_equal(int8_gemm(a7, w, "avx512"), int8_gemm(a7, w, "vnni"))
    assert (int8_gemm(a, w, "avx512") != int8_gemm(a, w, "vnni")).any()


def test_split_outlier_gemm_removes_the_difference():
    rng = np.random.default_rng(19)
    a, w = _operands(rng, 30, 100, 40, extreme=0.5)
    exact = int8_gemm(a, w, "vnni")
    assert (int8_gemm(a, w, "avx512") != exact).any()
    got, frac = split_outlier_gemm(a, w, "avx512")
    np.testing.assert_array_equal(got, exact)
    assert (s16_saturations(a, np.clip(w, -64, 64).astype(np.int8)) == 0).all()
    assert frac == pytest.approx(np.mean(np.abs(w.astype(int)) > 64))
    with pytest.raises(InputError, match="limit"):
        split_outlier_gemm(a, w, limit=65)


@pytest.mark.usefixtures("int8_backend")
# ------------------------------------------------------------------- 2:4 sparse
@pytest.mark.parametrize("path", PATHS)
def test_sparse24_equals_dense_on_decompressed(path):
    from sparsesim.formats import decompress

    rng = np.random.default_rng(15)
    k, n = 96, 40
    w = _sparse_24(rng, k, n)
    a, _ = _operands(rng, 17, k, 1, extreme=0.5)
    values, indices = compress_weights_24(w)
    assert values.shape == (n, k // 2)
    w_dec = decompress(values, indices, 2, 4).T
    np.testing.assert_array_equal(w_dec, w)  # lossless on 2:4 weights
    np.testing.assert_array_equal(ref_scatter_24(values, indices), w)
    got = sparse24_int8_gemm(a, values, indices, path)
    np.testing.assert_array_equal(got, int8_gemm(a, w, path))
    np.testing.assert_array_equal(got, ref_int8_gemm(a, w, path))


@pytest.mark.usefixtures("int8_backend")
def test_sparse24_matches_real_intrinsic_loop(gemm_exe, tmp_path):
    rng = np.random.default_rng(16)
    k, n = 128, 32
    w = _sparse_24(rng, k, n)
    a, _ = _operands(rng, 20, k, 1, extreme=0.6)
    values, indices = compress_weights_24(w)
    for path in PATHS:
        hw = native_build.run_gemm(gemm_exe, tmp_path, path, a, pack_weights(w))
        np.testing.assert_array_equal(sparse24_int8_gemm(a, values, indices, path), hw)


@pytest.mark.usefixtures("int8_backend")
def test_sparse24_accumulator_wraps_and_saturates_like_dense():
    k = 2 * 66_320  # two kept 255 x 127 products per group: passes INT32_MAX like the dense test
    a = np.full((1, k), 255, np.uint8)
    w = np.zeros((k, 16), np.int8)
    w[0::4] = 127
    w[3::4] = 127
    w[:, 1] = np.where(w[:, 1] != 0, -128, 0)
    values, indices = compress_weights_24(w)
    for path in PATHS:
        np.testing.assert_array_equal(sparse24_int8_gemm(a, values, indices, path), int8_gemm(a, w, path))
    assert sparse24_int8_gemm(a, values, indices, "vnnis")[0, 0] == I32_MAX
    assert sparse24_int8_gemm(a, values, indices, "vnnis")[0, 1] == I32_MIN
    assert sparse24_int8_gemm(a, values, indices, "vnni")[0, 0] == 255 * 127 * k // 2 - 2**32


@pytest.mark.usefixtures("int8_backend")
def test_sparse24_saturation_depends_on_byte_pairing():
    # kept positions (0, 1) share one VPMADDUBSW word and saturate; (0, 2) do not
    a = np.full((1, 4), 255, np.uint8)
    v = np.array([[127, 127], [127, 127]], np.int8)
    idx = np.array([[0, 1], [0, 2]], np.uint8)
    got = sparse24_int8_gemm(a, v, idx, "avx512")
    assert got[0, 0] == 32767 and got[0, 1] == 2 * 255 * 127
    np.testing.assert_array_equal(sparse24_int8_gemm(a, v, idx, "vnni"), [[2 * 255 * 127] * 2])
    a7 = np.full((1, 4), 127, np.uint8)
    np.testing.assert_array_equal(sparse24_int8_gemm(a7, v, idx, "avx512"), sparse24_int8_gemm(a7, v, idx, "vnni"))


def test_compress_prunes_dense_weights_to_24():
    rng = np.random.default_rng(17)
    a, w = _operands(rng, 5, 64, 16)
    values, indices = compress_weights_24(w)
    w24 = ref_scatter_24(values, indices)
    assert ((w24.reshape(16, 4, 16) != 0).sum(axis=1) <= 2).all()
    np.testing.assert_array_equal(sparse24_int8_gemm(a, values, indices, "avx512"), int8_gemm(a, w24, "avx512"))


# ------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: int8_gemm(np.zeros((2, 4), np.int8), np.zeros((4, 2), np.int8)), "a_u8 must have dtype uint8"),
        (lambda: int8_gemm(np.zeros((2, 4), np.uint8), np.zeros((4, 2), np.uint8)), "w_s8 must have dtype int8"),
        (lambda: int8_gemm(np.zeros((2, 4), np.uint8), np.zeros((5, 2), np.int8)), "inner dimensions"),
        (lambda: int8_gemm(np.zeros((2, 4), np.uint8), np.zeros((4, 2), np.int8), "sse"), "path must be one of"),
        (lambda: int8_gemm(np.zeros(4, np.uint8), np.zeros((4, 2), np.int8)), "2-D"),
        (lambda: int8_gemm_packed(np.zeros((2, 4), np.uint8), np.zeros((1, 1, 32), np.int8), 16), "w_packed"),
        (lambda: int8_gemm(np.zeros((1, 4), np.uint8), np.zeros((4, 2), np.int8), bias_s32=np.zeros(3, np.int32)), "bias_s32"),
        (
            lambda: int8_gemm_packed(np.zeros((2, 3), np.uint8), pack_weights(np.zeros((8, 16), np.int8)), 16),
            "expected 5..8",
        ),
        (
            lambda: sparse24_int8_gemm(np.zeros((1, 4), np.uint8), np.zeros((1, 2), np.int8), np.array([[2, 1]])),
            "ascending",
        ),
        (
            lambda: sparse24_int8_gemm(np.zeros((1, 8), np.uint8), np.zeros((1, 2), np.int8), np.array([[0, 1]])),
            "K=8 columns but the weights hold K=4",
        ),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(InputError, match=match):
        call()
