"""Sparse MAC (decode -> mux -> multiply -> accumulate) against independent references."""

import numpy as np
import pytest

from sparsesim import FormatError, InputError
from sparsesim.formats import compress, decompress
from sparsesim.kernels import spmac, spmac_reference


@pytest.mark.parametrize("pattern", ["2:4", "4:8", "1:2", "1:4", "3:8"])
def test_int8_matches_integer_matmul(pattern):
    n, m = map(int, pattern.split(":"))
    rng = np.random.default_rng(n + m)
    a = rng.integers(-128, 128, (37, 8 * m)).astype(np.int8)
    b = rng.integers(-128, 128, (8 * m, 301)).astype(np.int8)  # 301: partial column panel
    v, i = compress(a, n, m)
    c = spmac(v, i, b, pattern)
    assert c.dtype == np.int32
    dense = decompress(v, i, n, m).astype(np.int64) @ b.astype(np.int64)  # independent: numpy int64
    assert np.array_equal(c, dense.astype(np.int32))
    assert np.array_equal(c, spmac_reference(v, i, b, n, m))


def test_int32_wraparound():
    # 131074 kept products of (-128)(-128) = 16384 sum to 2^31 + 2^15 > INT32_MAX: hardware wraps
    k = 2 * 131074
    a = np.full((1, k), -128, dtype=np.int8)
    b = np.full((k, 2), -128, dtype=np.int8)
    v, i = compress(a, 2, 4)
    c = spmac(v, i, b, "2:4")
    true = (k // 2) * 16384
    assert true > 2**31 - 1
    assert c[0, 0] == (true + 2**31) % 2**32 - 2**31 < 0


def test_fp16_fp32_accumulate_bit_exact():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((9, 64)).astype(np.float16)
    b = rng.standard_normal((64, 33)).astype(np.float16)
    v, i = compress(a, 2, 4)
    c = spmac(v, i, b)
    assert c.dtype == np.float32
    assert c.tobytes() == spmac_reference(v, i, b, 2, 4).tobytes()
    ref = decompress(v, i, 2, 4).astype(np.float64) @ b.astype(np.float64)
    assert np.allclose(c, ref, rtol=1e-3, atol=1e-3)


def test_bad_inputs():
    a = np.ones((2, 8), np.int8)
    v, i = compress(a, 2, 4)
    with pytest.raises(InputError, match="B has 4 rows"):
        spmac(v, i, np.ones((4, 3), np.int8))
    with pytest.raises(InputError, match="int8 x int8"):
        spmac(v, i, np.ones((8, 3), np.float16))
    bad = i.copy()
    bad[0, 1] = bad[0, 0]
    with pytest.raises(FormatError, match="invalid 2:4 indices"):
        spmac(v, bad, np.ones((8, 3), np.int8))
    with pytest.raises(InputError, match="N:M"):
        spmac(v, i, np.ones((8, 3), np.int8), "dense")


def test_int8_long_k_crosses_exact_chunks():
    # 3000 kept weights per row span several 1024-product float32 chunks, plus a tail
    rng = np.random.default_rng(11)
    a = rng.integers(-128, 128, (5, 6000)).astype(np.int8)
    a[0] = -128
    b = rng.integers(-128, 128, (6000, 2100)).astype(np.int8)  # 2100 > one 2048-column panel
    b[:, 0] = -128
    v, i = compress(a, 2, 4)
    c = spmac(v, i, b)
    ref = decompress(v, i, 2, 4).astype(np.int64) @ b.astype(np.int64)
    assert np.array_equal(c, ref.astype(np.int32))
    assert c[0, 0] == 3000 * 16384
