"""Input-channel permutation before N:M pruning, and what it costs at run time.

N:M pruning keeps the ``N`` largest of every ``M`` consecutive input channels of
a row. Which channels share a group is an accident of the channel order; when
two large weights share a group one of them may be lost. Permuting the input
channels (the columns of ``W``, the reduction axis K) first, so that channels
with large weights are spread over different groups, keeps more magnitude. The
layer computes the same function as long as the activations are permuted the
same way: ``W[:, perm] @ x[perm] == W @ x``.

Search (:func:`search_permutation`)
    Greedy channel swaps between groups. For a pair of groups the gain of
    every single swap (channel ``a`` of one group with channel ``b`` of the
    other) is computed in ``O(rows)`` from per-row statistics of each group (the
    kept sum, the N-th and the (N+1)-th largest magnitude): removing ``a`` from
    a group keeps ``kept - |a| + s_(N+1)`` if ``a`` was kept, else ``kept``, and
    adding ``b`` then gains ``max(0, |b| - threshold)``. A sweep visits every
    pair of groups and applies the pair's best swap if it gains; sweeps repeat
    until one changes nothing.
    Optionally (``exhaustive_pairs``) the local optimum is refined the way
    NVIDIA's ASP searches "stripe groups": for chosen pairs of groups every split
    of their ``2M`` channels into two groups of ``M`` is tried (35 splits for
    M=4, 6435 for M=8) and the best is kept; greedy swaps then resume.
    The order of channels inside a group does not change what N:M keeps, so the
    returned permutation lists every group's channels in ascending order.

Compressed form (:func:`compress_permuted`, :func:`decompress_permuted`)
    ``(values, indices, perm)``: the N:M compression of ``W[:, perm]`` plus the
    permutation, so a consumer can scatter the values back to the original
    channel order bit-exactly.

Run-time cost (:func:`permutation_cost`)
    ``"absorbed"``: the gather ``x[perm]`` happens while the activation tile is
    copied from global to shared memory (the load addresses come from ``perm``),
    as gyro-permutation does; the only extra DRAM traffic is reading ``perm``
    itself, and there is no extra pass. ``"extra_pass"``: a separate kernel
    reads the activations and writes them permuted before the GEMM (index
    translation between layers, as in Tetris): one extra pass that reads and
    writes the whole activation operand plus ``perm``. ``"offline"``: the
    permutation is folded into the previous layer's output channels (its weight
    rows and bias), so nothing is paid at run time; only possible when nothing
    else (a residual add, a norm) reads that output in the original order.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..errors import InputError
from numba import njit

from ._util import check_matrix, check_multiple, check_nm

PERMUTATION_MODES = ("absorbed", "extra_pass", "offline")

__all__ = [
    "PermutationResult",
    "search_permutation",
    "nm_kept_l1",
    "apply_permutation",
    "invert_permutation",
    "compress_permuted",
    "decompress_permuted",
    "permutation_cost",
    "PERMUTATION_MODES",
]


# ------------------------------------------------------------------- helpers


def nm_kept_l1(w, n: int, m: int, perm=None) -> float:
    """L1 magnitude N:M pruning keeps of ``w[:, perm]`` (``perm=None``: identity).

    Computed directly: sort each group's magnitudes and add the ``n`` largest.
    """
    n, m = check_nm(n, m, "nm_kept_l1")
    a = np.abs(check_matrix(w).astype(np.float64))
    if a.ndim != 2 or a.shape[1] % m:
        raise InputError(f"w must be 2-D with K a multiple of M={m}, got shape {a.shape}")
    if perm is not None:
        a = a[:, _check_perm(perm, a.shape[1])]
    g = np.sort(a.reshape(a.shape[0], -1, m), axis=2)
    return float(g[:, :, m - n :].sum())


def _check_perm(perm, k):
    try:
        p = np.asarray(perm)
    except (TypeError, ValueError):
        raise InputError(f"perm must be a 1-D integer array of length {k}") from None
    if p.ndim != 1 or p.shape[0] != k or p.dtype.kind not in "iu":
        raise InputError(f"perm must be a 1-D integer array of length {k}, got shape {p.shape}, dtype {p.dtype}")
    if not np.array_equal(np.sort(p), np.arange(k)):
        raise InputError(f"perm is not a permutation of 0..{k - 1}")
    return p.astype(np.int64)


def invert_permutation(perm) -> np.ndarray:
    """``inv`` with ``inv[perm[i]] = i``."""
    try:
        k = len(perm)
    except TypeError:
        raise InputError(f"perm must be a 1-D integer array, got {type(perm).__name__}") from None
    p = _check_perm(perm, k)
    inv = np.empty_like(p)
    inv[p] = np.arange(p.shape[0], dtype=np.int64)
    return inv


def apply_permutation(w, perm) -> np.ndarray:
    """``w[:, perm]`` after checking ``perm``."""
    arr = check_matrix(w)
    return arr[:, _check_perm(perm, arr.shape[1])]


# ------------------------------------------------------------ numba kernels


@njit(cache=True)
def _group_stats(at, g, m, n, kept, sn, sn1, rem, th, loss, buf):
    """Per-row statistics of group g (columns g*m .. g*m+m-1 of the permuted matrix).

    at: (K, R) magnitudes, permuted column-major. kept/sn/sn1: (G, R);
    rem/th: (K, R) (kept without slot p, and the threshold a newcomer must beat);
    loss: (K,) sum over rows of rem - kept.
    """
    r_count = at.shape[1]
    base = g * m
    for p in range(m):
        loss[base + p] = 0.0
    for r in range(r_count):
        for p in range(m):
            buf[p] = at[base + p, r]
        # partial selection sort: the n+1 largest to the front
        for s in range(n + 1):
            best = s
            for t in range(s + 1, m):
                if buf[t] > buf[best]:
                    best = t
            tmp = buf[s]
            buf[s] = buf[best]
            buf[best] = tmp
        k = 0.0
        for s in range(n):
            k += buf[s]
        vn = buf[n - 1]
        vn1 = buf[n]
        kept[g, r] = k
        sn[g, r] = vn
        sn1[g, r] = vn1
        for p in range(m):
            v = at[base + p, r]
            if v >= vn:
                rem[base + p, r] = k - v + vn1
                th[base + p, r] = vn1
            else:
                rem[base + p, r] = k
                th[base + p, r] = vn
            loss[base + p] += rem[base + p, r] - k


@njit(cache=True)
def _pair_best(at, g1, g2, m, th, loss):
    """Best single swap between groups g1 and g2: (gain, slot in g1, slot in g2)."""
    r_count = at.shape[1]
    best = -np.inf
    bp = 0
    bq = 0
    b1 = g1 * m
    b2 = g2 * m
    for p in range(m):
        for q in range(m):
            s = 0.0
            for r in range(r_count):
                s += max(at[b2 + q, r] - th[b1 + p, r], 0.0) + max(at[b1 + p, r] - th[b2 + q, r], 0.0)
            s += loss[b1 + p] + loss[b2 + q]
            if s > best:
                best = s
                bp = p
                bq = q
    return best, bp, bq


@njit(cache=True)
def _swap_search(at, perm, n, m, max_swaps, max_sweeps, tol, kept, sn, sn1, rem, th, loss):
    """Greedy channel swaps, swept over all group pairs.

    Each sweep visits every pair of groups once and applies that pair's best
    single swap when it gains more than ``tol``. Sweeps repeat until one applies
    no swap, or the budgets run out. Mutates ``at`` (rows swapped) and ``perm``.
    Returns (swaps, sweeps).
    """
    k_count = at.shape[0]
    groups = k_count // m
    r_count = at.shape[1]
    buf = np.zeros(m, at.dtype)
    for g in range(groups):
        _group_stats(at, g, m, n, kept, sn, sn1, rem, th, loss, buf)
    swaps = 0
    sweeps = 0
    while sweeps < max_sweeps and swaps < max_swaps:
        sweeps += 1
        applied = 0
        for g1 in range(groups):
            for g2 in range(g1 + 1, groups):
                gain, p, q = _pair_best(at, g1, g2, m, th, loss)
                if gain > tol and swaps < max_swaps:
                    c1 = g1 * m + p
                    c2 = g2 * m + q
                    for r in range(r_count):
                        tmp = at[c1, r]
                        at[c1, r] = at[c2, r]
                        at[c2, r] = tmp
                    tp = perm[c1]
                    perm[c1] = perm[c2]
                    perm[c2] = tp
                    swaps += 1
                    applied += 1
                    _group_stats(at, g1, m, n, kept, sn, sn1, rem, th, loss, buf)
                    _group_stats(at, g2, m, n, kept, sn, sn1, rem, th, loss, buf)
        if applied == 0:
            break
    return swaps, sweeps


@njit(cache=True)
def _pair_exhaustive(at, g1, g2, m, n, splits, buf):
    """Best split of the 2m channels of groups g1, g2 into two groups of m.

    splits: (S, m) slot lists (0..2m-1) of the first group; slot s < m is
    channel g1*m+s, slot s >= m is channel g2*m+s-m. Returns (best kept, split
    index, current kept).
    """
    r_count = at.shape[1]
    n_splits = splits.shape[0]
    inset = np.zeros(2 * m, np.bool_)
    best = -np.inf
    best_s = 0
    current = 0.0
    for s in range(n_splits):
        inset[:] = False
        for t in range(m):
            inset[splits[s, t]] = True
        total = 0.0
        for r in range(r_count):
            for side in range(2):
                c = 0
                for slot in range(2 * m):
                    if inset[slot] == (side == 0):
                        ch = g1 * m + slot if slot < m else g2 * m + slot - m
                        buf[c] = at[ch, r]
                        c += 1
                for s2 in range(n):
                    bi = s2
                    for t in range(s2 + 1, m):
                        if buf[t] > buf[bi]:
                            bi = t
                    tmp = buf[s2]
                    buf[s2] = buf[bi]
                    buf[bi] = tmp
                    total += buf[s2]
        if s == 0:
            current = total
        if total > best:
            best = total
            best_s = s
    return best, best_s, current


# ------------------------------------------------------------------- search


@lru_cache(maxsize=None)
def _splits(m: int) -> np.ndarray:
    """All m-subsets of 0..2m-1 that contain slot 0 (each split once); first = identity."""
    out = [c for c in itertools.combinations(range(2 * m), m) if c[0] == 0]
    return np.array(out, dtype=np.int64)


@dataclass
class PermutationResult:
    """Outcome of :func:`search_permutation`.

    ``perm`` orders the input channels: prune and compress ``w[:, perm]``.
    ``kept_identity`` / ``kept_permuted`` are the L1 magnitudes N:M pruning keeps
    without / with the permutation, ``total`` the whole matrix's L1 magnitude.
    """

    perm: np.ndarray
    n: int
    m: int
    kept_identity: float
    kept_permuted: float
    total: float
    swaps: int
    refinements: int = 0
    seconds: float = 0.0
    sweeps: int = 0
    notes: list = field(default_factory=list)

    @property
    def gain(self) -> float:
        """Relative increase of kept magnitude over no permutation."""
        return self.kept_permuted / self.kept_identity - 1.0 if self.kept_identity else 0.0

    @property
    def fraction_identity(self) -> float:
        return self.kept_identity / self.total if self.total else 1.0

    @property
    def fraction_permuted(self) -> float:
        return self.kept_permuted / self.total if self.total else 1.0


def search_permutation(
    w,
    n: int,
    m: int,
    *,
    max_swaps: int | None = None,
    max_sweeps: int = 6,
    exhaustive_pairs: int = 0,
    seed: int = 0,
) -> PermutationResult:
    """Input-channel permutation of ``w`` (rows x K) that raises the magnitude N:M keeps.

    ``max_swaps`` bounds the greedy swaps (default ``4 * K``), ``max_sweeps``
    the passes over all group pairs (each pass costs ``O(G^2 M^2 rows)`` for
    ``G = K/M`` groups). With
    ``exhaustive_pairs > 0`` that many randomly drawn group pairs (``seed``) are
    re-split exhaustively after the greedy search converges, and greedy swaps
    resume after every improving re-split. The result never keeps less than the
    identity order.
    """
    n, m = check_nm(n, m, "search_permutation")
    arr = check_matrix(w)
    check_multiple(arr, m, (1,))
    if max_swaps is not None and (not isinstance(max_swaps, (int, np.integer)) or max_swaps < 0):
        raise InputError(f"max_swaps must be a non-negative integer or None, got {max_swaps!r}")
    if isinstance(max_sweeps, bool) or not isinstance(max_sweeps, (int, np.integer)) or max_sweeps < 1:
        raise InputError(f"max_sweeps must be a positive integer, got {max_sweeps!r}")
    if not isinstance(exhaustive_pairs, (int, np.integer)) or exhaustive_pairs < 0:
        raise InputError(f"exhaustive_pairs must be a non-negative integer, got {exhaustive_pairs!r}")
    t0 = time.perf_counter()
    rows, k = arr.shape
    groups = k // m
    mag = np.abs(arr.astype(np.float64))
    total = float(mag.sum())
    kept_id = nm_kept_l1(mag, n, m)
    perm = np.arange(k, dtype=np.int64)
    if groups < 2:
        return PermutationResult(perm, n, m, kept_id, kept_id, total, 0, 0, time.perf_counter() - t0)
    at = np.ascontiguousarray(mag.T)
    budget = 4 * k if max_swaps is None else int(max_swaps)
    tol = 1e-12 * max(total, 1e-300)
    work = dict(
        kept=np.zeros((groups, rows)),
        sn=np.zeros((groups, rows)),
        sn1=np.zeros((groups, rows)),
        rem=np.zeros((k, rows)),
        th=np.zeros((k, rows)),
        loss=np.zeros(k),
    )
    search = _swap_search
    swaps, sweeps = search(at, perm, n, m, budget, max_sweeps, tol, **work)
    refinements = 0
    if exhaustive_pairs:
        rng = np.random.default_rng(seed)
        splits = _splits(m)
        exhaust = _pair_exhaustive
        buf = np.zeros(m)
        for _ in range(int(exhaustive_pairs)):
            g1, g2 = sorted(rng.choice(groups, size=2, replace=False).tolist())
            best, s, current = exhaust(at, g1, g2, m, n, splits, buf)
            if best > current + tol:
                slots = np.concatenate([np.arange(g1 * m, g1 * m + m), np.arange(g2 * m, g2 * m + m)])
                first = splits[s]
                second = np.setdiff1d(np.arange(2 * m), first)
                new_slots = slots[np.concatenate([first, second])]
                at[slots] = at[new_slots]
                perm[slots] = perm[new_slots]
                refinements += 1
                if swaps < budget:
                    more, more_sweeps = search(at, perm, n, m, budget - swaps, max_sweeps, tol, **work)
                    swaps += more
                    sweeps += more_sweeps
    # canonical order inside each group (does not change what N:M keeps)
    perm = np.sort(perm.reshape(groups, m), axis=1).reshape(k)
    kept_perm = nm_kept_l1(mag, n, m, perm)
    notes = []
    if kept_perm < kept_id:  # pragma: no cover - swaps only apply positive gains
        perm = np.arange(k, dtype=np.int64)
        kept_perm = kept_id
        notes.append("search ended below the identity order; identity kept")
    return PermutationResult(perm, n, m, kept_id, kept_perm, total, int(swaps), refinements,
                             time.perf_counter() - t0, int(sweeps), notes)


# -------------------------------------------------------------- compressed form


def compress_permuted(w, n: int, m: int, perm):
    """N:M-compress ``w[:, perm]``; returns ``(values, indices, perm)``.

    ``values``/``indices`` are exactly :func:`sparsesim.formats.compress` of the
    permuted matrix (indices are positions inside each group of the *permuted*
    order); ``perm`` travels with them so :func:`decompress_permuted` can restore
    the original channel order.
    """
    from ..formats import compress

    n, m = check_nm(n, m, "compress_permuted")
    arr = check_matrix(w, finite=False)
    p = _check_perm(perm, arr.shape[1])
    values, indices = compress(arr[:, p], n, m)
    return values, indices, p.copy()


def decompress_permuted(values, indices, perm, n: int, m: int) -> np.ndarray:
    """Invert :func:`compress_permuted`: the N:M-pruned ``w`` in its original channel order."""
    from ..formats import decompress

    n, m = check_nm(n, m, "decompress_permuted")
    dense_perm = decompress(values, indices, n, m)
    p = _check_perm(perm, dense_perm.shape[1])
    out = np.empty_like(dense_perm)
    out[:, p] = dense_perm
    return out


# ----------------------------------------------------------------- run-time cost


def permutation_cost(k: int, n_cols: int, dtype_bytes: int, mode: str = "absorbed", *, index_bytes: int | None = None) -> dict:
    """Extra run-time work a channel permutation of a layer's K input channels costs.

    The activation operand is ``X[K x n_cols]`` (``n_cols`` tokens / batch
    columns) with ``dtype_bytes`` per element; the permutation is stored as
    ``K`` indices of ``index_bytes`` each (default: the smallest of 1, 2, 4
    bytes that holds ``K - 1``).

    ``"absorbed"`` - the gather is folded into the global->shared copy of the
        activation tile: only ``perm`` is read (``K * index_bytes`` bytes), no
        extra pass, no extra activation traffic. The copy's addresses are no
        longer contiguous along K; the model assumes the copy still runs at the
        rate of a contiguous one because each gathered row of ``n_cols``
        elements stays contiguous.  # assumption: row-granular gather, full-width bursts
    ``"extra_pass"`` - a separate kernel reads ``X`` and writes it permuted:
        ``2 * K * n_cols * dtype_bytes`` extra DRAM bytes plus ``perm``, and one
        extra pass (kernel launch) on the critical path.
    ``"offline"`` - folded into the previous layer's weights: nothing at run time.

    Returns a dict of ints: ``extra_dram_bytes``, ``extra_read_bytes``,
    ``extra_write_bytes``, ``index_bytes`` (bytes of ``perm``), ``extra_passes``.
    """
    for name, v in (("k", k), ("n_cols", n_cols), ("dtype_bytes", dtype_bytes)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
            raise InputError(f"{name} must be a positive integer, got {v!r}")
    if mode not in PERMUTATION_MODES:
        raise InputError(f"permutation mode {mode!r} is not one of {PERMUTATION_MODES}")
    if index_bytes is None:
        index_bytes = 1 if k <= 1 << 8 else 2 if k <= 1 << 16 else 4
    elif isinstance(index_bytes, bool) or not isinstance(index_bytes, (int, np.integer)) or index_bytes <= 0:
        raise InputError(f"index_bytes must be a positive integer, got {index_bytes!r}")
    perm_bytes = int(k) * int(index_bytes)
    if mode == "offline":
        read = write = 0
        perm_bytes_read = 0
        passes = 0
    elif mode == "absorbed":
        read, write, passes = 0, 0, 0
        perm_bytes_read = perm_bytes
    else:
        act = int(k) * int(n_cols) * int(dtype_bytes)
        read, write, passes = act, act, 1
        perm_bytes_read = perm_bytes
    return {
        "extra_dram_bytes": int(read + write + perm_bytes_read),
        "extra_read_bytes": int(read + perm_bytes_read),
        "extra_write_bytes": int(write),
        "index_bytes": int(perm_bytes),
        "extra_passes": int(passes),
    }
