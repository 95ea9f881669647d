"""Channel permutation search, permuted compression round trip, run-time cost model."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from sparsesim.errors import InputError, PatternError
from sparsesim.masks import (
    compress_permuted,
    decompress_permuted,
    invert_permutation,
    nm_kept_l1,
    permutation_cost,
    search_permutation,
)


def _kept_plain(w, n, m, perm):
    """Kept L1 of N:M pruning of w[:, perm], by plain loops (independent of nm_kept_l1)."""
    total = 0.0
    for row in w:
        vals = [abs(float(row[p])) for p in perm]
        for g in range(0, len(vals), m):
            total += sum(sorted(vals[g : g + m], reverse=True)[:n])
    return total


def test_finds_the_obvious_regrouping():
    # four big channels share the first 2:4 group: identity keeps 10+10+1+1 per row
    w = np.tile(np.array([10.0, 10.0, 10.0, 10.0, 1.0, 1.0, 1.0, 1.0]), (3, 1))
    r = search_permutation(w, 2, 4)
    assert r.kept_identity == pytest.approx(3 * 22.0)
    assert r.kept_permuted == pytest.approx(3 * 40.0)
    assert r.gain == pytest.approx(40 / 22 - 1)
    assert sorted(r.perm.tolist()) == list(range(8))


@pytest.mark.parametrize("n,m", [(2, 4), (1, 4), (4, 8), (2, 8)])
def test_search_ends_in_a_swap_local_optimum(n, m):
    """No single swap between two groups improves the result (checked by brute force)."""
    rng = np.random.default_rng(n + m)
    w = rng.standard_normal((12, 4 * m))
    r = search_permutation(w, n, m, max_sweeps=50)
    base = _kept_plain(w, n, m, r.perm)
    assert base == pytest.approx(r.kept_permuted, rel=1e-12)
    assert r.kept_permuted >= r.kept_identity - 1e-12
    perm = r.perm.tolist()
    k = len(perm)
    for a in range(k):
        for b in range(a + 1, k):
            if a // m == b // m:
                continue
            p2 = list(perm)
            p2[a], p2[b] = p2[b], p2[a]
            assert _kept_plain(w, n, m, p2) <= base * (1 + 1e-9)


def test_exhaustive_refinement_never_loses():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((16, 32))
    plain = search_permutation(w, 2, 4)
    refined = search_permutation(w, 2, 4, exhaustive_pairs=40, seed=1)
    assert refined.kept_permuted >= plain.kept_permuted - 1e-9
    assert refined.kept_permuted == pytest.approx(_kept_plain(w, 2, 4, refined.perm), rel=1e-12)


def test_nm_kept_matches_formats_prune():
    from sparsesim.formats import prune

    rng = np.random.default_rng(8)
    w = rng.standard_normal((8, 32)).astype(np.float32)
    perm = rng.permutation(32)
    assert nm_kept_l1(w, 2, 4, perm) == pytest.approx(float(np.abs(prune(w[:, perm], 2, 4)).sum()), rel=1e-6)


def _pruned_reference(w, n, m, perm):
    """Prune w[:, perm] by plain loops (ties: lower position), scattered back to the original order."""
    out = np.zeros_like(w)
    for r in range(w.shape[0]):
        for g in range(0, w.shape[1], m):
            chans = [int(perm[g + p]) for p in range(m)]
            best = sorted(range(m), key=lambda p: (-abs(float(w[r, chans[p]])), p))[:n]
            for p in best:
                out[r, chans[p]] = w[r, chans[p]]
    return out


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float32, (4, 16), elements=st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, -3.0, 1e-30, 7.0])),
    st.randoms(use_true_random=False),
    st.sampled_from([(2, 4), (1, 4), (4, 8), (2, 8)]),
)
def test_permuted_compression_round_trip_is_bit_exact(w, rnd, nm):
    n, m = nm
    perm = np.array(rnd.sample(range(16), 16))
    values, indices, p = compress_permuted(w, n, m, perm)
    assert np.array_equal(p, perm)
    back = decompress_permuted(values, indices, p, n, m)
    ref = _pruned_reference(w, n, m, perm)
    assert back.dtype == w.dtype
    assert np.array_equal(back.view(np.uint32), ref.view(np.uint32))


def test_invert_permutation():
    perm = np.random.default_rng(0).permutation(64)
    inv = invert_permutation(perm)
    assert np.array_equal(perm[inv], np.arange(64))
    w = np.arange(128.0).reshape(2, 64)
    assert np.array_equal(w[:, perm][:, inv], w)


def test_permutation_cost_modes():
    k, cols, item = 768, 512, 2
    off = permutation_cost(k, cols, item, "offline")
    ab = permutation_cost(k, cols, item, "absorbed")
    ex = permutation_cost(k, cols, item, "extra_pass")
    assert off == {"extra_dram_bytes": 0, "extra_read_bytes": 0, "extra_write_bytes": 0,
                   "index_bytes": k * 2, "extra_passes": 0}
    assert ab["extra_passes"] == 0 and ab["extra_dram_bytes"] == k * 2  # 768 needs 2-byte indices
    assert ex["extra_passes"] == 1
    assert ex["extra_dram_bytes"] == 2 * k * cols * item + k * 2
    assert ex["extra_read_bytes"] + ex["extra_write_bytes"] == ex["extra_dram_bytes"]
    assert permutation_cost(256, 1, 1)["index_bytes"] == 256
    assert permutation_cost(70000, 1, 1)["index_bytes"] == 4 * 70000
    assert permutation_cost(8, 1, 1, index_bytes=4)["index_bytes"] == 32


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(k=0, n_cols=1, dtype_bytes=1),
        dict(k=8, n_cols=-1, dtype_bytes=1),
        dict(k=8, n_cols=1, dtype_bytes=1.5),
        dict(k=8, n_cols=1, dtype_bytes=1, mode="fused"),
        dict(k=8, n_cols=1, dtype_bytes=1, index_bytes=0),
    ],
)
def test_permutation_cost_bad_input(kwargs):
    with pytest.raises(InputError):
        permutation_cost(**kwargs)


def test_search_bad_input():
    with pytest.raises(InputError):
        search_permutation(np.ones((4, 6)), 2, 4)
    with pytest.raises(InputError):
        search_permutation(np.array([[np.nan] * 8]), 2, 4)
    with pytest.raises(PatternError):
        search_permutation(np.ones((4, 8)), 3, 3)
    with pytest.raises(InputError):
        search_permutation(np.ones((4, 8)), 2, 4, max_sweeps=0)
    with pytest.raises(InputError):
        search_permutation(np.ones((4, 8)), 2, 4, exhaustive_pairs=-1)
    with pytest.raises(InputError):
        compress_permuted(np.ones((4, 8)), 2, 4, [0, 1, 2])
    with pytest.raises(InputError):
        compress_permuted(np.ones((4, 8)), 2, 4, [0] * 8)
    # one group: nothing to permute, identity returned
    r = search_permutation(np.ones((2, 4)), 2, 4)
    assert np.array_equal(r.perm, np.arange(4)) and r.gain == 0.0
