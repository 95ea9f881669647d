"""N:M fine-grained structured pruning and compression.

Model (NVIDIA Ampere sparse tensor core, generalised to any N:M): the sparse operand
``A[rows x K]`` is cut along K into groups of ``M`` consecutive elements; in each
group the ``N`` elements of largest magnitude are kept and the others become zero.
The compressed form is

* ``values``  - ``rows x K*N/M``, the kept elements of each group in ascending
  position order (the order the hardware multiplexers expect), and
* ``indices`` - ``rows x K*N/M`` ``uint8``, each kept element's position inside
  its group (``0 <= idx < M``), strictly ascending inside a group.

Ties in magnitude break toward the lower position, so the result is deterministic.
A group with fewer than N non-zeros keeps zeros at the lowest free positions.
Floating-point magnitudes are compared on their bit patterns with the sign bit
removed (for finite IEEE values this orders exactly as ``abs``); NaN and Inf are
rejected. ``-0.0`` counts as a zero of magnitude 0 and is kept bit-exactly.

How the indices are packed into metadata bits is :mod:`sparsesim.formats.metadata`;
the CUTLASS tensor-core layout is :mod:`sparsesim.formats.cutlass`.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError, InputError
from ..patterns import parse_pattern
from ._arrays import as_matrix, check_group, key_view, pad_columns
from ._jit import njit, prange, same_width, unsigned_abs


@njit(parallel=True, cache=True)
def _nm_compress_kernel(src, mode, mask, nonfinite, n, m, out_vals, out_idx):
    """Per group: rank each element by (magnitude desc, position asc); keep rank < n.

    Returns the number of non-finite inputs seen (0 for integer inputs).
    """
    rows, k = src.shape
    groups = k // m
    bad = 0
    for r in prange(rows):
        keys = np.empty(m, dtype=np.int64)
        for g in range(groups):
            base = g * m
            for i in range(m):
                v = src[r, base + i]
                if mode == 0:
                    if (v & nonfinite) == nonfinite:
                        bad += 1
                    keys[i] = np.int64(v & mask)
                else:
                    keys[i] = abs(np.int64(v))
            out = g * n
            for i in range(m):
                ki = keys[i]
                rank = 0
                for j in range(m):
                    kj = keys[j]
                    if kj > ki or (kj == ki and j < i):
                        rank += 1
                if rank < n:
                    out_vals[r, out] = src[r, base + i]
                    out_idx[r, out] = i
                    out += 1
    return bad


# For a 4-bit "kept" mask with exactly two bits set: position of the lower and the
# higher kept element (entries for other masks are never read).
_PAIR_LO = np.array([0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 2, 0, 0, 0], dtype=np.uint8)
_PAIR_HI = np.array([0, 0, 0, 1, 0, 2, 2, 0, 0, 3, 3, 0, 3, 0, 0, 0], dtype=np.uint8)


@njit(parallel=True, cache=True)
def _compress_2of4_kernel(src, mode, mask, nonfinite, lo_tab, hi_tab, out_vals, out_idx):
    """2:4 fast path of :func:`_nm_compress_kernel` (same result): the branch-free
    selection of :func:`_select_2of4` per group, keys in the element's own width.

    ``lo_tab``/``hi_tab`` (the positions of a 4-bit kept mask) are kept for callers;
    the selection computes the positions directly.
    """
    rows, k = src.shape
    groups = k // 4
    bad = 0
    for r in prange(rows):
        row = src[r]
        nb = False
        for g in range(groups):
            b = g * 4
            v0 = row[b]
            v1 = row[b + 1]
            v2 = row[b + 2]
            v3 = row[b + 3]
            if mode == 0:
                nb |= _nonfinite4(v0, v1, v2, v3, nonfinite)
                x0, x1, i0, i1 = _select_2of4(v0, v1, v2, v3, same_width(v0 & mask, v0), same_width(v1 & mask, v0),
                                              same_width(v2 & mask, v0), same_width(v3 & mask, v0))
            else:
                x0, x1, i0, i1 = _select_2of4(v0, v1, v2, v3, unsigned_abs(v0), unsigned_abs(v1),
                                              unsigned_abs(v2), unsigned_abs(v3))
            out_vals[r, 2 * g] = x0
            out_vals[r, 2 * g + 1] = x1
            out_idx[r, 2 * g] = i0
            out_idx[r, 2 * g + 1] = i1
        if nb:
            bad += _count_nonfinite(row, nonfinite)
    return bad


@njit(inline="always")
def _nonfinite4(v0, v1, v2, v3, nonfinite):
    return (((v0 & nonfinite) == nonfinite) | ((v1 & nonfinite) == nonfinite)
            | ((v2 & nonfinite) == nonfinite) | ((v3 & nonfinite) == nonfinite))


@njit
def _count_nonfinite(row, nonfinite):
    """Exact NaN/Inf count of one row (only for the error message)."""
    n = 0
    for v in row:
        if (v & nonfinite) == nonfinite:
            n += 1
    return n


@njit(inline="always")
def _majority(a, b, c):
    return (a & b) | (a & c) | (b & c)


@njit(inline="always")
def _select_2of4(v0, v1, v2, v3, k0, k1, k2, k3):
    """Branch-free 2:4 selection on magnitude keys (ties toward the lower position).

    Element i is kept when at most one other element beats it (a larger key, or an
    equal key at a lower position), i.e. when it wins a majority of its three
    comparisons.  Returns the two kept values in position order and their positions
    ``i0`` (0..2) and ``i1`` (1..3), as uint8.  Booleans and selects only, so LLVM
    vectorises the loop in the keys' own width.
    """
    a01 = k0 >= k1
    a02 = k0 >= k2
    a03 = k0 >= k3
    a12 = k1 >= k2
    a13 = k1 >= k3
    a23 = k2 >= k3
    f0 = _majority(a01, a02, a03)
    f1 = _majority(not a01, a12, a13)
    f2 = _majority(not a02, not a12, a23)
    f3 = _majority(not a03, not a13, not a23)
    x0 = v0 if f0 else (v1 if f1 else v2)
    x1 = v3 if f3 else (v2 if f2 else v1)
    i0 = np.uint8(not f0) + np.uint8(not (f0 or f1))  # 0, 1 or 2
    i1 = np.uint8(1) + np.uint8(f2 or f3) + np.uint8(f3)  # 1, 2 or 3
    return x0, x1, np.uint8(i0), np.uint8(i1)


@njit(inline="always")
def _nibble(i0, i1):
    """The 'index' metadata nibble ``idx0 | idx1 << 2`` of one 2:4 group."""
    return np.uint8(i0 | (i1 << np.uint8(2)))


@njit(parallel=True, cache=True)
def _compress_2of4_packed_float(src, mask, nonfinite, out_vals, out_meta):
    """Fused 2:4 prune + compress + 'index' metadata for float bit patterns (K % 8 == 0).

    Two groups per step: four kept values and one metadata byte (low nibble first).
    Returns the number of NaN/Inf inputs.
    """
    rows, k = src.shape
    bad = 0
    for r in prange(rows):
        row = src[r]
        ov = out_vals[r]
        om = out_meta[r]
        nb = False
        for gp in range(k // 8):
            b = gp * 8
            v0 = row[b]
            v1 = row[b + 1]
            v2 = row[b + 2]
            v3 = row[b + 3]
            v4 = row[b + 4]
            v5 = row[b + 5]
            v6 = row[b + 6]
            v7 = row[b + 7]
            nb |= _nonfinite4(v0, v1, v2, v3, nonfinite) | _nonfinite4(v4, v5, v6, v7, nonfinite)
            x0, x1, i0, i1 = _select_2of4(v0, v1, v2, v3, same_width(v0 & mask, v0), same_width(v1 & mask, v0),
                                          same_width(v2 & mask, v0), same_width(v3 & mask, v0))
            y0, y1, j0, j1 = _select_2of4(v4, v5, v6, v7, same_width(v4 & mask, v0), same_width(v5 & mask, v0),
                                          same_width(v6 & mask, v0), same_width(v7 & mask, v0))
            ov[4 * gp] = x0
            ov[4 * gp + 1] = x1
            ov[4 * gp + 2] = y0
            ov[4 * gp + 3] = y1
            om[gp] = _nibble(i0, i1) | (_nibble(j0, j1) << np.uint8(4))
        if nb:
            bad += _count_nonfinite(row, nonfinite)
    return bad


@njit(parallel=True, cache=True)
def _compress_2of4_packed_int(src, out_vals, out_meta):
    """Integer counterpart of :func:`_compress_2of4_packed_float` (key = |value|)."""
    rows, k = src.shape
    for r in prange(rows):
        row = src[r]
        ov = out_vals[r]
        om = out_meta[r]
        for gp in range(k // 8):
            b = gp * 8
            v0 = row[b]
            v1 = row[b + 1]
            v2 = row[b + 2]
            v3 = row[b + 3]
            v4 = row[b + 4]
            v5 = row[b + 5]
            v6 = row[b + 6]
            v7 = row[b + 7]
            x0, x1, i0, i1 = _select_2of4(v0, v1, v2, v3, unsigned_abs(v0), unsigned_abs(v1),
                                          unsigned_abs(v2), unsigned_abs(v3))
            y0, y1, j0, j1 = _select_2of4(v4, v5, v6, v7, unsigned_abs(v4), unsigned_abs(v5),
                                          unsigned_abs(v6), unsigned_abs(v7))
            ov[4 * gp] = x0
            ov[4 * gp + 1] = x1
            ov[4 * gp + 2] = y0
            ov[4 * gp + 3] = y1
            om[gp] = _nibble(i0, i1) | (_nibble(j0, j1) << np.uint8(4))


@njit(parallel=True, cache=True)
def _nm_decompress_kernel(vals, idx, n, m, out, bad_slot):
    """Scatter kept values back to their positions.

    ``bad_slot[r]`` is set to the first slot of row ``r`` whose group's indices are
    not strictly ascending or not below ``m`` (-1 when the row is valid).
    """
    rows, kept = vals.shape
    groups = kept // n
    for r in prange(rows):
        bad_slot[r] = -1
        for g in range(groups):
            prev = -1
            for j in range(n):
                s = g * n + j
                i = np.int64(idx[r, s])
                if i <= prev or i >= m:
                    if bad_slot[r] < 0:
                        bad_slot[r] = s
                    break
                prev = i
                out[r, g * m + i] = vals[r, s]


def _nm_args(n, m):
    """``(n, m)`` from ints or from a spec string in ``n`` (``"2:4"``, then ``m`` is None)."""
    if isinstance(n, str):
        if m is not None:
            raise InputError(f"give the pattern either as a spec ({n!r}) or as n, m - not both")
        pat = parse_pattern(n)
        if not pat.is_nm:
            raise InputError(f"pattern {n!r} is not an N:M pattern")
        return pat.n, pat.m
    pat = parse_pattern(f"{n}:{4 if m is None else m}")
    return pat.n, pat.m


def compress(w, n=2, m=None, pad: bool = False):
    """Keep the N largest magnitudes of each group of M along K and compress.

    ``n`` may also be a spec string such as ``"2:4"`` (with ``m`` left ``None``).
    Returns ``(values, indices)``: ``values`` has ``w``'s dtype and shape
    ``rows x K*N/M``; ``indices`` is ``uint8`` of the same shape. With
    ``pad=True`` a K that is not a multiple of M is zero-padded first; otherwise it
    raises :class:`FormatError`.
    """
    n, m = _nm_args(n, m)
    w = as_matrix(w, "weight matrix")
    k = check_group(w.shape[1], m, pad)
    w = pad_columns(w, k)
    src, mode, mask, nonfinite = key_view(w)
    rows = w.shape[0]
    vals_bits = np.empty((rows, k // m * n), dtype=src.dtype)
    idx = np.empty((rows, k // m * n), dtype=np.uint8)
    if rows and k:
        args = (src, mode, src.dtype.type(mask), src.dtype.type(nonfinite))
        if (n, m) == (2, 4):
            bad = _compress_2of4_kernel(*args, _PAIR_LO, _PAIR_HI, vals_bits, idx)
        else:
            bad = _nm_compress_kernel(*args, n, m, vals_bits, idx)
        if bad:
            raise FormatError(f"weight matrix has {bad} NaN/Inf value(s); N:M pruning needs finite values")
    return vals_bits.view(w.dtype), idx


def compress_packed(w, n=2, m=None, encoding: str = "index", pad: bool = False):
    """Prune + compress + pack metadata in one step: ``(values, packed_metadata)``.

    Same result as ``compress`` followed by
    :func:`sparsesim.formats.metadata.encode`; for 2:4 'index' metadata (the
    tensor-core stream) with K a multiple of 8, a fused, vectorised kernel writes the
    packed nibbles directly.
    """
    from .metadata import encode

    n, m = _nm_args(n, m)
    w = as_matrix(w, "weight matrix")
    if (n, m) != (2, 4) or encoding != "index" or w.shape[1] % 8:
        values, idx = compress(w, n, m, pad=pad)  # also handles padding and its errors
        return values, encode(idx, n, m, encoding)
    k = w.shape[1]  # whole metadata bytes: two groups each
    src, mode, mask, nonfinite = key_view(w)
    rows = w.shape[0]
    vals_bits = np.empty((rows, k // 2), dtype=src.dtype)
    meta = np.zeros((rows, k // 8), dtype=np.uint8)
    if rows and k:
        if mode == 0:
            bad = _compress_2of4_packed_float(src, src.dtype.type(mask), src.dtype.type(nonfinite), vals_bits, meta)
            if bad:
                raise FormatError(f"weight matrix has {bad} NaN/Inf value(s); N:M pruning needs finite values")
        else:
            _compress_2of4_packed_int(src, vals_bits, meta)
    return vals_bits.view(w.dtype), meta


def decompress(values, indices, n=2, m=None, k: int | None = None):
    """Invert :func:`compress`: scatter ``values`` to the positions in ``indices``.

    Raises :class:`FormatError` when an index is out of range or indices are not
    strictly ascending inside a group (a word the hardware would not accept).
    ``k`` (optional) trims zero padding added by ``compress(..., pad=True)``.
    """
    n, m = _nm_args(n, m)
    values = as_matrix(values, "values")
    indices = as_matrix(indices, "indices")
    if values.shape != indices.shape:
        raise FormatError(f"values {values.shape} and indices {indices.shape} must have the same shape")
    if values.shape[1] % n:
        raise FormatError(f"values have {values.shape[1]} columns, not a multiple of N = {n}")
    if indices.dtype.kind not in "iu":
        raise FormatError(f"indices must be integers, got {indices.dtype}")
    rows, kept = values.shape
    kp = kept // n * m
    src, _, _, _ = key_view(values) if values.dtype.kind == "f" else (values, 1, 0, 0)
    out = np.zeros((rows, kp), dtype=src.dtype)
    if rows and kept:
        bad_slot = np.empty(rows, dtype=np.int64)
        _nm_decompress_kernel(np.ascontiguousarray(src), np.ascontiguousarray(indices), n, m, out, bad_slot)
        bad_rows = np.flatnonzero(bad_slot >= 0)
        if bad_rows.size:
            r = int(bad_rows[0])
            s = int(bad_slot[r])
            g = s // n
            raise FormatError(
                f"invalid {n}:{m} index word at row {r}, group {g}: indices "
                f"{list(indices[r, g * n:(g + 1) * n])} must be strictly ascending and < {m}"
            )
    out = out.view(values.dtype)
    if k is not None:
        if not (kp - m < k <= kp):
            raise FormatError(f"k = {k} does not match the compressed width (K = {kp} before trimming)")
        out = out[:, :k]
    return out


def prune(w, n=2, m=None, pad: bool = False):
    """Zero all but the N largest magnitudes in each group of M along K (same shape and dtype).

    With ``pad=True`` and K not a multiple of M the last partial group is pruned as
    if zero-padded, and the result keeps ``w``'s original shape.
    """
    w = as_matrix(w, "weight matrix")
    k = w.shape[1]
    vals, idx = compress(w, n, m, pad=pad)
    nn, mm = _nm_args(n, m)
    return decompress(vals, idx, nn, mm, k=k)


def is_nm_sparse(w, n=2, m=None) -> bool:
    """True when every group of M along K has at most N non-zeros."""
    n, m = _nm_args(n, m)
    w = as_matrix(w, "matrix")
    if w.shape[1] % m:
        return False
    nz = (w != 0).reshape(w.shape[0], -1, m).sum(axis=2)
    return bool((nz <= n).all())


# ---------------------------------------------------------------------------
# Plain-Python references (slow, obvious; used by the tests as oracles).
# ---------------------------------------------------------------------------

def compress_reference(w, n, m):
    """Reference for :func:`compress` written with Python floats/ints and sorting."""
    rows, k = w.shape
    vals = np.zeros((rows, k // m * n), dtype=w.dtype)
    idx = np.zeros((rows, k // m * n), dtype=np.uint8)
    for r in range(rows):
        for g in range(k // m):
            group = [w[r, g * m + i] for i in range(m)]
            mags = [abs(int(x)) if w.dtype.kind in "iu" else abs(float(x)) for x in group]
            if any(not np.isfinite(x) for x in mags):
                raise FormatError("non-finite value")
            order = sorted(range(m), key=lambda i: (-mags[i], i))
            keep = sorted(order[:n])
            for j, i in enumerate(keep):
                vals[r, g * n + j] = group[i]
                idx[r, g * n + j] = i
    return vals, idx
