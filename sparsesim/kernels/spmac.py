"""Sparse MAC functional kernel: ``C = A_sparse . B`` straight from the compressed form.

The kernel follows the sparse tensor-core datapath, one kept weight at a time:

1. **decode**   - the kept value's index gives its position ``p = g*M + idx`` in K;
2. **mux**      - the multiplexer selects activation row ``B[p, :]`` out of the M
   candidates of the group (3:1 for 2:4's second slot, 5:1 for 4:8 ...);
3. **multiply** - value x selected activations;
4. **accumulate** into the output row.

Arithmetic is exactly what the hardware does:

* int8 x int8 products are exact (|p| <= 2^14); accumulation is int32 with
  wrap-around: the result is the exact sum reduced modulo 2^32, as a 32-bit adder
  gives (addition modulo 2^32 is associative, so grouping products first changes no
  bit; see ``EXACT_F32_CHUNK`` for how the kernel keeps every grouping exact).
* fp16 x fp16 products are exact in fp32 (11+11 significand bits <= 24); they are
  accumulated in fp32, in ascending K order, rounding after every add.

int8 operands run on AVX512_VNNI where the CPU has it (and the pattern fits a
VPSHUFB lane: N in 1, 2, 4 and 4M/N <= 16, e.g. 2:4, 4:8, 1:4): the rows of A sit in
the lanes of VPDPBUSD, VPSHUFB is the multiplexer and only kept weights are multiplied
(:mod:`sparsesim.kernels.vnni_sparse`).  Elsewhere - no VNNI, another pattern, or
``SPARSESIM_INT8_BACKEND=portable`` - the portable kernel below runs: column panels
of B stay in cache while every row of A streams past them, rows spread over cores.
:func:`pack` interleaves A once for repeated products (:func:`spmac_packed`).
The plain-Python reference below is the oracle the tests compare against.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError, InputError
from ..formats._arrays import as_matrix
from ..formats._jit import njit, prange
from ..patterns import parse_pattern
from . import vnni_sparse
from .simd import has_path

PANEL = 4096  # columns of B per task (measured fastest of 1024..4096 for 4096^3 on 2 cores)


# int8 x int8 products are integers with |p| <= 2^14, so any sum of at most
# 2^24 / 2^14 = 1024 of them is an integer of magnitude <= 2^24, which float32 holds
# exactly whatever the order of the additions. The kernel therefore multiplies and adds in
# float32 (the CPU's fast FMA lanes) for chunks of 1024 kept weights, converts each chunk's
# exact sum to int32 and adds it into the int32 accumulator modulo 2^32.
EXACT_F32_CHUNK = 1024


@njit(parallel=True, fastmath=True, cache=True)
def _spmac_int8(vals, idx, n, m, b, out):
    """One task = one row of A x one column panel of B; eight kept weights per pass.

    Each kept weight: decode ``p = (s // n) * m + idx`` -> the mux picks row ``p`` of
    the B panel -> multiply -> accumulate (exact float32 chunk, then int32 mod 2^32).
    """
    rows, kept = vals.shape
    ncols = b.shape[1]
    npanels = (ncols + PANEL - 1) // PANEL
    for task in prange(rows * npanels):
        r = task % rows
        c0 = (task // rows) * PANEL
        c1 = min(c0 + PANEL, ncols)
        w = c1 - c0
        acc = np.zeros(w, dtype=np.int32)
        chunk = np.empty(w, dtype=np.float32)
        s = 0
        while s < kept:
            end = min(s + EXACT_F32_CHUNK, kept)
            chunk[:] = 0
            while s + 8 <= end:
                v0 = np.float32(vals[r, s])
                v1 = np.float32(vals[r, s + 1])
                v2 = np.float32(vals[r, s + 2])
                v3 = np.float32(vals[r, s + 3])
                v4 = np.float32(vals[r, s + 4])
                v5 = np.float32(vals[r, s + 5])
                v6 = np.float32(vals[r, s + 6])
                v7 = np.float32(vals[r, s + 7])
                b0 = b[(s // n) * m + np.int64(idx[r, s]), c0:c1]
                b1 = b[((s + 1) // n) * m + np.int64(idx[r, s + 1]), c0:c1]
                b2 = b[((s + 2) // n) * m + np.int64(idx[r, s + 2]), c0:c1]
                b3 = b[((s + 3) // n) * m + np.int64(idx[r, s + 3]), c0:c1]
                b4 = b[((s + 4) // n) * m + np.int64(idx[r, s + 4]), c0:c1]
                b5 = b[((s + 5) // n) * m + np.int64(idx[r, s + 5]), c0:c1]
                b6 = b[((s + 6) // n) * m + np.int64(idx[r, s + 6]), c0:c1]
                b7 = b[((s + 7) // n) * m + np.int64(idx[r, s + 7]), c0:c1]
                for c in range(w):
                    chunk[c] += (((v0 * np.float32(b0[c]) + v1 * np.float32(b1[c]))
                                  + (v2 * np.float32(b2[c]) + v3 * np.float32(b3[c])))
                                 + ((v4 * np.float32(b4[c]) + v5 * np.float32(b5[c]))
                                    + (v6 * np.float32(b6[c]) + v7 * np.float32(b7[c]))))
                s += 8
            while s < end:
                v0 = np.float32(vals[r, s])
                b0 = b[(s // n) * m + np.int64(idx[r, s]), c0:c1]
                for c in range(w):
                    chunk[c] += v0 * np.float32(b0[c])
                s += 1
            for c in range(w):
                acc[c] += np.int32(chunk[c])
        out[r, c0:c1] = acc


@njit(parallel=True, cache=True)
def _spmac_f32acc(vals, idx, n, m, b, out):
    """fp32 accumulate, one rounding per add, kept weights in ascending K order."""
    rows, kept = vals.shape
    ncols = b.shape[1]
    for r in prange(rows):
        acc = np.zeros(ncols, dtype=np.float32)
        for s in range(kept):
            v = vals[r, s]
            brow = b[(s // n) * m + np.int64(idx[r, s]), :]
            for c in range(ncols):
                acc[c] = acc[c] + v * brow[c]
        out[r, :] = acc


def _validate(values, indices, n, m, b):
    values = as_matrix(values, "values")
    indices = as_matrix(indices, "indices")
    b = as_matrix(b, "B")
    if values.shape != indices.shape:
        raise FormatError(f"values {values.shape} and indices {indices.shape} differ in shape")
    if values.shape[1] % n:
        raise FormatError(f"values have {values.shape[1]} columns, not a multiple of N = {n}")
    k = values.shape[1] // n * m
    if b.shape[0] != k:
        raise InputError(f"B has {b.shape[0]} rows; the compressed A spans K = {k}")
    if values.dtype != b.dtype or values.dtype not in (np.dtype(np.int8), np.dtype(np.float16)):
        raise InputError(
            f"sparse MAC takes int8 x int8 (int32 accumulate) or float16 x float16 (float32 accumulate); "
            f"got {values.dtype} x {b.dtype}"
        )
    if indices.dtype == np.uint8:  # what compress() returns: checked in one compiled pass
        first_bad = _first_bad_group(np.ascontiguousarray(indices), n, m)
    else:
        first_bad = _first_bad_group_numpy(indices, n, m)
    if first_bad >= 0:
        r, gg = divmod(int(first_bad), indices.shape[1] // n)
        group = [int(x) for x in indices[r, gg * n:(gg + 1) * n]]
        raise FormatError(f"invalid {n}:{m} indices at row {r}, group {gg}: {group}")
    return values, indices, b


@njit(parallel=True, cache=True)
def _first_bad_group(idx, n, m):
    """Row-major number of the first group whose indices are not ascending and < M; -1 if none."""
    rows, kept = idx.shape
    groups = kept // n
    first = np.full(rows, -1, dtype=np.int64)
    for r in prange(rows):
        for gg in range(groups):
            ok = True
            for j in range(n):
                x = idx[r, gg * n + j]
                if x >= m or (j > 0 and x <= idx[r, gg * n + j - 1]):
                    ok = False
            if not ok:
                first[r] = r * groups + gg
                break
    for r in range(rows):
        if first[r] >= 0:
            return first[r]
    return -1


def _first_bad_group_numpy(indices, n, m):
    """Same as :func:`_first_bad_group` for index arrays of any integer dtype (may be negative)."""
    g = indices.reshape(indices.shape[0], -1, n).astype(np.int64)
    bad = (g >= m) | (g < 0)
    if n > 1:
        bad[:, :, 1:] |= g[:, :, 1:] <= g[:, :, :-1]
    flat = np.flatnonzero(bad.any(axis=2))
    return int(flat[0]) if flat.size else -1


def spmac(values, indices, b, pattern="2:4"):
    """``C = A . B`` with A given compressed (``values``, ``indices`` from ``compress``).

    int8 inputs give int32 output (wrap-around); float16 inputs give float32.
    """
    pat = parse_pattern(pattern)
    if not pat.is_nm:
        raise InputError(f"spmac needs an N:M pattern, got {pat}")
    values, indices, b = _validate(values, indices, pat.n, pat.m, b)
    rows = values.shape[0]
    vals = np.ascontiguousarray(values)
    idx = np.ascontiguousarray(indices, dtype=np.uint8)
    bb = np.ascontiguousarray(b)
    if values.dtype == np.int8:
        if _routed(pat.n, pat.m):
            return vnni_sparse.sparse_times_dense(vnni_sparse.pack_sparse(vals, idx, pat.n, pat.m), bb)
        out = np.empty((rows, b.shape[1]), dtype=np.int32)
        if out.size:
            _spmac_int8(vals, idx, pat.n, pat.m, bb, out)
    else:
        out = np.empty((rows, b.shape[1]), dtype=np.float32)
        if out.size:
            # fp16 -> fp32 is exact; Numba has no native float16 arithmetic.
            _spmac_f32acc(vals.astype(np.float32), idx, pat.n, pat.m, bb.astype(np.float32), out)
    return out


def _routed(n, m) -> bool:
    """True when int8 products of this N:M pattern run on VPSHUFB + VPDPBUSD here."""
    return vnni_sparse.routable(n, m) and has_path("vnni")


def pack(values, indices, pattern="2:4"):
    """Interleave an int8 compressed A once for repeated :func:`spmac_packed` products.

    Returns a :class:`~sparsesim.kernels.vnni_sparse.SparsePanel` (the VNNI layout) when
    the products will run on VNNI, else the validated ``(values, indices, pattern)``.
    """
    pat = parse_pattern(pattern)
    if not pat.is_nm:
        raise InputError(f"spmac needs an N:M pattern, got {pat}")
    values = as_matrix(values, "values")
    no_columns = np.zeros((values.shape[1] // pat.n * pat.m, 0), dtype=values.dtype)  # B's shape is checked later
    values, indices, _ = _validate(values, indices, pat.n, pat.m, no_columns)
    if values.dtype != np.int8:
        raise InputError(f"pack takes int8 values (the VNNI operand), got {values.dtype}")
    vals = np.ascontiguousarray(values)
    idx = np.ascontiguousarray(indices, dtype=np.uint8)
    if _routed(pat.n, pat.m):
        return vnni_sparse.pack_sparse(vals, idx, pat.n, pat.m)
    return (vals, idx, pat)


def spmac_packed(packed, b):
    """``C = A . B`` (int32, wrap-around) for ``packed = pack(values, indices, pattern)``
    and int8 ``B`` (K x N)."""
    if isinstance(packed, vnni_sparse.SparsePanel):
        bb = as_matrix(b, "B")
        if bb.dtype != np.int8:
            raise InputError(f"B must be int8 to match the packed int8 A, got {bb.dtype}")
        if bb.shape[0] != packed.k:
            raise InputError(f"B has {bb.shape[0]} rows; the compressed A spans K = {packed.k}")
        return vnni_sparse.sparse_times_dense(packed, np.ascontiguousarray(bb))
    if not (isinstance(packed, tuple) and len(packed) == 3):
        raise InputError("packed must come from sparsesim.kernels.spmac.pack")
    vals, idx, pat = packed
    return spmac(vals, idx, b, f"{pat.n}:{pat.m}")


def spmac_reference(values, indices, b, n, m):
    """Plain-Python oracle: decompress-free, Python ints (then wrap) or float32 steps."""
    rows, kept = values.shape
    out_int = values.dtype == np.int8
    out = np.zeros((rows, b.shape[1]), dtype=np.int32 if out_int else np.float32)
    for r in range(rows):
        for c in range(b.shape[1]):
            if out_int:
                total = 0
                for s in range(kept):
                    p = (s // n) * m + int(indices[r, s])
                    total += int(values[r, s]) * int(b[p, c])
                total = (total + 2**31) % 2**32 - 2**31
                out[r, c] = total
            else:
                acc = np.float32(0)
                for s in range(kept):
                    p = (s // n) * m + int(indices[r, s])
                    acc = np.float32(acc + np.float32(values[r, s]) * np.float32(b[p, c]))
                out[r, c] = acc
    return out
