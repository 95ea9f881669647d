"""Independent references: plain Python / numpy restatements of the formats and kernels,
written from their definitions (docs and module docstrings), not from the kernels."""

from __future__ import annotations

import re
from itertools import combinations
from math import comb

import numpy as np

# ------------------------------------------------------------------ pattern specs
_NM = re.compile(r"([0-9]+):([0-9]+)", re.ASCII)
_DENS = re.compile(r"([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)


def pattern_ref(spec):
    """``("dense",)``, ``("nm", n, m)``, ``("unstructured", density or None)`` or None (invalid)."""
    if not isinstance(spec, str):
        return None
    s = spec.strip().lower()
    if s == "dense":
        return ("dense",)
    if s in ("unstructured", "unstructured:csr", "unstructured:csb", "unstructured:bitmask"):
        return ("unstructured", None)
    if s.startswith("unstructured:"):
        d = s[len("unstructured:"):]
        if not _DENS.fullmatch(d):
            return None
        v = float(d)
        return ("unstructured", v) if 0.0 < v <= 1.0 else None
    mt = _NM.fullmatch(s)
    if not mt:
        return None
    n, m = int(mt.group(1)), int(mt.group(2))
    if not (0 < n < m and m <= 16 and m & (m - 1) == 0):
        return None
    return ("nm", n, m)


# ------------------------------------------------------------------ N:M prune / compress
def _mag(x, kind):
    if kind in "iu":
        return abs(int(x))
    return abs(float(x))


def compress_ref(w, n, m, pad=False):
    """``(values, indices)`` or raises ValueError for non-finite input / K % M without pad."""
    rows, k = w.shape
    kp = -(-k // m) * m
    if kp != k and not pad:
        raise ValueError("K not a multiple of M")
    wp = np.zeros((rows, kp), dtype=w.dtype)
    wp[:, :k] = w
    kind = w.dtype.kind
    vals = np.zeros((rows, kp // m * n), dtype=w.dtype)
    idx = np.zeros((rows, kp // m * n), dtype=np.uint8)
    for r in range(rows):
        for g in range(kp // m):
            grp = [wp[r, g * m + i] for i in range(m)]
            mags = [_mag(x, kind) for x in grp]
            if kind == "f" and not all(np.isfinite(x) for x in mags):
                raise ValueError("non-finite")
            keep = sorted(sorted(range(m), key=lambda i: (-mags[i], i))[:n])
            for j, i in enumerate(keep):
                vals[r, g * n + j] = grp[i]
                idx[r, g * n + j] = i
    return vals, idx


def scatter_ref(vals, idx, n, m, k=None):
    rows, kept = vals.shape
    out = np.zeros((rows, kept // n * m), dtype=vals.dtype)
    for r in range(rows):
        for s in range(kept):
            out[r, (s // n) * m + int(idx[r, s])] = vals[r, s]
    return out if k is None else out[:, :k]


def prune_ref(w, n, m, pad=False):
    v, i = compress_ref(w, n, m, pad)
    return scatter_ref(v, i, n, m, w.shape[1])


def indices_valid(idx, n, m):
    a = np.asarray(idx).astype(np.int64) if np.asarray(idx).dtype.kind in "iu" else None
    if a is None:
        return False
    if a.size == 0:
        return True
    g = a.reshape(a.shape[0], -1, n)
    if ((g < 0) | (g >= m)).any():
        return False
    return bool((g[:, :, 1:] > g[:, :, :-1]).all()) if n > 1 else True


# ------------------------------------------------------------------ metadata
def field_bits(n, m, enc):
    if enc == "index":
        return n, (m - 1).bit_length()
    if enc == "combinatorial":
        return 1, (comb(m, n) - 1).bit_length()
    return 1, m


def _codes(n, m):
    out = {}
    for sub in combinations(range(m), n):
        out[sum(comb(p, j + 1) for j, p in enumerate(sub))] = sub
    return out


def encode_ref(idx, n, m, enc):
    f, width = field_bits(n, m, enc)
    rows, kept = idx.shape
    groups = kept // n
    nbytes = (groups * f * width + 7) // 8
    out = np.zeros((rows, nbytes), dtype=np.uint8)
    for r in range(rows):
        stream, pos = 0, 0
        for g in range(groups):
            sel = [int(x) for x in idx[r, g * n:(g + 1) * n]]
            if enc == "index":
                fields = sel
            elif enc == "combinatorial":
                fields = [sum(comb(p, j + 1) for j, p in enumerate(sel))]
            else:
                fields = [sum(1 << p for p in sel)]
            for v in fields:
                stream |= v << pos
                pos += width
        for b in range(nbytes):
            out[r, b] = (stream >> (8 * b)) & 0xFF
    return out


def decode_ref(packed, n, m, groups, enc):
    """Indices, or None when any field is not a valid code or a padding bit is set."""
    f, width = field_bits(n, m, enc)
    rows = packed.shape[0]
    need = (groups * f * width + 7) // 8
    if packed.shape[1] != need:
        return None
    codes = _codes(n, m) if enc == "combinatorial" else None
    out = np.zeros((rows, groups * n), dtype=np.uint8)
    used = groups * f * width
    for r in range(rows):
        stream = int.from_bytes(bytes(packed[r].tolist()), "little")
        if stream >> used:
            return None  # a padding bit is set
        for g in range(groups):
            fields = [(stream >> ((g * f + j) * width)) & ((1 << width) - 1) for j in range(f)]
            if enc == "index":
                sel = fields
                if any(b <= a for a, b in zip(sel, sel[1:])) or any(x >= m for x in sel):
                    return None
            elif enc == "combinatorial":
                if fields[0] not in codes:
                    return None
                sel = list(codes[fields[0]])
            else:
                sel = [p for p in range(m) if fields[0] >> p & 1]
                if len(sel) != n:
                    return None
            out[r, g * n:(g + 1) * n] = sel
    return out


# ------------------------------------------------------------------ unstructured formats
def nz_mask(w):
    return np.asarray(w) != 0


def csr_ref(w):
    import scipy.sparse as sp

    s = sp.csr_matrix(nz_mask(w).astype(np.int8))
    s.sort_indices()
    rows = np.repeat(np.arange(w.shape[0]), np.diff(s.indptr))
    return w[rows, s.indices], s.indices.astype(np.int64), s.indptr.astype(np.int64)


def csb_ref(w, block):
    rows, cols = w.shape
    br, bc = -(-rows // block), -(-cols // block)
    vals, ri, ci, ptr = [], [], [], [0]
    for b in range(br * bc):
        r0, c0 = (b // bc) * block, (b % bc) * block
        for r in range(r0, min(r0 + block, rows)):
            for c in range(c0, min(c0 + block, cols)):
                if w[r, c] != 0:
                    vals.append(w[r, c])
                    ri.append(r - r0)
                    ci.append(c - c0)
        ptr.append(len(vals))
    return np.array(vals, dtype=w.dtype), np.array(ri, dtype=np.int64), np.array(ci, dtype=np.int64), \
        np.array(ptr, dtype=np.int64)


def bitmask_ref(w):
    flat = nz_mask(w).ravel()
    out = bytearray((flat.size + 7) // 8)
    for i, bit in enumerate(flat):
        if bit:
            out[i // 8] |= 1 << (i % 8)
    return w.ravel()[flat], np.frombuffer(bytes(out), dtype=np.uint8)


def _nb(count, bits):
    return (count * bits + 7) // 8


def _width(default, index_bits):
    return default if index_bits is None else index_bits


def csr_nbytes_ref(rows, cols, nnz, item, index_bits=None):
    cb = _width(max(1, (cols - 1).bit_length()), index_bits)
    pb = _width(max(1, nnz.bit_length()), index_bits)
    meta = _nb(nnz, cb) + _nb(rows + 1, pb)
    return nnz * item, meta


def csb_nbytes_ref(rows, cols, nnz, item, block, index_bits=None):
    block = int(block)
    nblocks = -(-rows // block) * -(-cols // block)
    ib = _width(max(1, (block - 1).bit_length()), index_bits)
    pb = _width(max(1, nnz.bit_length()), index_bits)
    return nnz * item, 2 * _nb(nnz, ib) + _nb(nblocks + 1, pb)


def bitmask_nbytes_ref(rows, cols, nnz, item):
    return nnz * item, _nb(rows * cols, 1)


ITEM = {"int8": 1, "uint8": 1, "fp8": 1, "fp16": 2, "bf16": 2, "fp32": 4, "int32": 4}


def traffic_ref(m, k, item, pat, enc, density, block=64, index_bits=None, pad=False):
    """(values, metadata, nnz, format) or None when the arguments do not describe a layout."""
    m, k = int(m), int(k)
    dense = m * k * item
    if pat[0] == "dense":
        return (dense, 0, m * k, "dense") if enc in (None, "dense") else None
    if pat[0] == "nm":
        _, n, mm = pat
        enc = "index" if enc is None else enc
        if enc not in ("index", "combinatorial", "bitmask"):
            return None
        if k % mm and not pad:
            return None
        groups = -(-k // mm)
        f, w = field_bits(n, mm, enc)
        return m * groups * n * item, m * _nb(groups * f * w, 1), m * groups * n, f"{n}:{mm}"
    d = density if density is not None else pat[1]
    fmt = "csr" if enc is None else enc
    nnz = int(round(d * m * k))
    if fmt == "csr":
        default = (max(1, (k - 1).bit_length()), max(1, nnz.bit_length()))
        if index_bits is not None and index_bits < max(default):
            return None
        v, meta = csr_nbytes_ref(m, k, nnz, item, index_bits)
    elif fmt == "csb":
        block = int(block)
        default = (max(1, (block - 1).bit_length()), max(1, nnz.bit_length()))
        if index_bits is not None and index_bits < max(default):
            return None
        v, meta = csb_nbytes_ref(m, k, nnz, item, block, index_bits)
    elif fmt == "bitmask":
        v, meta = bitmask_nbytes_ref(m, k, nnz, item)
    else:
        return None
    return v, meta, nnz, fmt


# ------------------------------------------------------------------ arithmetic
def wrap32(x):
    x = np.asarray(x, dtype=object) if not isinstance(x, np.ndarray) else x
    return ((np.asarray(x).astype(np.int64) + 2**31) % 2**32 - 2**31).astype(np.int32)


def spmac_ref(vals, idx, b, n, m):
    rows, kept = vals.shape
    if vals.dtype == np.int8:
        a = scatter_ref(vals, idx, n, m).astype(np.int64)
        return wrap32(a @ b.astype(np.int64))
    out = np.zeros((rows, b.shape[1]), dtype=np.float32)
    with np.errstate(all="ignore"):
        for r in range(rows):
            acc = np.zeros(b.shape[1], dtype=np.float32)
            for s in range(kept):
                p = (s // n) * m + int(idx[r, s])
                acc = (acc + np.float32(vals[r, s]) * b[p].astype(np.float32)).astype(np.float32)
            out[r] = acc
    return out


def int8_gemm_ref(a, w, path, bias=None):
    """u8 x s8 -> s32 along ``path`` from the instruction definitions (K padded to 4)."""
    k = a.shape[1]
    kp = -(-k // 4) * 4
    A = np.zeros((a.shape[0], kp), np.int64)
    A[:, :k] = a
    W = np.zeros((kp, w.shape[1]), np.int64)
    W[:k] = w
    if path == "vnni":
        out = A @ W
    elif path == "avx512":
        out = np.zeros((a.shape[0], w.shape[1]), np.int64)
        for p in range(kp // 2):
            pair = np.outer(A[:, 2 * p], W[2 * p]) + np.outer(A[:, 2 * p + 1], W[2 * p + 1])
            out += np.clip(pair, -32768, 32767)
    else:
        out = np.zeros((a.shape[0], w.shape[1]), np.int64)
        for g in range(kp // 4):
            out = np.clip(out + A[:, 4 * g:4 * g + 4] @ W[4 * g:4 * g + 4], -(2**31), 2**31 - 1)
        return wrap32(out) if bias is None else wrap32(out.astype(np.int64) + bias)
    out = wrap32(out)
    return out if bias is None else wrap32(out.astype(np.int64) + bias)


def isa_ref(op, *regs):
    x = [np.asarray(r).astype(np.int64) for r in regs]
    if op == "vpmaddubsw":
        a, b = x
        return np.clip(a[..., 0::2] * b[..., 0::2] + a[..., 1::2] * b[..., 1::2], -32768, 32767).astype(np.int16)
    if op == "vpmaddwd":
        a, b = x
        return wrap32(a[..., 0::2] * b[..., 0::2] + a[..., 1::2] * b[..., 1::2])
    if op == "vpaddd":
        return wrap32(x[0] + x[1])
    acc, a, b = x
    s = acc + (a * b).reshape(a.shape[:-1] + (a.shape[-1] // 4, 4)).sum(-1)
    return wrap32(s) if op == "vpdpbusd" else np.clip(s, -(2**31), 2**31 - 1).astype(np.int32)
