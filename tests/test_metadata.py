"""Metadata encodings: exact bit counts, encoder/decoder pairs, rejection of invalid words."""

from itertools import combinations
from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsesim import FormatError, InputError
from sparsesim.formats import ENCODINGS, bits_per_group, compress, decode_metadata, encode_metadata, metadata_bytes
from sparsesim.formats.metadata import encode_reference

NM = [(1, 2), (2, 4), (4, 8), (2, 8), (3, 16), (8, 16)]


def test_bit_counts():
    assert bits_per_group("2:4", "index") == 4  # 2 kept x 2 bits
    assert bits_per_group("4:8", "index") == 12  # 4 kept x 3 bits
    assert bits_per_group("2:4", "combinatorial") == 3  # C(4,2) = 6 -> 3 bits
    assert bits_per_group("4:8", "combinatorial") == 7  # C(8,4) = 70 -> 7 bits
    assert bits_per_group("2:4", "bitmask") == 4
    assert bits_per_group("4:8", "bitmask") == 8
    assert metadata_bytes(16, 64, "2:4") == 16 * 64 // 8


def test_combinatorial_code_is_a_bijection_on_subsets():
    # every one of the C(M, N) subsets gets a distinct code in [0, C(M, N))
    for n, m in [(2, 4), (4, 8), (3, 8)]:
        subsets = np.array(list(combinations(range(m), n)), dtype=np.uint8)
        packed = encode_metadata(subsets.reshape(-1, n), n, m, "combinatorial")
        width = (comb(m, n) - 1).bit_length()
        codes = [int.from_bytes(row.tobytes(), "little") & ((1 << width) - 1) for row in packed]
        assert sorted(codes) == list(range(comb(m, n)))


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(NM), st.sampled_from(ENCODINGS), st.integers(1, 5), st.integers(1, 9), st.integers(0, 2**32 - 1))
def test_encode_decode_roundtrip(nm, enc, rows, groups, seed):
    n, m = nm
    w = np.random.default_rng(seed).standard_normal((rows, groups * m)).astype(np.float32)
    _, idx = compress(w, n, m)
    packed = encode_metadata(idx, n, m, enc)
    assert packed.dtype == np.uint8
    assert packed.tobytes() == encode_reference(idx, n, m, enc).tobytes()
    assert packed.nbytes == metadata_bytes(rows, groups * m, f"{n}:{m}", enc)
    assert np.array_equal(decode_metadata(packed, n, m, groups, enc), idx)


def test_2of4_index_is_nibble_per_group():
    idx = np.array([[0, 1, 2, 3, 1, 3, 0, 2]], dtype=np.uint8)
    packed = encode_metadata(idx, 2, 4, "index")
    # group nibble = idx0 | idx1 << 2, two groups per byte, low nibble first
    assert packed.tolist() == [[0b1110_0100, 0b1000_1101]]


def _pack(fields, width):
    stream = 0
    for j, f in enumerate(fields):
        stream |= f << (j * width)
    nbytes = (len(fields) * width + 7) // 8
    return np.frombuffer(stream.to_bytes(nbytes, "little"), dtype=np.uint8).reshape(1, -1).copy()


@pytest.mark.parametrize(
    "fields,width,n,m,enc",
    [
        ([1, 1], 2, 2, 4, "index"),  # repeated index
        ([3, 1], 2, 2, 4, "index"),  # descending
        ([6], 3, 2, 4, "combinatorial"),  # code 6 >= C(4,2)
        ([7], 3, 2, 4, "combinatorial"),
        ([0b0111], 4, 2, 4, "bitmask"),  # three bits set
        ([0b0001], 4, 2, 4, "bitmask"),  # one bit set
        ([70], 7, 4, 8, "combinatorial"),  # C(8,4) = 70 is out of range
        ([0, 1, 2, 2], 3, 4, 8, "index"),
    ],
)
def test_decoder_rejects_invalid_words(fields, width, n, m, enc):
    groups = len(fields) // n if enc == "index" else len(fields)
    with pytest.raises(FormatError, match="not a valid code"):
        decode_metadata(_pack(fields, width), n, m, groups, enc)


def test_encoder_rejects_invalid_indices():
    with pytest.raises(FormatError, match="strictly ascending"):
        encode_metadata(np.array([[2, 2]], np.uint8), 2, 4)
    with pytest.raises(FormatError, match="below 4"):
        encode_metadata(np.array([[1, 5]], np.uint8), 2, 4)
    with pytest.raises(InputError, match="unknown metadata encoding"):
        encode_metadata(np.array([[0, 1]], np.uint8), 2, 4, "huffman")
    with pytest.raises(FormatError, match="need"):
        decode_metadata(np.zeros((1, 3), np.uint8), 2, 4, 2)
    with pytest.raises(FormatError, match="uint8"):
        decode_metadata(np.zeros((1, 1), np.int8), 2, 4, 2)


def _packed_path(nm, enc, k):
    """The path compress_packed takes: the fused 2:4 kernel or compress followed by encode."""
    return "fused" if nm == (2, 4) and enc == "index" and k % 8 == 0 else "general"


# K = 4M, 5M and 16M groups: whole groups for every pattern; for 2:4 'index' 5M = 20 is
# not a whole metadata byte pair, so that case takes the general path.
PACKED_CASES = [(nm, enc, g * nm[1]) for nm in [(2, 4), (4, 8), (1, 2)] for enc in ENCODINGS for g in (4, 5, 16)]


@pytest.mark.parametrize("nm, enc, k", PACKED_CASES,
                         ids=[f"{n}:{m}-{e}-K{k}-{_packed_path((n, m), e, k)}" for (n, m), e, k in PACKED_CASES])
def test_compress_packed_equals_compress_then_encode(nm, enc, k, monkeypatch):
    import sparsesim.formats.nm as nm_mod
    from sparsesim.formats import compress_packed
    from sparsesim.formats.nm import compress_reference

    n, m = nm
    fused_calls = []
    fused = nm_mod._compress_2of4_packed_float

    def spy(*args):
        fused_calls.append(1)
        return fused(*args)

    monkeypatch.setattr(nm_mod, "_compress_2of4_packed_float", spy)
    w = np.random.default_rng(k).integers(-4, 5, (7, k)).astype(np.float16)
    pv, packed = compress_packed(w, n, m, enc)
    # the path the case names is the one that ran
    assert bool(fused_calls) == (_packed_path(nm, enc, k) == "fused")
    # against the plain-Python references ...
    rv, ri = compress_reference(w, n, m)
    assert pv.tobytes() == rv.tobytes()
    assert packed.tobytes() == encode_reference(ri, n, m, enc).tobytes()
    # ... and against the separate compress and encode kernels
    v, idx = compress(w, n, m)
    assert pv.tobytes() == v.tobytes()
    assert packed.tobytes() == encode_metadata(idx, n, m, enc).tobytes()


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.int8, np.int32])
def test_fused_2of4_path_matches_reference_with_ties(dtype):
    from sparsesim.formats import compress_packed
    from sparsesim.formats.nm import compress_reference

    rng = np.random.default_rng(4)
    w = rng.integers(-3, 4, (33, 64)).astype(dtype)  # many ties, zero groups, -x/+x pairs
    w[0, :8] = 0
    if dtype == np.int8:
        w[1, :4] = [-128, 127, -128, 127]
    rv, ri = compress_reference(w, 2, 4)
    pv, packed = compress_packed(w, 2, 4)
    assert pv.tobytes() == rv.tobytes()
    assert packed.tobytes() == encode_metadata(ri, 2, 4).tobytes()
    if np.dtype(dtype).kind == "f":
        bad = w.copy()
        bad[3, 9] = np.inf
        with pytest.raises(FormatError, match="NaN/Inf"):
            compress_packed(bad, 2, 4)
