"""Transposable N:M masks: N:M along rows *and* along columns.

A weight matrix ``W`` (rows x input channels) is cut into ``M x M`` blocks. A
transposable N:M mask keeps exactly ``N`` elements in every row and every column
of each block, so both ``W`` (forward pass) and ``W^T`` (backward pass, data
gradient) satisfy the N:M constraint that a sparse tensor core accelerates.

Among all such masks we want the one that keeps the most L1 magnitude. Blocks
are independent, so the problem is one small optimisation per block:

    maximise  sum_ij |W_ij| X_ij
    subject to sum_j X_ij = N (each row),  sum_i X_ij = N (each column),
               X_ij in {0, 1}.

This is a transportation problem (rows supply N units, columns demand N units,
every arc has capacity 1), i.e. a min-cost flow. Its constraint matrix is the
incidence matrix of a bipartite graph, which is totally unimodular, so the LP
relaxation has integral vertices and a simplex solve returns a 0/1 mask.

Three methods:

``exact`` (default solver ``"assignment"``)
    Reduces each block to a linear assignment problem on ``M^2`` x ``M^2`` nodes
    and solves it with SciPy's ``linear_sum_assignment``: the ``M^2`` positions
    ``(i, j)`` are the right-hand nodes; the left-hand nodes are ``N`` copies of
    every row ``i`` (cost ``-|W_ij|`` to any position of row ``i``) and ``M-N``
    "unused" copies of every column ``j`` (cost 0 to any position of column
    ``j``). In a perfect matching each row copy takes one position of its row
    (exactly ``N`` kept per row) and each column loses exactly ``M-N`` positions
    to its unused copies (exactly ``N`` kept per column). Solver ``"lp"`` instead
    stacks all blocks into one block-diagonal LP and solves it with HiGHS
    (``scipy.optimize.linprog``), the min-cost-flow formulation literally;
    ``chunk_blocks`` bounds how many blocks go into one solver call (``None``:
    the whole matrix in a single call).

``approx``
    The greedy 2-approximation: visit the block's elements by decreasing
    magnitude and keep an element while its row and its column still have fewer
    than ``N`` kept. The result is a maximal b-matching, which keeps at least
    half the optimum. Greedy can leave a row and a column one short with no free
    position between them (about half of random 4:8 blocks); a completion step
    then adds the best alternating path (add, drop, add) so that every row and
    column ends with exactly ``N``. The blocks' visiting orders come from one
    vectorised integer sort; the greedy pass is a Numba kernel run in parallel
    over chunks of blocks (``numba.set_num_threads`` bounds the threads).

``bruteforce``
    Enumerates every valid block mask (90 for 2:4) and keeps the best; only for
    ``M <= 4``. It is the test oracle.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np

from ..errors import InputError
from numba import njit, prange

from ._util import check_matrix, check_multiple, check_nm, from_blocks, kept_l1, to_blocks

METHODS = ("exact", "approx", "bruteforce")
SOLVERS = ("assignment", "lp")

__all__ = [
    "transposable_mask",
    "is_transposable",
    "enumerate_block_masks",
    "block_kept_l1",
    "kept_l1",
]


# --------------------------------------------------------------------------- checks


def is_transposable(mask, n: int, m: int, *, exact: bool = True) -> bool:
    """True when every ``M x M`` block of ``mask`` keeps ``N`` per row and per column.

    With ``exact=False`` "at most ``N``" is accepted (what the hardware needs:
    unused slots hold zeros).
    """
    n, m = check_nm(n, m)
    mk = np.asarray(mask)
    if mk.ndim != 2 or mk.shape[0] % m or mk.shape[1] % m:
        return False
    mk = mk.astype(bool)
    blocks = to_blocks(mk, m)
    rows = blocks.sum(axis=2)
    cols = blocks.sum(axis=1)
    if exact:
        return bool((rows == n).all() and (cols == n).all())
    return bool((rows <= n).all() and (cols <= n).all())


def block_kept_l1(w, mask, m: int) -> np.ndarray:
    """Kept L1 magnitude of every ``M x M`` block, in row-major block order."""
    a = np.abs(np.asarray(w, dtype=np.float64))
    return (to_blocks(a, m) * to_blocks(np.asarray(mask, dtype=bool), m)).sum(axis=(1, 2))


# ------------------------------------------------------------------ enumeration


@lru_cache(maxsize=None)
def _enumerate(n: int, m: int) -> np.ndarray:
    rows = [np.array(c, dtype=np.int64) for c in itertools.combinations(range(m), n)]
    out = []

    def rec(i, colcnt, chosen):
        if i == m:
            out.append(np.array(chosen))
            return
        for r in rows:
            if (colcnt[r] < n).all():
                colcnt[r] += 1
                rec(i + 1, colcnt, chosen + [r])
                colcnt[r] -= 1

    rec(0, np.zeros(m, dtype=np.int64), [])
    masks = np.zeros((len(out), m, m), dtype=bool)
    for t, chosen in enumerate(out):
        for i, r in enumerate(chosen):
            masks[t, i, r] = True
    masks.setflags(write=False)
    return masks


def enumerate_block_masks(n: int, m: int) -> np.ndarray:
    """Every ``m x m`` 0/1 matrix with exactly ``n`` ones per row and per column.

    Returns a read-only bool array of shape ``(count, m, m)``. Any ``0 <= n <= m``
    and ``m <= 6`` are accepted (the counts grow fast: 297200 for 3 of 6).
    """
    if not (isinstance(m, (int, np.integer)) and isinstance(n, (int, np.integer))):
        raise InputError(f"n and m must be integers, got n={n!r}, m={m!r}")
    if not (1 <= m <= 6 and 0 <= n <= m):
        raise InputError(f"enumerate_block_masks needs 1 <= m <= 6 and 0 <= n <= m, got n={n}, m={m}")
    return _enumerate(int(n), int(m))


# ---------------------------------------------------------------- exact solvers


@lru_cache(maxsize=None)
def _assignment_template(n: int, m: int):
    """Cost template and the index arrays of the block-dependent entries."""
    size = m * m
    cost = np.full((size, size), np.inf)
    # left nodes m*n .. m*m-1: (m-n) "unused" copies of every column j
    for j in range(m):
        for b in range(m - n):
            left = m * n + j * (m - n) + b
            cost[left, np.arange(m) * m + j] = 0.0
    # left nodes 0 .. m*n-1: n copies of every row i, to any position of row i
    left = np.repeat(np.arange(m * n), m)  # copy k of row k // n
    row_of_left = left // n
    col = np.tile(np.arange(m), m * n)
    right = row_of_left * m + col
    cost.setflags(write=False)
    return cost, left, right


def _exact_assignment(a: np.ndarray, n: int) -> np.ndarray:
    from scipy.optimize import linear_sum_assignment

    nb, m, _ = a.shape
    template, left, right = _assignment_template(n, m)
    cost = template.copy()
    flat = a.reshape(nb, m * m)
    out = np.zeros((nb, m * m), dtype=bool)
    for b in range(nb):
        cost[left, right] = -flat[b, right]
        _, assigned = linear_sum_assignment(cost)
        out[b, assigned[: m * n]] = True
    return out.reshape(nb, m, m)


def _lp_matrix(nb: int, m: int):
    import scipy.sparse as sp

    nv = nb * m * m
    blk = np.repeat(np.arange(nb), m * m)
    i = np.tile(np.repeat(np.arange(m), m), nb)
    j = np.tile(np.tile(np.arange(m), m), nb)
    rows = np.concatenate([blk * m + i, nb * m + blk * m + j])
    cols = np.concatenate([np.arange(nv), np.arange(nv)])
    return sp.csr_matrix((np.ones(2 * nv), (rows, cols)), shape=(2 * nb * m, nv))


def _exact_lp(a: np.ndarray, n: int, chunk_blocks) -> np.ndarray:
    from scipy.optimize import linprog

    nb, m, _ = a.shape
    step = nb if chunk_blocks is None else max(1, int(chunk_blocks))
    out = np.zeros((nb, m, m), dtype=bool)
    for s in range(0, nb, step):
        blk = a[s : s + step]
        k = blk.shape[0]
        res = linprog(
            -blk.ravel(),
            A_eq=_lp_matrix(k, m),
            b_eq=np.full(2 * k * m, float(n)),
            bounds=(0.0, 1.0),
            method="highs-ds",
        )
        if res.status != 0:  # pragma: no cover - the LP is always feasible and bounded
            raise RuntimeError(f"HiGHS failed on a transposable-mask LP: {res.message}")
        x = res.x.reshape(k, m, m)
        if np.abs(x - np.round(x)).max() > 1e-6:  # pragma: no cover - TU matrix, vertex solution
            raise RuntimeError("HiGHS returned a fractional vertex for a totally unimodular LP")
        out[s : s + k] = x > 0.5
    return out


# ------------------------------------------------------------ 2-approximation


@njit(cache=True)
def _greedy_range(a, order, n, out, b0, b1):
    """Greedy maximal b-matching per block, then completion to exactly n per row/column.

    Blocks b0 .. b1-1. a: (B, m, m) magnitudes; order: (B, m*m) flat positions
    of each block by decreasing magnitude; out: (B, m, m) bool, zero on entry,
    written. m must be a power of two.
    """
    m = a.shape[1]
    rowcnt = np.zeros(m, np.int64)
    colcnt = np.zeros(m, np.int64)
    short_r = np.zeros(m, np.int64)
    short_c = np.zeros(m, np.int64)
    prev = np.zeros(2 * m, np.int64)
    queue = np.zeros(2 * m, np.int64)
    full = m * n
    shift = 0
    while (1 << shift) < m:
        shift += 1
    low = m - 1
    for b in range(b0, b1):
        blk = a[b]
        x = out[b]
        rowcnt[:] = 0
        colcnt[:] = 0
        kept = 0
        for t in range(m * m):
            e = np.int64(order[b, t])
            i = e >> shift  # m is a power of two
            j = e & low
            if rowcnt[i] < n and colcnt[j] < n:
                x[i, j] = True
                rowcnt[i] += 1
                colcnt[j] += 1
                kept += 1
                if kept == full:
                    break
        # completion: while a row is short, augment along an alternating path
        while kept < full:
            nr = 0
            nc = 0
            for i in range(m):
                if rowcnt[i] < n:
                    short_r[nr] = i
                    nr += 1
                if colcnt[i] < n:
                    short_c[nc] = i
                    nc += 1
            # best 3-edge path: add (r, j), drop (i, j), add (i, c)
            best = -np.inf
            br = -1
            bj = -1
            bi = -1
            bc = -1
            for p in range(nr):
                r = short_r[p]
                for j in range(m):
                    if x[r, j]:
                        continue
                    for i in range(m):
                        if i == r or not x[i, j]:
                            continue
                        for q in range(nc):
                            c = short_c[q]
                            if x[i, c]:
                                continue
                            g = blk[r, j] - blk[i, j] + blk[i, c]
                            if g > best:
                                best = g
                                br = r
                                bj = j
                                bi = i
                                bc = c
            kept += 1
            if br >= 0:
                x[br, bj] = True
                x[bi, bj] = False
                x[bi, bc] = True
                rowcnt[br] += 1
                colcnt[bc] += 1
                continue
            # general case: breadth-first alternating path from a short row;
            # nodes 0..m-1 are rows, m..2m-1 columns
            for v in range(2 * m):
                prev[v] = -2
            head = 0
            tail = 0
            for p in range(nr):
                prev[short_r[p]] = -1
                queue[tail] = short_r[p]
                tail += 1
            sink = -1
            while head < tail and sink < 0:
                v = queue[head]
                head += 1
                if v < m:
                    for j in range(m):
                        if not x[v, j] and prev[m + j] == -2:
                            prev[m + j] = v
                            if colcnt[j] < n:
                                sink = m + j
                                break
                            queue[tail] = m + j
                            tail += 1
                else:
                    j = v - m
                    for i in range(m):
                        if x[i, j] and prev[i] == -2:
                            prev[i] = v
                            queue[tail] = i
                            tail += 1
            # the complete bipartite graph always has an augmenting path here
            v = sink
            colcnt[sink - m] += 1
            while True:
                u = prev[v]
                if v >= m:  # arc row u -> column v: add
                    x[u, v - m] = True
                else:  # arc column u -> row v: drop
                    x[v, u - m] = False
                v = u
                if prev[v] == -1:
                    rowcnt[v] += 1
                    break


@njit(cache=True, parallel=True)
def _greedy_parallel(a, order, n, out, chunk):
    """:func:`_greedy_range` over chunks of blocks, one chunk per parallel task."""
    nb = a.shape[0]
    nchunks = (nb + chunk - 1) // chunk
    for c in prange(nchunks):
        _greedy_range(a, order, n, out, c * chunk, min(nb, (c + 1) * chunk))


def descending_order(a: np.ndarray) -> np.ndarray:
    """Flat positions of each (m x m) block of ``a`` (>= 0) by decreasing value.

    Ties go to the lower position. One vectorised integer sort per block row:
    the IEEE bit pattern of a non-negative float orders like the number, so a
    key is ``(~bits) << 8 | position`` (float32: all bits kept; float64: the 8
    lowest mantissa bits are dropped, a relative change below 2**-44 that can
    only reorder near-ties).
    """
    nb, m, _ = a.shape
    mm = m * m
    pos = np.arange(mm, dtype=np.uint64)
    if a.dtype == np.float32:
        bits = np.ascontiguousarray(a).reshape(nb, mm).view(np.uint32)
        keys = ((~bits).astype(np.uint64) << np.uint64(8)) | pos
    else:
        bits = np.ascontiguousarray(a, dtype=np.float64).reshape(nb, mm).view(np.uint64)
        keys = ((~bits) & ~np.uint64(0xFF)) | pos
    keys.sort(axis=1)
    return (keys & np.uint64(0xFF)).astype(np.uint8)


def greedy_blocks_reference(a, n):
    """Plain-Python run of the same greedy + completion (no Numba), for tests."""
    a = np.ascontiguousarray(a)
    out = np.zeros(a.shape, dtype=bool)
    _greedy_range.py_func(a, descending_order(a), n, out, 0, a.shape[0])
    return out


def _approx(a: np.ndarray, n: int) -> np.ndarray:
    a = np.ascontiguousarray(a)
    out = np.zeros(a.shape, dtype=bool)
    _greedy_parallel(a, descending_order(a), n, out, 1024)
    return out


# ------------------------------------------------------------------ bruteforce


def _bruteforce(a: np.ndarray, n: int) -> np.ndarray:
    nb, m, _ = a.shape
    masks = enumerate_block_masks(n, m).reshape(-1, m * m).astype(np.float64)
    scores = a.reshape(nb, m * m) @ masks.T  # (B, T)
    best = np.argmax(scores, axis=1)
    return masks[best].reshape(nb, m, m) > 0.5


# ---------------------------------------------------------------------- public


def transposable_mask(w, n: int, m: int, method: str = "exact", *, solver: str = "assignment", chunk_blocks=256):
    """Transposable N:M mask of ``w`` maximising the kept L1 magnitude.

    Parameters
    ----------
    w : 2-D real array whose both dimensions are multiples of ``m``.
    n, m : the N:M pattern (``0 < n < m``, ``m`` a power of two up to 16).
    method : ``"exact"`` (optimal per block), ``"approx"`` (greedy
        2-approximation with completion) or ``"bruteforce"`` (``m <= 4`` only).
    solver : for ``method="exact"``: ``"assignment"`` (one SciPy
        ``linear_sum_assignment`` per block) or ``"lp"`` (HiGHS simplex on the
        stacked transportation LP).
    chunk_blocks : for ``solver="lp"``, blocks per solver call; ``None`` puts the
        whole matrix into one call.

    Returns a bool array of ``w``'s shape with exactly ``n`` True in every row
    and every column of each ``m x m`` block.
    """
    n, m = check_nm(n, m, "transposable_mask")
    arr = check_matrix(w)
    check_multiple(arr, m, (0, 1))
    if method not in METHODS:
        raise InputError(f"method {method!r} is not one of {METHODS}")
    if solver not in SOLVERS:
        raise InputError(f"solver {solver!r} is not one of {SOLVERS}")
    if chunk_blocks is not None and (not isinstance(chunk_blocks, (int, np.integer)) or chunk_blocks < 1):
        raise InputError(f"chunk_blocks must be a positive integer or None, got {chunk_blocks!r}")
    if method == "approx":
        # float32 weights stay float32 (the order is exact on them); others go to float64
        mag = np.abs(arr) if arr.dtype == np.float32 else np.abs(arr.astype(np.float64))
        blocks = _approx(to_blocks(mag, m), n)
        return from_blocks(blocks, arr.shape)
    a = to_blocks(np.abs(arr.astype(np.float64)), m)
    if method == "bruteforce":
        if m > 4:
            raise InputError(f"method='bruteforce' enumerates block masks and supports m <= 4, got m={m}")
        blocks = _bruteforce(a, n)
    elif solver == "lp":
        # HiGHS treats costs above 1e20 as infinite: scale each block by a power of two so
        # its largest magnitude is below 1 (exact, and the optimum of a block is unchanged)
        exp = np.frexp(a.max(axis=(1, 2)))[1]
        blocks = _exact_lp(np.ldexp(a, -exp[:, None, None]), n, chunk_blocks)
    else:
        blocks = _exact_assignment(a, n)
    return from_blocks(blocks, arr.shape)
