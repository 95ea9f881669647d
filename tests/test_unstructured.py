"""CSR, CSB and bitmask: encode/decode round trips, exact byte counts, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsesim import FormatError, InputError
from sparsesim.formats import CSB, CSR, Bitmask, bitmask_encode, csb_encode, csr_encode, traffic_bytes


def _random_sparse(rng, rows, cols, density, dtype=np.float32):
    w = rng.standard_normal((rows, cols)).astype(dtype)
    w[rng.random((rows, cols)) >= density] = 0
    return w


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.floats(0.0, 1.0), st.sampled_from([2, 4, 8, 16]), st.integers(0, 2**32 - 1))
def test_roundtrips(rows, cols, density, block, seed):
    w = _random_sparse(np.random.default_rng(seed), rows, cols, density)
    for enc in (csr_encode(w), csb_encode(w, block), bitmask_encode(w)):
        assert enc.decode().tobytes() == w.tobytes()


def test_csr_known_arrays():
    w = np.array([[0, 5, 0, 7], [0, 0, 0, 0], [1, 0, 0, 2]], dtype=np.int8)
    c = csr_encode(w)
    assert c.values.tolist() == [5, 7, 1, 2]
    assert c.col_idx.tolist() == [1, 3, 0, 3]
    assert c.row_ptr.tolist() == [0, 2, 2, 4]
    nb = c.nbytes()
    # 4 values x 1 B; 4 col indices x 2 bits (K=4) = 1 B; 4 pointers x 3 bits (nnz=4) = 2 B
    assert nb == {"values": 4, "col_idx": 1, "row_ptr": 2, "metadata": 3, "total": 7}
    assert c.nbytes(index_bits=32)["metadata"] == 4 * 4 + 4 * 4


def test_csb_known_arrays():
    w = np.zeros((4, 4), dtype=np.float16)
    w[0, 3] = 1
    w[1, 0] = 2
    w[3, 2] = 3
    c = csb_encode(w, block=2)
    # blocks in row-major order: (0,0) holds (1,0); (0,1) holds (0,3); (1,0) empty; (1,1) holds (3,2)
    assert c.block_ptr.tolist() == [0, 1, 2, 2, 3]
    assert c.values.tolist() == [2, 1, 3]
    assert c.row_idx.tolist() == [1, 0, 1]
    assert c.col_idx.tolist() == [0, 1, 0]
    nb = c.nbytes()
    # 3 x 2 B values; 3 x 1-bit row and col indices -> 1 B each; 5 pointers x 2 bits -> 2 B
    assert nb["values"] == 6 and nb["row_idx"] == 1 and nb["col_idx"] == 1 and nb["block_ptr"] == 2


def test_byte_counts_match_traffic_api():
    rng = np.random.default_rng(0)
    for dt, name in [(np.float16, "fp16"), (np.int8, "int8")]:
        w = _random_sparse(rng, 96, 200, 0.3, dt)
        density = np.count_nonzero(w) / w.size
        for fmt, enc in [("csr", csr_encode(w)), ("csb", csb_encode(w, 32)), ("bitmask", bitmask_encode(w))]:
            t = traffic_bytes(96, 200, name, "unstructured", fmt, density=density, block=32)
            nb = enc.nbytes()
            assert (t["values"], t["metadata"]) == (nb["values"], nb["metadata"]), fmt


def test_decoders_reject_corrupt_arrays():
    w = np.eye(4, dtype=np.float32)
    c = csr_encode(w)
    with pytest.raises(FormatError, match="row_ptr"):
        CSR(c.shape, c.values, c.col_idx, c.row_ptr[::-1].copy()).decode()
    with pytest.raises(FormatError, match="out of range"):
        CSR(c.shape, c.values, c.col_idx + 4, c.row_ptr).decode()
    with pytest.raises(FormatError, match="repeated"):
        CSR(c.shape, c.values, np.zeros(4, np.int64), np.array([0, 4, 4, 4, 4])).decode()
    b = csb_encode(w, 2)
    with pytest.raises(FormatError, match="in-block index"):
        CSB(b.shape, 2, b.values, b.row_idx + 2, b.col_idx, b.block_ptr).decode()
    with pytest.raises(FormatError, match="block_ptr"):
        CSB(b.shape, 2, b.values, b.row_idx, b.col_idx, b.block_ptr[:-1]).decode()
    m = bitmask_encode(w)
    with pytest.raises(FormatError, match="set bits"):
        Bitmask(m.shape, m.values[:-1], m.mask).decode()
    with pytest.raises(InputError, match="power of two"):
        csb_encode(w, 3)
    with pytest.raises(FormatError, match="NaN/Inf"):
        csr_encode(np.array([[np.nan]]))
    with pytest.raises(InputError, match="cannot hold"):
        c.nbytes(index_bits=1)
