"""Hierarchical N:M: prune / compress / decompress bit-exactly, densities, traffic bytes."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from sparsesim.errors import InputError, PatternError
from sparsesim.masks import (
    HierarchicalPattern,
    hierarchical_compress,
    hierarchical_decompress,
    hierarchical_densities,
    hierarchical_for_density,
    hierarchical_mask,
    hierarchical_prune,
    hierarchical_traffic_bytes,
    parse_hierarchical,
)
from sparsesim.masks.hierarchical import hierarchical_reference

SPECS = ["h2:4/8:2:4", "h4:8/16:4:8", "h1:4/4:2:4", "h2:8/24:4:8", "h4:4/8:1:4", "h2:8/8:2:4"]


def _bits(a):
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint16)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(SPECS),
    st.data(),
)
def test_round_trip_matches_plain_reference_bit_exactly(spec, data):
    pat = parse_hierarchical(spec)
    rows = pat.v * data.draw(st.integers(1, 3))
    k = pat.vec_m * data.draw(st.integers(1, 2))
    dtype = data.draw(st.sampled_from([np.float32, np.float16]))
    elems = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.0, -2.5, 3.0, 0.5, -7.0])
    w = data.draw(arrays(dtype, (rows, k), elements=elems))
    c = hierarchical_compress(w, pat)
    back = hierarchical_decompress(c)
    ref = hierarchical_reference(w, pat)
    assert back.dtype == w.dtype and back.shape == w.shape
    assert np.array_equal(_bits(back), _bits(ref))
    assert np.array_equal(_bits(hierarchical_prune(w, pat)), _bits(ref))
    mask = hierarchical_mask(w, pat)
    assert mask.sum() == round(pat.density * w.size)
    assert np.array_equal(np.where(mask, w, 0) != 0, back != 0)


@pytest.mark.parametrize("spec", SPECS)
def test_structure_of_the_kept_set(spec):
    pat = parse_hierarchical(spec)
    rng = np.random.default_rng(1)
    w = rng.standard_normal((pat.v * 4, pat.vec_m * 3)).astype(np.float32)
    mask = hierarchical_mask(w, pat)
    tiles = mask.reshape(4, pat.v, 3, pat.vec_m)
    used_cols = tiles.any(axis=1)  # (tiles, groups, vec_m)
    assert (used_cols.sum(axis=2) <= pat.vec_keep).all()
    c = hierarchical_compress(w, pat)
    assert c.values.shape == (w.shape[0], 3 * pat.vec_keep * pat.n // pat.m)
    assert c.columns.shape == (4, 3, pat.vec_keep)
    # inside each tile, the kept columns hold the largest L1 column norms
    a = np.abs(w.astype(np.float64)).reshape(4, pat.v, 3, pat.vec_m).sum(axis=1)
    for t in range(4):
        for g in range(3):
            kept = set(c.columns[t, g].tolist())
            dropped = [x for x in range(pat.vec_m) if x not in kept]
            if dropped:
                assert min(a[t, g, list(kept)]) >= max(a[t, g, dropped])
    # every row of the gathered block is N:M
    assert mask.sum() == pytest.approx(pat.density * w.size)


def test_plain_nm_is_the_vec_keep_equals_vec_m_case():
    from sparsesim.formats import prune, traffic_bytes

    rng = np.random.default_rng(2)
    w = rng.standard_normal((8, 32)).astype(np.float32)
    pat = HierarchicalPattern(4, 2, 4, 8, 8)
    assert np.array_equal(_bits(hierarchical_prune(w, pat)), _bits(prune(w, 2, 4)))
    hb = hierarchical_traffic_bytes(64, 256, "fp16", pat)
    fb = traffic_bytes(64, 256, "fp16", "2:4")
    assert hb["values"] == fb["values"] and hb["metadata"] == fb["metadata"] and hb["vector_metadata"] == 0


def test_traffic_bytes_counts():
    from sparsesim.formats import encode_metadata

    pat = parse_hierarchical("h64:4/8:2:4")
    t = hierarchical_traffic_bytes(128, 512, "int8", pat)
    # values: density 1/4
    assert t["nnz"] == 128 * 512 // 4 and t["values"] == t["nnz"]
    # N:M metadata equals the packed index encoding of the real indices
    w = np.random.default_rng(0).standard_normal((128, 512)).astype(np.float32)
    c = hierarchical_compress(w, pat)
    assert t["nm_metadata"] == encode_metadata(c.indices, 2, 4).nbytes
    # vector index: 3 bits per kept column, 64 groups x 4 columns per tile, 2 tiles
    assert t["vector_metadata"] == 2 * (64 * 4 * 3 // 8)
    assert t["metadata"] == t["nm_metadata"] + t["vector_metadata"]
    assert t["total"] == t["values"] + t["metadata"]
    assert t["dense"] == 128 * 512
    assert c.nbytes()["total"] == hierarchical_traffic_bytes(128, 512, 4, pat)["total"]


def test_densities_and_lookup():
    ds = hierarchical_densities(2, 4, 16)
    vals = [d for d, _, _ in ds]
    assert vals == sorted(vals, reverse=True) and vals[0] == 0.5
    assert 0.25 in vals and 0.125 in vals and 0.375 in vals
    for d, keep, vec_m in ds:
        assert HierarchicalPattern(8, 2, 4, vec_m, keep).density == pytest.approx(d)
    p = hierarchical_for_density(4, 8, 0.25, v=32)
    assert (p.v, p.n, p.m, p.vec_keep, p.vec_m) == (32, 4, 8, 8, 16)
    with pytest.raises(PatternError):
        hierarchical_for_density(2, 4, 0.3, max_vec_m=8)


@pytest.mark.parametrize("spec", ["64:4/8:2:4", "h64:4/8:2", "h64:3/8:2:4", "h64:8/4:2:4", "h0:4/8:2:4",
                                  "h64:4/8:4:4", "hx:4/8:2:4", 42])
def test_bad_specs(spec):
    with pytest.raises(PatternError):
        parse_hierarchical(spec)


def test_bad_inputs():
    pat = parse_hierarchical("h4:4/8:2:4")
    with pytest.raises(InputError):
        hierarchical_compress(np.ones((6, 16)), pat)  # rows not a multiple of v
    with pytest.raises(InputError):
        hierarchical_compress(np.ones((8, 12)), pat)  # K not a multiple of vec_m
    with pytest.raises(InputError):
        hierarchical_compress(np.full((4, 8), np.nan), pat)
    with pytest.raises(InputError):
        hierarchical_traffic_bytes(6, 16, "fp16", pat)
    with pytest.raises(InputError):
        hierarchical_traffic_bytes(8, 16, "fp13", pat)
    c = hierarchical_compress(np.ones((4, 16), np.float32), pat)
    c.columns = c.columns[:, :, ::-1].copy()  # descending: not a valid word
    with pytest.raises(InputError):
        hierarchical_decompress(c)
    with pytest.raises(InputError):
        hierarchical_decompress("not compressed")
