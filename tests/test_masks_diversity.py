"""Mask diversity: closed forms against enumeration of every 0/1 mask of small matrices."""

import math

import numpy as np
import pytest

from sparsesim.errors import InputError, PatternError
from sparsesim.masks import count_regular_blocks, enumerate_block_masks, log10_mask_diversity, mask_diversity
from sparsesim.masks.diversity import diversity_table


def _all_masks(rows, cols):
    t = rows * cols
    codes = np.arange(1 << t, dtype=np.int64)
    bits = ((codes[:, None] >> np.arange(t)) & 1).astype(bool)
    return bits.reshape(-1, rows, cols)


def _enumerated_counts(rows, cols, n, m):
    """Count by definition: test every one of the 2**(rows*cols) masks."""
    masks = _all_masks(rows, cols)
    groups = masks.reshape(len(masks), rows, cols // m, m)
    per_group = groups.sum(axis=3)
    total = masks.sum(axis=(1, 2))
    unstructured = int((total == rows * cols * n // m).sum())
    nm_ok = (per_group == n).all(axis=(1, 2))
    # sequential: the n kept of each group sit in one window of n adjacent positions
    windows = [np.array([k <= i < k + n for i in range(m)]) for k in range(m - n + 1)]
    seq_ok = np.ones(len(masks), bool)
    for gi in range(cols // m):
        g = groups[:, :, gi, :]
        seq_ok &= np.logical_or.reduce([(g == wnd).all(axis=2) for wnd in windows]).all(axis=1)
    out = {"unstructured": unstructured, "nm": int(nm_ok.sum()), "sequential": int(seq_ok.sum())}
    if rows % m == 0:
        blocks = masks.reshape(len(masks), rows // m, m, cols // m, m)
        t_ok = (blocks.sum(axis=4) == n).all(axis=(1, 2, 3)) & (blocks.sum(axis=2) == n).all(axis=(1, 2, 3))
        out["transposable"] = int(t_ok.sum())
    return out


@pytest.mark.parametrize(
    "rows,cols,n,m",
    [(4, 4, 2, 4), (4, 4, 1, 4), (4, 4, 3, 4), (2, 4, 2, 4), (4, 4, 1, 2), (2, 8, 1, 2), (3, 4, 2, 4)],
)
def test_closed_forms_match_enumeration(rows, cols, n, m):
    counts = _enumerated_counts(rows, cols, n, m)
    for kind, c in counts.items():
        assert mask_diversity(kind, n, m, rows, cols) == c, kind
        assert log10_mask_diversity(kind, n, m, rows, cols) == pytest.approx(math.log10(c), rel=1e-12)


@pytest.mark.parametrize("m", range(1, 6))
def test_regular_block_count_matches_enumeration(m):
    for n in range(m + 1):
        assert count_regular_blocks(n, m) == len(enumerate_block_masks(n, m))


def test_regular_block_count_known_values():
    # OEIS A058527 (2n x 2n, n ones per row and column): 1, 2, 90, 297200, 116963796250
    assert [count_regular_blocks(k, 2 * k) for k in range(5)] == [1, 2, 90, 297200, 116963796250]
    for m in range(1, 9):
        assert count_regular_blocks(1, m) == math.factorial(m)
        assert count_regular_blocks(m - 1, m) == math.factorial(m)
    # OEIS A001499 (n x n, exactly 2 ones per row and column): 1, 6, 90, 2040, 67950
    assert [count_regular_blocks(2, m) for m in range(2, 7)] == [1, 6, 90, 2040, 67950]


@pytest.mark.parametrize("n,m", [(2, 4), (4, 8), (2, 8)])
@pytest.mark.parametrize("size", [(16, 16), (384, 384)])
def test_ranking_unstructured_nm_transposable_sequential(n, m, size):
    # the ranking the seed reports, for the half-density patterns it studies (for
    # N = 1 a one-element window is any position, so sequential equals N:M)
    r, c = size
    u, nm, t, s = (log10_mask_diversity(k, n, m, r, c) for k in ("unstructured", "nm", "transposable", "sequential"))
    assert u > nm > t > s


def test_sequential_with_one_kept_equals_nm():
    assert mask_diversity("sequential", 1, 4, 4, 8) == mask_diversity("nm", 1, 4, 4, 8)


def test_4_of_8_transposable_is_close_to_2_of_4():
    # the seed's claim: 4:8-T has a mask diversity close to 2:4's (and far above 2:4-T's)
    nm24 = log10_mask_diversity("nm", 2, 4, 8, 8)
    t48 = log10_mask_diversity("transposable", 4, 8, 8, 8)
    t24 = log10_mask_diversity("transposable", 2, 4, 8, 8)
    assert t24 < t48 < nm24
    assert nm24 - t48 < nm24 - t24


def test_big_counts_are_exact_ints_and_logs_agree():
    v = mask_diversity("transposable", 4, 8, 64, 64)
    assert isinstance(v, int) and v == 116963796250 ** 64
    assert log10_mask_diversity("transposable", 4, 8, 64, 64) == pytest.approx(64 * math.log10(116963796250))
    u = mask_diversity("unstructured", 2, 4, 32, 32)
    assert log10_mask_diversity("unstructured", 2, 4, 32, 32) == pytest.approx(math.log10(u), rel=1e-12)
    assert len(diversity_table()) == 8


def test_bad_input():
    with pytest.raises(InputError):
        mask_diversity("random", 2, 4, 4, 4)
    with pytest.raises(InputError):
        mask_diversity("nm", 2, 4, 4, 6)
    with pytest.raises(InputError):
        mask_diversity("transposable", 2, 4, 6, 4)
    with pytest.raises(InputError):
        mask_diversity("nm", 2, 4, 0, 4)
    with pytest.raises(PatternError):
        mask_diversity("nm", 4, 4, 4, 4)
    with pytest.raises(InputError):
        log10_mask_diversity("transposable", 2, 4, 6, 4)
    with pytest.raises(InputError):
        count_regular_blocks(5, 4)
    with pytest.raises(InputError):
        enumerate_block_masks(2, 9)
