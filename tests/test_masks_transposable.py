"""Transposable N:M masks: validity, optimality against brute force and networkx, 2-approximation."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from sparsesim.errors import InputError, PatternError, SparsesimError
from sparsesim.masks import enumerate_block_masks, is_transposable, kept_l1, transposable_mask
from sparsesim.masks._util import to_blocks
from sparsesim.masks.transposable import block_kept_l1, greedy_blocks_reference

SMALL = [(1, 2), (1, 4), (2, 4), (3, 4)]
ALL = SMALL + [(2, 8), (4, 8), (6, 8), (8, 16)]


def _brute_block_best(block, n):
    """Independent oracle: the best kept L1 over every valid block, by plain loops."""
    m = block.shape[0]
    best = -1.0
    for mask in enumerate_block_masks(n, m):
        s = sum(abs(float(block[i, j])) for i in range(m) for j in range(m) if mask[i, j])
        best = max(best, s)
    return best


@pytest.mark.parametrize("n,m", ALL)
@pytest.mark.parametrize("method", ["exact", "approx"])
def test_valid_for_every_pattern(n, m, method):
    rng = np.random.default_rng(n * 100 + m)
    w = rng.standard_normal((2 * m, 3 * m)).astype(np.float32)
    mask = transposable_mask(w, n, m, method)
    assert mask.shape == w.shape and mask.dtype == bool
    assert is_transposable(mask, n, m)
    blocks = to_blocks(mask, m)
    assert (blocks.sum(axis=1) == n).all() and (blocks.sum(axis=2) == n).all()


@pytest.mark.parametrize("n,m", SMALL)
def test_exact_equals_brute_force(n, m):
    rng = np.random.default_rng(7 + n + m)
    w = rng.standard_normal((4 * m, 4 * m))
    ex = transposable_mask(w, n, m)
    bf = transposable_mask(w, n, m, "bruteforce")
    lp = transposable_mask(w, n, m, solver="lp", chunk_blocks=None)
    oracle = np.array([_brute_block_best(b, n) for b in to_blocks(w, m)])
    np.testing.assert_allclose(block_kept_l1(w, ex, m), oracle, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(block_kept_l1(w, bf, m), oracle, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(block_kept_l1(w, lp, m), oracle, rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (4, 8), elements=st.integers(-3, 3).map(float)), st.sampled_from(SMALL[1:]))
def test_exact_equals_brute_force_with_ties(w, nm):
    n, m = nm
    ex = transposable_mask(w, n, m)
    oracle = np.array([_brute_block_best(b, n) for b in to_blocks(w, m)])
    np.testing.assert_allclose(block_kept_l1(w, ex, m), oracle)
    ap = transposable_mask(w, n, m, "approx")
    assert is_transposable(ap, n, m)
    assert np.all(block_kept_l1(w, ap, m) >= 0.5 * oracle - 1e-12)


def test_exact_matches_networkx_min_cost_flow_for_4_of_8():
    nx = pytest.importorskip("networkx")
    rng = np.random.default_rng(3)
    w = rng.integers(-1000, 1000, size=(16, 16)).astype(np.float64)
    ex = transposable_mask(w, 4, 8)
    for b, block in enumerate(to_blocks(w, 8)):
        g = nx.DiGraph()
        g.add_node("s", demand=-32)
        g.add_node("t", demand=32)
        for i in range(8):
            g.add_edge("s", ("r", i), capacity=4, weight=0)
            g.add_edge(("c", i), "t", capacity=4, weight=0)
            for j in range(8):
                g.add_edge(("r", i), ("c", j), capacity=1, weight=-int(abs(block[i, j])))
        cost = nx.min_cost_flow_cost(g)
        assert block_kept_l1(w, ex, 8)[b] == pytest.approx(-cost, abs=1e-9)


@pytest.mark.parametrize("n,m", [(2, 4), (4, 8), (8, 16)])
def test_whole_matrix_lp_agrees_with_block_by_block(n, m):
    rng = np.random.default_rng(11)
    w = rng.standard_normal((4 * m, 6 * m))
    whole = transposable_mask(w, n, m, solver="lp", chunk_blocks=None)  # one solver call
    per_block = transposable_mask(w, n, m, solver="assignment")  # one call per block
    chunked = transposable_mask(w, n, m, solver="lp", chunk_blocks=5)
    ref = block_kept_l1(w, per_block, m)
    np.testing.assert_allclose(block_kept_l1(w, whole, m), ref, rtol=1e-12)
    np.testing.assert_allclose(block_kept_l1(w, chunked, m), ref, rtol=1e-12)
    # solving each block alone gives the same optimum as solving it inside the matrix
    for b, blk in enumerate(to_blocks(w, m)[:4]):
        alone = transposable_mask(blk, n, m)
        assert kept_l1(blk, alone) == pytest.approx(ref[b], rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([(2, 4), (4, 8), (2, 8), (3, 4)]))
def test_approx_at_least_half_of_exact(seed, nm):
    n, m = nm
    rng = np.random.default_rng(seed)
    # heavy-tailed magnitudes make greedy mistakes likelier
    w = rng.standard_cauchy((2 * m, 2 * m))
    ex = block_kept_l1(w, transposable_mask(w, n, m), m)
    ap_mask = transposable_mask(w, n, m, "approx")
    assert is_transposable(ap_mask, n, m)
    ap = block_kept_l1(w, ap_mask, m)
    assert np.all(ap >= 0.5 * ex - 1e-9)
    assert np.all(ap <= ex + 1e-9)


def test_approx_kernel_matches_plain_python_run():
    rng = np.random.default_rng(5)
    for n, m in [(2, 4), (4, 8), (3, 8)]:
        a = np.abs(rng.standard_normal((50, m, m)))
        w = a.transpose(0, 1, 2).reshape(50 * m, m)  # blocks stacked vertically
        compiled = to_blocks(transposable_mask(w, n, m, "approx"), m)
        np.testing.assert_array_equal(compiled, greedy_blocks_reference(to_blocks(np.abs(w), m), n))


def test_greedy_is_exact_for_one_of_m_without_ties():
    # sanity on a known case: 1:M transposable = a permutation; greedy takes the
    # dominant diagonal when it dominates every row and column
    w = np.eye(8) * 10 + np.random.default_rng(0).random((8, 8))
    assert np.array_equal(transposable_mask(w, 1, 8, "approx"), np.eye(8, dtype=bool))
    assert np.array_equal(transposable_mask(w, 1, 8), np.eye(8, dtype=bool))


def test_kept_at_most_nm_and_at_most_unstructured():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((32, 32))
    t = kept_l1(w, transposable_mask(w, 2, 4))
    nm = np.sort(np.abs(w).reshape(32, 8, 4), axis=2)[:, :, 2:].sum()
    assert t <= nm + 1e-9


@pytest.mark.parametrize(
    "w,n,m,exc",
    [
        (np.zeros((6, 8)), 2, 4, InputError),  # rows not a multiple of M
        (np.zeros((8, 6)), 2, 4, InputError),  # cols not a multiple of M
        (np.zeros(16), 2, 4, InputError),  # 1-D
        (np.array([[np.nan] * 4] * 4), 2, 4, InputError),
        (np.array([[np.inf] * 4] * 4), 2, 4, InputError),
        (np.zeros((4, 4)), 4, 4, PatternError),  # N must be < M
        (np.zeros((6, 6)), 2, 3, PatternError),  # M not a power of two
        (np.zeros((4, 4)), 0, 4, PatternError),
        (np.array([["a"] * 4] * 4), 2, 4, InputError),
    ],
)
def test_bad_input_raises_sparsesim_errors(w, n, m, exc):
    with pytest.raises(exc):
        transposable_mask(w, n, m)


def test_bad_options():
    w = np.ones((8, 8))
    with pytest.raises(InputError, match="method"):
        transposable_mask(w, 4, 8, "magic")
    with pytest.raises(InputError, match="bruteforce"):
        transposable_mask(w, 4, 8, "bruteforce")
    with pytest.raises(InputError, match="solver"):
        transposable_mask(w, 4, 8, solver="cplex")
    with pytest.raises(InputError, match="chunk_blocks"):
        transposable_mask(w, 4, 8, solver="lp", chunk_blocks=0)
    with pytest.raises(SparsesimError):
        transposable_mask(w, 2.5, 8)


def test_is_transposable_rejects_bad_masks():
    good = transposable_mask(np.random.default_rng(0).random((8, 8)), 2, 4)
    assert is_transposable(good, 2, 4)
    bad = good.copy()
    bad[0, :] = True
    assert not is_transposable(bad, 2, 4)
    assert not is_transposable(good[:, :6], 2, 4)
    fewer = good.copy()
    fewer[0, np.flatnonzero(fewer[0])[0]] = False
    assert not is_transposable(fewer, 2, 4)
    assert is_transposable(fewer, 2, 4, exact=False)


def test_integer_and_float32_inputs():
    rng = np.random.default_rng(9)
    wi = rng.integers(-50, 50, size=(8, 8))
    assert is_transposable(transposable_mask(wi, 4, 8), 4, 8)
    assert is_transposable(transposable_mask(wi, 4, 8, "approx"), 4, 8)
