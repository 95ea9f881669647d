"""Per-slice work model for sparse operands whose pattern the tensor core does not take
natively (Sparseloop-style occupancy distributions).

The sparse tensor core executes an ``n:m`` operand: in every group of ``m`` values
along K at most ``n`` are non-zero.  An operand with another pattern is split by
software into several ``n:m`` operands ("passes") that are multiplied one after the
other.  One MMA step covers a slice of ``rows`` rows x ``groups`` groups, and every
row of it runs in lockstep, so the slice needs ``max over its cells of ceil(X/n)``
passes, X being the non-zeros of one row-group cell (zero passes when the whole
slice is empty).  For a slice of ``c`` independent cells

    P(max <= j) = P(ceil(X/n) <= j)^c,  E[max] = sum_j (1 - P(max <= j)).

X follows a binomial(m, d) law for unstructured operands at density d, and a
hypergeometric law for an N':M' operand viewed in groups of m (the m positions are
drawn from the N':M' group without replacement).  Cells in the same N':M' group are
not independent; treating them as independent is this model's approximation.

Per-tile variation (Sparseloop's per-tile occupancy): a CTA's work is the sum of its
MMA steps' passes; with the steps independent its coefficient of variation is
``sqrt(var / steps) / mean``, and a wave of P concurrent CTAs waits for the slowest,
about ``1 + cv * E[max of P standard normals]`` times the mean.
"""

from __future__ import annotations

from math import comb

import numpy as np


def cell_pmf_unstructured(m: int, density: float) -> np.ndarray:
    """P(X = x), x = 0..m, for X ~ Binomial(m, density)."""
    x = np.arange(m + 1)
    return np.array([comb(m, int(i)) for i in x], dtype=float) * density**x * (1.0 - density) ** (m - x)


def cell_pmf_nm(m: int, pn: int, pm: int) -> np.ndarray:
    """P(X = x) for the non-zeros of ``m`` consecutive positions of an ``pn:pm`` operand.

    With ``m <= pm`` the m positions lie in one pattern group: hypergeometric.  With
    ``m > pm`` the window covers ``m/pm`` whole groups: exactly ``pn*m/pm`` non-zeros.
    """
    if m >= pm:
        out = np.zeros(m + 1)
        out[pn * (m // pm)] = 1.0
        return out
    out = np.zeros(m + 1)
    total = comb(pm, m)
    for x in range(0, m + 1):
        if x <= pn and m - x <= pm - pn:
            out[x] = comb(pn, x) * comb(pm - pn, m - x) / total
    return out


def expected_passes(pmf: np.ndarray, n: int, cells: int) -> float:
    """E[max over ``cells`` iid cells of ceil(X/n)] for X with probability mass ``pmf``."""
    m = len(pmf) - 1
    jmax = -(-m // n)
    cdf_cell = np.zeros(jmax + 1)
    for x, p in enumerate(pmf):
        cdf_cell[-(-x // n):] += p
    cdf_cell = np.clip(cdf_cell, 0.0, 1.0)
    cdf_max = cdf_cell ** cells
    return float(np.sum(1.0 - cdf_max[:-1]))


def passes_moments(pmf: np.ndarray, n: int, cells: int) -> tuple:
    """(mean, variance) of max over ``cells`` iid cells of ceil(X/n)."""
    m = len(pmf) - 1
    jmax = -(-m // n)
    cdf_cell = np.zeros(jmax + 1)
    for x, p in enumerate(pmf):
        cdf_cell[-(-x // n):] += p
    cdf_max = np.clip(cdf_cell, 0.0, 1.0) ** cells
    pm = np.diff(np.concatenate(([0.0], cdf_max)))
    j = np.arange(jmax + 1)
    mean = float((pm * j).sum())
    return mean, max(0.0, float((pm * j * j).sum()) - mean * mean)


def _cell_pmf(pattern, hw_m):
    if pattern.is_nm:
        return cell_pmf_nm(hw_m, pattern.n, pattern.m)
    return cell_pmf_unstructured(hw_m, pattern.density)


def slice_passes_moments(pattern, hw_n: int, hw_m: int, rows: int, k_slice: int) -> tuple:
    """(mean, variance) of the passes of one MMA step (see :func:`passes_per_slice`)."""
    cells = rows * max(1, k_slice // hw_m)
    return passes_moments(_cell_pmf(pattern, hw_m), hw_n, cells)


def expected_max_normal(p: int) -> float:
    """E[max of p standard normals] (Blom's approximation; 0 for p <= 1)."""
    if p <= 1:
        return 0.0
    from statistics import NormalDist

    return NormalDist().inv_cdf((p - 0.375) / (p + 0.25))


def slowest_tile_factor(cv_tile: float, concurrent: int) -> float:
    """Work of the slowest of ``concurrent`` tiles relative to the mean tile.

    A tile's work is the mean of many independent MMA steps, so it is close to normal
    with coefficient of variation ``cv_tile``; a wave lasts as long as its slowest tile.
    """
    return 1.0 + cv_tile * expected_max_normal(concurrent)


def passes_per_slice(pattern, hw_n: int, hw_m: int, rows: int, k_slice: int) -> float:
    """Expected sparse-MMA passes per (rows x k_slice) slice of A on ``hw_n:hw_m`` hardware.

    1.0 when the pattern fits the hardware natively (dense operands are not routed here).
    """
    groups = max(1, k_slice // hw_m)
    cells = rows * groups
    if pattern.is_nm:
        pn, pm = pattern.n, pattern.m
        # Natively executable: every hardware group holds at most hw_n non-zeros.
        worst = min(pn, hw_m) if pm >= hw_m else pn * (hw_m // pm)
        if worst <= hw_n:
            return 1.0
        pmf = cell_pmf_nm(hw_m, pn, pm)
    else:
        pmf = cell_pmf_unstructured(hw_m, pattern.density)
    return expected_passes(pmf, hw_n, cells)
