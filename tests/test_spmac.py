"""Sparse MAC (decode -> mux -> multiply -> accumulate) against independent references."""

import importlib

import numpy as np
import pytest

from sparsesim import FormatError, InputError
from sparsesim.formats import compress, decompress
from sparsesim.kernels import spmac, spmac_reference

spmac_module = importlib.import_module("sparsesim.kernels.spmac")


@pytest.mark.usefixtures("int8_backend")
@pytest.mark.parametrize("pattern", ["2:4", "4:8", "1:2", "1:4", "3:8"])
def test_int8_matches_integer_matmul(pattern):
    n, m = map(int, pattern.split(":"))
    rng = np.random.default_rng(n + m)
    # K = 9 groups: 9*N kept weights per row, not a multiple of the kernel's 8-weight pass
    a = rng.integers(-128, 128, (37, 9 * m)).astype(np.int8)
    b = rng.integers(-128, 128, (9 * m, 301)).astype(np.int8)
    v, i = compress(a, n, m)
    c = spmac(v, i, b, pattern)
    assert c.dtype == np.int32
    dense = decompress(v, i, n, m).astype(np.int64) @ b.astype(np.int64)  # independent: numpy int64
    assert np.array_equal(c, dense.astype(np.int32))
    assert np.array_equal(c, spmac_reference(v, i, b, n, m))


@pytest.mark.usefixtures("int8_backend")
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


def test_invalid_indices_report_the_first_bad_group():
    rng = np.random.default_rng(5)
    a = rng.integers(-128, 128, (8, 16)).astype(np.int8)
    b = np.ones((16, 3), np.int8)
    v, i = compress(a, 2, 4)
    bad = i.copy()
    bad[5, 0:2] = [3, 1]  # descending, row 5 group 0
    bad[3, 3] = 4  # out of range for M = 4, row 3 group 1 (first in row-major order)
    with pytest.raises(FormatError, match=r"at row 3, group 1: \[\d, 4\]"):
        spmac(v, bad, b)
    wide = i.astype(np.int64)
    wide[2, 4] = -1  # negative index in a signed array: row 2 group 2
    with pytest.raises(FormatError, match=r"at row 2, group 2: \[-1, \d\]"):
        spmac(v, wide, b)
    assert np.array_equal(spmac(v, i.astype(np.int64), b), spmac(v, i, b))


@pytest.mark.usefixtures("int8_backend")
def test_int8_long_k_crosses_exact_chunks_and_panels():
    # 3002 kept weights per row: three 1024-product float32 chunks, the last ending in a
    # partial 8-weight pass; more columns than one panel of B
    panel = spmac_module.PANEL
    rng = np.random.default_rng(11)
    a = rng.integers(-128, 128, (5, 6004)).astype(np.int8)
    a[0] = -128
    b = rng.integers(-128, 128, (6004, panel + 20)).astype(np.int8)
    b[:, 0] = -128
    v, i = compress(a, 2, 4)
    c = spmac(v, i, b)
    cols = [0, 1, panel - 2, panel - 1, panel, panel + 1, panel + 19]  # both sides of the panel edge
    ref = decompress(v, i, 2, 4).astype(np.int64) @ b[:, cols].astype(np.int64)
    assert np.array_equal(c[:, cols], ref.astype(np.int32))
    assert c[0, 0] == 3002 * 16384
