"""N:M sparse int8 products on VPSHUFB + VPDPBUSD, the rows of the sparse operand in the lanes.

``C = S . X`` with ``S`` N:M-sparse along K (``values``, ``indices`` as
:func:`sparsesim.formats.compress` returns them) and ``X`` dense.  Each 32-bit lane of
a VPDPBUSD holds four kept values of one row of ``S``: one *step* covers ``4/N``
groups, i.e. ``W = 4*M/N`` positions of K (8 for 2:4 and 4:8, 16 for 1:4).  Once
ahead, the sparse operand is interleaved into 16-row blocks (:func:`pack_sparse`):
per step 64 value bytes and 64 VPSHUFB control bytes, each control byte the
position of its kept value among the step's W activations (``group*M + index``:
the decoded metadata).  Per step and activation column the W activation bytes are
broadcast, VPSHUFB routes to each lane the four it needs (the multiplexer) and
VPDPBUSD multiplies them into the lane's accumulator; only kept values are
multiplied, so a 2:4 operand needs half the VPDPBUSDs of the dense product.

VPDPBUSD multiplies unsigned by signed bytes; the kept values are the signed
operand.  Signed activations are shifted to ``x + 128`` (unsigned) and the exact
correction ``128 * sum(kept values of the row)`` subtracted afterwards; every step
is addition modulo 2**32, so the result equals the exact product wrapped to int32
bit for bit.  The tile itself is :func:`sparsesim.kernels.simd.sparse_tile`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from .simd import SPARSE_MR, sparse_tile

KEPT_PER_LANE = 4  # bytes of one VPDPBUSD dword lane
ROWS_PER_BLOCK = 16  # dword lanes of a 512-bit register
TASK_BYTES = 512 * 1024  # packed sparse rows one task keeps in L2 while all columns stream past


def routable(n: int, m: int) -> bool:
    """True when a step of 4 kept values spans at most 16 positions (one VPSHUFB lane)."""
    return KEPT_PER_LANE % n == 0 and (KEPT_PER_LANE // n) * m <= 16


def step_width(n: int, m: int) -> int:
    """Activation bytes broadcast per step: 8 (a qword) or 16 (a 128-bit lane)."""
    return 8 if (KEPT_PER_LANE // n) * m <= 8 else 16


@dataclass(frozen=True)
class SparsePanel:
    """The sparse operand interleaved for :func:`sparse_tile` (built once, reused)."""

    blocks: np.ndarray  # int8 (row blocks, steps, 128): 64 value bytes + 64 control bytes per step
    rowsum: np.ndarray  # int64 (rows,): sum of each row's kept values (the +128 correction)
    rows: int
    k: int  # dense K the operand spans (groups * M)
    n: int
    m: int

    @property
    def steps(self) -> int:
        return self.blocks.shape[1]

    @property
    def width(self) -> int:
        return step_width(self.n, self.m)


@njit(parallel=True, cache=True)
def _pack_blocks(vals, idx, n, m, blocks, rowsum):
    """Lane j of block ``rb`` = row ``16*rb + j``; kept slot ``q`` of step ``t`` is kept
    value ``4t + q``, routed from position ``(q // n) * m + idx`` of the step."""
    rows, kept = vals.shape
    nblocks, steps = blocks.shape[0], blocks.shape[1]
    for rb in prange(nblocks):
        for j in range(16):
            r = rb * 16 + j
            total = np.int64(0)
            for t in range(steps):
                for q in range(4):
                    s = 4 * t + q
                    if r < rows and s < kept:
                        v = vals[r, s]
                        total += v
                        blocks[rb, t, 4 * j + q] = v
                        blocks[rb, t, 64 + 4 * j + q] = np.int8((q // n) * m + np.int64(idx[r, s]))
                    else:
                        blocks[rb, t, 4 * j + q] = 0
                        blocks[rb, t, 64 + 4 * j + q] = np.int8(-128)  # VPSHUFB: zero
            if r < rows:
                rowsum[r] = total


@njit(parallel=True, cache=True)
def _pack_blocks32(vals32, idx32, offsets, blocks32, rowsum):
    """:func:`_pack_blocks` on whole lanes (4 kept bytes = one uint32) when the kept count
    is a multiple of 4: a control word is the index word plus each slot's group offset."""
    rows, steps = vals32.shape
    nblocks = blocks32.shape[0]
    for rb in prange(nblocks):
        for j in range(16):
            r = rb * 16 + j
            if r >= rows:
                for t in range(steps):
                    blocks32[rb, t, j] = 0
                    blocks32[rb, t, 16 + j] = np.uint32(0x80808080)  # VPSHUFB: zero
                continue
            total = np.int64(0)
            for t in range(steps):
                w = vals32[r, t]
                blocks32[rb, t, j] = w
                blocks32[rb, t, 16 + j] = idx32[r, t] + offsets
                for q in range(4):
                    total += np.int64(np.int8(np.uint8((w >> np.uint32(8 * q)) & np.uint32(0xFF))))
            rowsum[r] = total


def pack_sparse(values: np.ndarray, indices: np.ndarray, n: int, m: int) -> SparsePanel:
    """Interleave a compressed N:M operand (int8 ``values``, ``indices``; validated by the
    caller) into 16-row blocks of value and VPSHUFB-control registers."""
    rows, kept = values.shape
    steps = -(-kept // KEPT_PER_LANE)
    blocks = np.empty((-(-rows // ROWS_PER_BLOCK), steps, 128), dtype=np.int8)
    rowsum = np.zeros(rows, dtype=np.int64)
    vals = np.ascontiguousarray(values)
    idx = np.ascontiguousarray(indices, dtype=np.uint8)
    if blocks.size and kept % KEPT_PER_LANE == 0:
        offsets = sum(((q // n) * m) << (8 * q) for q in range(KEPT_PER_LANE))
        _pack_blocks32(vals.view(np.uint32), idx.view(np.uint32), np.uint32(offsets), blocks.view(np.uint32),
                       rowsum)
    elif blocks.size:
        _pack_blocks(vals, idx, n, m, blocks, rowsum)
    return SparsePanel(blocks=blocks, rowsum=rowsum, rows=rows, k=kept // n * m, n=n, m=m)


# ---------------------------------------------------------------- activation panels
@njit(inline="always")
def _transpose8x8(x0, x1, x2, x3, x4, x5, x6, x7):
    """8 x 8 byte transpose of eight little-endian uint64 rows (block swaps 4, 2, 1)."""
    m32 = np.uint64(0x00000000FFFFFFFF)
    m16 = np.uint64(0x0000FFFF0000FFFF)
    m8 = np.uint64(0x00FF00FF00FF00FF)
    s32, s16, s8 = np.uint64(32), np.uint64(16), np.uint64(8)
    t = ((x0 >> s32) ^ x4) & m32; x0 ^= t << s32; x4 ^= t
    t = ((x1 >> s32) ^ x5) & m32; x1 ^= t << s32; x5 ^= t
    t = ((x2 >> s32) ^ x6) & m32; x2 ^= t << s32; x6 ^= t
    t = ((x3 >> s32) ^ x7) & m32; x3 ^= t << s32; x7 ^= t
    t = ((x0 >> s16) ^ x2) & m16; x0 ^= t << s16; x2 ^= t
    t = ((x1 >> s16) ^ x3) & m16; x1 ^= t << s16; x3 ^= t
    t = ((x4 >> s16) ^ x6) & m16; x4 ^= t << s16; x6 ^= t
    t = ((x5 >> s16) ^ x7) & m16; x5 ^= t << s16; x7 ^= t
    t = ((x0 >> s8) ^ x1) & m8; x0 ^= t << s8; x1 ^= t
    t = ((x2 >> s8) ^ x3) & m8; x2 ^= t << s8; x3 ^= t
    t = ((x4 >> s8) ^ x5) & m8; x4 ^= t << s8; x5 ^= t
    t = ((x6 >> s8) ^ x7) & m8; x6 ^= t << s8; x7 ^= t
    return x0, x1, x2, x3, x4, x5, x6, x7


@njit(parallel=True, cache=True)
def _pack_columns64(x64, flip, out):
    """``x64``: the K x N activations as uint64 words (8 columns each); ``out`` (groups,
    steps, MR, words per step) uint64: column c's 8 bytes of k-block kb, XOR ``flip``."""
    kblocks = x64.shape[0] // 8
    words = x64.shape[1]
    per_step = out.shape[3]
    half = SPARSE_MR // 8  # words of columns per group
    for kb in prange(kblocks):
        r = kb * 8
        t = kb // per_step
        h = kb - t * per_step
        for cw in range(words):
            y0, y1, y2, y3, y4, y5, y6, y7 = _transpose8x8(
                x64[r, cw], x64[r + 1, cw], x64[r + 2, cw], x64[r + 3, cw],
                x64[r + 4, cw], x64[r + 5, cw], x64[r + 6, cw], x64[r + 7, cw])
            g = cw // half
            c = (cw - g * half) * 8
            out[g, t, c, h] = y0 ^ flip
            out[g, t, c + 1, h] = y1 ^ flip
            out[g, t, c + 2, h] = y2 ^ flip
            out[g, t, c + 3, h] = y3 ^ flip
            out[g, t, c + 4, h] = y4 ^ flip
            out[g, t, c + 5, h] = y5 ^ flip
            out[g, t, c + 6, h] = y6 ^ flip
            out[g, t, c + 7, h] = y7 ^ flip


@njit(parallel=True, cache=True)
def _pack_columns(x, flip, width, out):
    """Generic form: ``out[g, t, c, i] = x[t*width + i, g*MR + c] ^ flip`` (zero-padded)."""
    k, ncols = x.shape
    groups, steps, mr = out.shape[0], out.shape[1], out.shape[2]
    for g in prange(groups):
        for t in range(steps):
            for c in range(mr):
                col = g * mr + c
                for i in range(width):
                    kk = t * width + i
                    out[g, t, c, i] = (np.uint8(x[kk, col]) ^ flip) if (kk < k and col < ncols) else np.uint8(0)


def pack_columns(x: np.ndarray, steps: int, width: int, flip: int) -> np.ndarray:
    """Activations ``x`` (K x N, int8 or uint8) as the tile reads them: ``(N/MR, steps,
    MR, width)`` uint8, bytes XOR ``flip`` (0x80 turns s8 into the shifted u8)."""
    k, ncols = x.shape
    groups = -(-ncols // SPARSE_MR)
    out = np.empty((groups, steps, SPARSE_MR, width), dtype=np.uint8)
    if not out.size:
        return out
    if k == steps * width and ncols == groups * SPARSE_MR and x.flags.c_contiguous:
        _pack_columns64(x.view(np.uint64), np.uint64(flip * 0x0101010101010101), out.view(np.uint64))
    else:
        _pack_columns(x, np.uint8(flip), width, out)
    return out


@njit(parallel=True, cache=True)
def _pack_rows(x, width, out):
    """``out[g, t, c, i] = x[g*MR + c, t*width + i]`` (zero-padded)."""
    nrows, k = x.shape
    groups, steps, mr = out.shape[0], out.shape[1], out.shape[2]
    for g in prange(groups):
        for t in range(steps):
            for c in range(mr):
                row = g * mr + c
                for i in range(width):
                    kk = t * width + i
                    out[g, t, c, i] = x[row, kk] if (row < nrows and kk < k) else np.uint8(0)


@njit(parallel=True, cache=True)
def _pack_rows64(x64, out64):
    """Word form of :func:`_pack_rows`: ``out64[g, t, c, h] = x64[g*MR + c, t*W + h]``."""
    nrows = x64.shape[0]
    groups, steps, mr, per_step = out64.shape
    for g in prange(groups):
        for t in range(steps):
            for c in range(mr):
                row = g * mr + c
                for h in range(per_step):
                    out64[g, t, c, h] = x64[row, t * per_step + h] if row < nrows else np.uint64(0)


def pack_rows(x_u8: np.ndarray, steps: int, width: int) -> np.ndarray:
    """Unsigned activations given row-wise (M x K: one row per output row of
    ``C = X . S^T``) as the tile reads them: ``(M/MR, steps, MR, width)``."""
    nrows, k = x_u8.shape
    out = np.empty((-(-nrows // SPARSE_MR), steps, SPARSE_MR, width), dtype=np.uint8)
    if out.size and k == steps * width and x_u8.flags.c_contiguous:
        _pack_rows64(x_u8.view(np.uint64), out.view(np.uint64))
    elif out.size:
        _pack_rows(x_u8, width, out)
    return out


# ---------------------------------------------------------------- products
@njit(parallel=True, cache=True)
def _products(blocks, xp, path, blocks_per_task, col_chunks, transposed, correction, out):
    """All (16-row block x MR-column group) tiles, the row blocks of one task kept in L2
    while every column group of its column chunk streams past.  ``path``: 1 VPDPBUSD,
    0 VPMADDUBSW + VPMADDWD + VPADDD (see :func:`sparse_tile`).

    ``transposed``: tile lane j (row 16rb + j), column g*MR + c goes to
    ``out[16rb + j, g*MR + c] - correction[16rb + j]``; else to ``out[g*MR + c, 16rb + j]``
    (``correction`` has one entry per lane of every block: rows padded to 16).
    Whole tiles are stored by the tile itself; edge tiles go through a scratch tile.
    """
    nblocks, steps = blocks.shape[0], blocks.shape[1]
    groups, width = xp.shape[0], xp.shape[3]
    rows_out = out.shape[0] if transposed else out.shape[1]
    cols_out = out.shape[1] if transposed else out.shape[0]
    ldc = out.shape[1]
    bf = blocks.ravel()
    xf = xp.ravel()
    cf = out.ravel()
    row_tasks = -(-nblocks // blocks_per_task)
    gchunk = -(-groups // col_chunks)
    for task in prange(row_tasks * col_chunks):
        rt = task // col_chunks
        g0 = (task % col_chunks) * gchunk
        tile = np.empty(16 * SPARSE_MR, dtype=np.int32)
        for g in range(g0, min(groups, g0 + gchunk)):
            for rb in range(rt * blocks_per_task, min(nblocks, (rt + 1) * blocks_per_task)):
                a0 = rb * steps * 128
                x0 = g * steps * SPARSE_MR * width
                nr = min(16, rows_out - rb * 16)
                nc = min(SPARSE_MR, cols_out - g * SPARSE_MR)
                whole = nr == 16 and nc == SPARSE_MR
                if whole:
                    dst, d0, ld = cf, (rb * 16 * ldc + g * SPARSE_MR if transposed else g * SPARSE_MR * ldc + rb * 16), ldc
                else:
                    dst, d0, ld = tile, 0, 16
                if transposed:
                    _tile_rows(width, path, bf, a0, xf, x0, dst, d0, ld, steps, correction, rb * 16)
                else:
                    _tile_columns(width, path, bf, a0, xf, x0, dst, d0, ld, steps, correction, rb * 16)
                if not whole:
                    for i in range(nr if transposed else nc):
                        for q in range(nc if transposed else nr):
                            if transposed:
                                out[rb * 16 + i, g * SPARSE_MR + q] = tile[i * 16 + q]
                            else:
                                out[g * SPARSE_MR + i, rb * 16 + q] = tile[i * 16 + q]


@njit(inline="always")
def _tile_rows(width, path, bf, a0, xf, x0, dst, d0, ld, steps, fix, fix0):
    if path == 1:
        if width == 8:
            sparse_tile(8, 1, 1, bf, a0, xf, x0, dst, d0, ld, steps, fix, fix0)
        else:
            sparse_tile(16, 1, 1, bf, a0, xf, x0, dst, d0, ld, steps, fix, fix0)
    elif width == 8:
        sparse_tile(8, 0, 1, bf, a0, xf, x0, dst, d0, ld, steps, fix, fix0)
    else:
        sparse_tile(16, 0, 1, bf, a0, xf, x0, dst, d0, ld, steps, fix, fix0)


@njit(inline="always")
def _tile_columns(width, path, bf, a0, xf, x0, dst, d0, ld, steps, fix, fix0):
    if path == 1:
        if width == 8:
            sparse_tile(8, 1, 0, bf, a0, xf, x0, dst, d0, ld, steps, fix, fix0)
        else:
            sparse_tile(16, 1, 0, bf, a0, xf, x0, dst, d0, ld, steps, fix, fix0)
    elif width == 8:
        sparse_tile(8, 0, 0, bf, a0, xf, x0, dst, d0, ld, steps, fix, fix0)
    else:
        sparse_tile(16, 0, 0, bf, a0, xf, x0, dst, d0, ld, steps, fix, fix0)


def _schedule(panel: SparsePanel, groups: int) -> tuple[int, int]:
    """(row blocks per task, column chunks): a task's packed rows fit ``TASK_BYTES``; the
    columns are split too when there are fewer row tasks than twice the threads."""
    per_block = max(panel.steps * 128, 1)
    nblocks = panel.blocks.shape[0]
    threads = numba.get_num_threads()
    per_task = max(1, min(TASK_BYTES // per_block, -(-nblocks // (2 * threads))))
    row_tasks = -(-nblocks // per_task)
    chunks = max(1, min(groups, -(-2 * threads // row_tasks)))
    return per_task, chunks


def sparse_times_dense(panel: SparsePanel, x: np.ndarray, path: str = "vnni") -> np.ndarray:
    """``C = S . X`` (rows x N int32) for activations ``X`` (K x N): int8 (shifted to
    ``x + 128`` and corrected exactly) or uint8 (used as they are).

    ``path`` ``"vnni"``: VPDPBUSD, the exact product wrapped to int32.  ``"avx512"``:
    VPMADDUBSW + VPMADDWD + VPADDD on the routed bytes: each lane's kept slots (0, 1)
    and (2, 3) of a step form one s16 word that saturates, as the hardware does (with
    int8 activations the saturation acts on the shifted values).
    """
    ncols = x.shape[1]
    out = np.empty((panel.rows, ncols), dtype=np.int32)
    if not out.size:
        return out
    if panel.steps == 0:
        out[:] = 0
        return out
    signed = x.dtype == np.int8
    xp = pack_columns(np.ascontiguousarray(x), panel.steps, panel.width, 0x80 if signed else 0)
    correction = np.zeros(panel.blocks.shape[0] * 16, dtype=np.int64)
    if signed:
        correction[:panel.rows] = 128 * panel.rowsum
    per_task, chunks = _schedule(panel, xp.shape[0])
    with numba.parallel_chunksize(1):  # tasks go to whichever core is free (shared machines)
        _products(panel.blocks, xp, 1 if path == "vnni" else 0, per_task, chunks, True, correction, out)
    return out


def dense_times_sparse_t(x_u8: np.ndarray, panel: SparsePanel) -> np.ndarray:
    """``C = X . S^T`` (M x rows int32, wrapped) for unsigned ``X`` (M x K uint8): the
    weights-in-lanes GEMM of :func:`sparsesim.kernels.int8_gemm.sparse24_int8_gemm`."""
    out = np.empty((x_u8.shape[0], panel.rows), dtype=np.int32)
    if not out.size:
        return out
    if panel.steps == 0:
        out[:] = 0
        return out
    xp = pack_rows(np.ascontiguousarray(x_u8), panel.steps, panel.width)
    per_task, chunks = _schedule(panel, xp.shape[0])
    with numba.parallel_chunksize(1):
        _products(panel.blocks, xp, 1, per_task, chunks, False, np.zeros(panel.blocks.shape[0] * 16, np.int64), out)
    return out


@njit(parallel=True, cache=True)
def routed_pairs_portable(vals, idx, n, m, xu, correction, out):
    """Portable :func:`sparse_times_dense` with path ``"avx512"``: ``xu`` the unsigned
    (already shifted) activations, K x N; per row, kept slots ``2s`` and ``2s + 1``
    (the same word of a step's lane) are multiplied, summed and saturated to s16; the
    words add up modulo 2**32, then ``correction`` is subtracted."""
    rows, kept = vals.shape
    k, ncols = xu.shape
    for r in prange(rows):
        for c in range(ncols):
            acc = np.int64(0)
            for s in range(0, kept, 2):
                p0 = (s // n) * m + np.int64(idx[r, s])
                word = np.int64(vals[r, s]) * np.int64(xu[p0, c])
                if s + 1 < kept:
                    p1 = ((s + 1) // n) * m + np.int64(idx[r, s + 1])
                    word += np.int64(vals[r, s + 1]) * np.int64(xu[p1, c])
                acc += min(max(word, -32768), 32767)
            out[r, c] = np.int32(((acc - correction[r] + 2147483648) & 0xFFFFFFFF) - 2147483648)
