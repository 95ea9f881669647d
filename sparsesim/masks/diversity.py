"""Mask diversity: how many masks a sparsity constraint allows.

Mask diversity (MD) counts the distinct 0/1 masks of a ``rows x cols`` weight
matrix that a constraint admits at a fixed density ``N/M``. A larger count means
a looser constraint, which tends to cost less accuracy. For a ``rows x cols``
matrix with ``T = rows * cols`` elements:

``unstructured``
    Any ``T * N / M`` positions: ``C(T, T*N/M)``.
``nm``
    ``N`` of every ``M`` consecutive elements along a row: ``C(M, N) ** (T / M)``.
``transposable``
    Every ``M x M`` block has ``N`` per row and per column:
    ``H(M, N) ** (T / M**2)``, where ``H(M, N)`` is the number of ``M x M`` 0/1
    matrices with all row and column sums ``N`` (``M!`` for ``N = 1``; 90 for
    2 of 4; 116963796250 for 4 of 8). ``H`` has no product formula; it is
    counted exactly by a dynamic programme over rows whose state is how many
    columns still need 0, 1, ..., ``N`` ones (:func:`count_regular_blocks`).
``sequential``
    The ``N`` kept elements of every group of ``M`` are consecutive (one window
    of ``N`` adjacent positions): ``(M - N + 1) ** (T / M)``. (Reading it as
    "the ``M - N`` zeros are consecutive" gives ``N + 1`` windows instead; the
    two agree for ``N = M/2``, e.g. 2:4 and 4:8.)

Counts are exact Python integers; :func:`log10_mask_diversity` gives their
base-10 logarithm for reports (the numbers have thousands of digits).
"""

from __future__ import annotations

import math
from functools import lru_cache

from ..errors import InputError, LimitError
from ._util import check_nm

#: Largest matrix (elements) whose exact unstructured count is formed: C(2**18, 2**17)
#: takes about a second, C(2**20, 2**19) fifteen; log10_mask_diversity has no limit.
MAX_EXACT_ELEMENTS = 2**18

KINDS = ("unstructured", "nm", "transposable", "sequential")

__all__ = ["KINDS", "count_regular_blocks", "mask_diversity", "log10_mask_diversity", "diversity_table"]


def _check_int(name, v, lo=0):
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise InputError(f"{name} must be an integer >= {lo}, got {v!r}")
    return v


@lru_cache(maxsize=None)
def _regular(m: int, n: int) -> int:
    # state: tuple counts[k] = number of columns still needing k ones (k = 0..n)
    start = [0] * (n + 1)
    start[n] = m
    states = {tuple(start): 1}
    for _ in range(m):
        nxt: dict = {}
        for st, ways in states.items():
            # choose how many of this row's n ones go to columns of each need class k >= 1
            def rec(k, left, cur, w):
                if k > n:
                    if left == 0:
                        key = tuple(cur)
                        nxt[key] = nxt.get(key, 0) + w
                    return
                avail = st[k]
                for t in range(0, min(avail, left) + 1):
                    new = list(cur)
                    new[k] -= t
                    new[k - 1] += t
                    rec(k + 1, left - t, new, w * math.comb(avail, t))

            rec(1, n, list(st), ways)
        states = nxt
    final = [0] * (n + 1)
    final[0] = m
    return states.get(tuple(final), 0)


def count_regular_blocks(n: int, m: int, *, allow_slow: bool = False) -> int:
    """Number of ``m x m`` 0/1 matrices with exactly ``n`` ones in every row and column.

    Exact (Python ints, cached). Complementing every entry maps ``n`` ones per line to
    ``m - n``, so the smaller of the two is counted. Instant up to ``m = 8`` and for
    ``min(n, m - n) <= 5``; 8 of 16 takes about two minutes on one core (the state space
    grows quickly with ``n``), so beyond those it raises :class:`LimitError` unless
    ``allow_slow=True``.
    """
    _check_int("m", m, 0)
    _check_int("n", n, 0)
    if n > m:
        raise InputError(f"count_regular_blocks needs n <= m, got n={n}, m={m}")
    n = min(n, m - n)
    if (m > 32 or (m > 8 and n > 5)) and not allow_slow:
        raise LimitError(f"counting {m} x {m} blocks with {n} ones per line can take minutes or more "
                         "(instant for m <= 8, or m <= 32 with min(n, m - n) <= 5); "
                         "pass allow_slow=True to count_regular_blocks to wait for it")
    return _regular(m, n)


def _diversity_args(kind, n, m, rows, cols, where):
    """Validate the arguments of the two counting functions; ``(n, m, total, groups)``."""
    if kind not in KINDS:
        raise InputError(f"mask diversity kind {kind!r} is not one of {KINDS}")
    n, m = check_nm(n, m, where)
    _check_int("rows", rows, 1)
    _check_int("cols", cols, 1)
    if cols % m:
        raise InputError(f"cols={cols} is not a multiple of M={m}")
    if kind == "transposable" and rows % m:
        raise InputError(f"rows={rows} is not a multiple of M={m}; transposable masks tile M x M blocks")
    total = rows * cols
    return n, m, total, total // m


def mask_diversity(kind: str, n: int, m: int, rows: int, cols: int) -> int:
    """Exact number of masks of a ``rows x cols`` matrix that ``kind`` allows at density N/M.

    ``kind`` is one of ``"unstructured"``, ``"nm"``, ``"transposable"``,
    ``"sequential"``. ``cols`` (the grouped axis) must be a multiple of ``m``;
    for ``"transposable"`` ``rows`` must be too.
    """
    n, m, total, groups = _diversity_args(kind, n, m, rows, cols, "mask_diversity")
    if total > MAX_EXACT_ELEMENTS:
        raise LimitError(f"the exact count for {rows} x {cols} = {total} elements is too large to form "
                         f"(limit {MAX_EXACT_ELEMENTS}); use log10_mask_diversity")
    if kind == "unstructured":
        return math.comb(total, groups * n)
    if kind == "nm":
        return math.comb(m, n) ** groups
    if kind == "sequential":
        return (m - n + 1) ** groups
    return count_regular_blocks(n, m) ** (total // (m * m))


def log10_mask_diversity(kind: str, n: int, m: int, rows: int, cols: int) -> float:
    """``log10(mask_diversity(...))`` computed without forming huge integers."""
    n, m, total, groups = _diversity_args(kind, n, m, rows, cols, "log10_mask_diversity")
    if kind == "unstructured":
        k = groups * n
        return (math.lgamma(total + 1) - math.lgamma(k + 1) - math.lgamma(total - k + 1)) / math.log(10)
    if kind == "nm":
        return groups * math.log10(math.comb(m, n))
    if kind == "sequential":
        return groups * math.log10(m - n + 1)
    # math.log10 takes Python integers of any size
    return (total // (m * m)) * math.log10(count_regular_blocks(n, m))


def diversity_table(patterns=((2, 4), (4, 8)), rows: int = 8, cols: int = 8):
    """Rows of ``(pattern, kind, log10 MD)`` for a ``rows x cols`` matrix, for reports."""
    out = []
    for n, m in patterns:
        for kind in KINDS:
            out.append((f"{n}:{m}", kind, log10_mask_diversity(kind, n, m, rows, cols)))
    return out
