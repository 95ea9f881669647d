"""N:M prune / compress / decompress against a plain-Python reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sparsesim import FormatError, InputError, PatternError
from sparsesim.formats import compress, decompress, is_nm_sparse, prune
from sparsesim.formats.nm import compress_reference

NM = [(1, 2), (2, 4), (4, 8), (2, 8), (1, 4), (3, 4), (5, 16)]
DTYPES = [np.int8, np.float16, np.float32, np.int32]


def _same_bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("n,m", NM)
@pytest.mark.parametrize("dtype", DTYPES)
def test_compress_matches_reference(n, m, dtype):
    rng = np.random.default_rng(n * 100 + m)
    # small integer range forces many magnitude ties (+x / -x, zeros)
    w = rng.integers(-3, 4, size=(24, 4 * m)).astype(dtype)
    v, i = compress(w, n, m)
    rv, ri = compress_reference(w, n, m)
    _same_bits(v, rv)
    _same_bits(i, ri)
    assert v.shape == (24, 4 * n)


def test_ties_break_toward_lower_index():
    w = np.array([[1, -1, 1, -1, 0, 0, 0, 0]], dtype=np.float32)
    v, i = compress(w, 2, 4)
    assert i.tolist() == [[0, 1, 0, 1]]  # all-zero group keeps the two lowest positions
    assert v.tolist() == [[1, -1, 0, 0]]
    w = np.array([[-128, 127, -128, 5]], dtype=np.int8)  # |-128| = 128 beats 127
    v, i = compress(w, 2, 4)
    assert i.tolist() == [[0, 2]] and v.tolist() == [[-128, -128]]


def test_negative_zero_kept_bit_exact():
    w = np.array([[-0.0, 0.0, 0.0, 0.0]], dtype=np.float16)
    v, i = compress(w, 2, 4)
    assert np.signbit(v[0, 0]) and i[0].tolist() == [0, 1]
    assert np.signbit(decompress(v, i, 2, 4)[0, 0])


def test_prune_keeps_largest_and_is_nm():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((32, 64)).astype(np.float32)
    p = prune(w, 2, 4)
    assert is_nm_sparse(p, 2, 4)
    g = np.abs(w).reshape(32, 16, 4)
    kept = np.abs(p).reshape(32, 16, 4)
    # every kept magnitude is >= every dropped magnitude in its group
    assert (np.where(kept > 0, g, np.inf).min(axis=2) >= np.where(kept == 0, g, -np.inf).max(axis=2)).all()
    assert kept.sum() > 0


def test_spec_string_form():
    w = np.arange(16, dtype=np.float32).reshape(2, 8)
    v1, i1 = compress(w, "4:8")
    v2, i2 = compress(w, 4, 8)
    _same_bits(v1, v2)
    _same_bits(i1, i2)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(NM),
    st.sampled_from([np.int8, np.float16, np.float32]),
    st.integers(1, 6),
    st.integers(1, 5),
    st.data(),
)
def test_roundtrip_property(nm, dtype, rows, groups, data):
    n, m = nm
    if np.dtype(dtype).kind == "f":
        elems = st.floats(-1e3, 1e3, width=np.dtype(dtype).itemsize * 8, allow_nan=False, allow_infinity=False)
    else:
        elems = st.integers(-128, 127)
    w = data.draw(hnp.arrays(dtype, (rows, groups * m), elements=elems))
    v, i = compress(w, n, m)
    d = decompress(v, i, n, m)
    _same_bits(d, prune(w, n, m))
    # decompress(compress(x)) is the identity on already-pruned matrices
    v2, i2 = compress(d, n, m)
    _same_bits(decompress(v2, i2, n, m), d)
    rv, ri = compress_reference(w, n, m)
    _same_bits(v, rv)
    _same_bits(i, ri)


def test_k_not_multiple_of_m():
    w = np.ones((2, 10), dtype=np.float32)
    with pytest.raises(FormatError, match="not a multiple of the group size M = 4.*pad=True"):
        compress(w, 2, 4)
    v, i = compress(w, 2, 4, pad=True)
    assert v.shape == (2, 6)
    p = prune(w, 2, 4, pad=True)
    assert p.shape == (2, 10)
    assert np.array_equal(decompress(v, i, 2, 4, k=10), p)
    with pytest.raises(FormatError, match="does not match"):
        decompress(v, i, 2, 4, k=3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_non_finite_rejected(bad, dtype):
    w = np.zeros((2, 8), dtype=dtype)
    w[1, 5] = bad
    with pytest.raises(FormatError, match="NaN/Inf"):
        compress(w, 2, 4)
    with pytest.raises(FormatError, match="NaN/Inf"):
        prune(w, 2, 4)


@pytest.mark.parametrize(
    "idx,msg",
    [([[1, 1]], "strictly ascending"), ([[2, 1]], "strictly ascending"), ([[0, 4]], "strictly ascending and < 4")],
)
def test_decompress_rejects_invalid_index_words(idx, msg):
    v = np.ones((1, 2), dtype=np.float32)
    with pytest.raises(FormatError, match=msg):
        decompress(v, np.array(idx, dtype=np.uint8), 2, 4)


def test_bad_inputs():
    with pytest.raises(InputError, match="numpy array"):
        compress([[1, 2, 3, 4]], 2, 4)
    with pytest.raises(InputError, match="2-D"):
        compress(np.ones(8), 2, 4)
    with pytest.raises(InputError, match="dtype"):
        compress(np.ones((2, 4), dtype=bool), 2, 4)
    with pytest.raises(PatternError):
        compress(np.ones((2, 4)), 4, 4)
    with pytest.raises(PatternError):
        compress(np.ones((2, 6)), 2, 6)
    with pytest.raises(FormatError, match="same shape"):
        decompress(np.ones((1, 2)), np.zeros((1, 4), np.uint8), 2, 4)


def test_empty_matrix():
    v, i = compress(np.zeros((0, 8), np.float32), 2, 4)
    assert v.shape == (0, 4)
    assert decompress(v, i, 2, 4).shape == (0, 8)
