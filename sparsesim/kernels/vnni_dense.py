"""Dense int8 GEMM on the AVX-512 register tiles of :mod:`sparsesim.kernels.simd`.

``C[M x N] (s32) = A[M x K] (u8) . W[K x N] (s8)`` with ``W`` in the VNNI register
layout of :func:`sparsesim.kernels.int8_gemm.pack_weights` (``(N/16, K/4, 64)``: each
dword lane holds 4 consecutive k of one column).  The work is cut into tasks of
``ROW_BLOCK`` rows x one column panel (NR registers = 64 columns); inside a task the
K range is walked in blocks of ``K_BLOCK`` steps so that the weight panel of the block
(NR x 64 x K_BLOCK bytes) stays in L2 while the rows of A stream past, and each
register tile keeps its 16 accumulators in registers over the whole block.  Tasks are
spread over the cores.  Accumulation order along K is the sequential one of the
instruction loop, so VPDPBUSDS saturates exactly where a single-threaded loop would.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .simd import DENSE_MR, DENSE_NR, DENSE_PATHS, dense_tile

K_BLOCK = 1024  # 4-k steps per pass over a tile (4096 k)
ROW_BLOCK = 256  # rows of A per task


@njit(parallel=True, cache=True)
def _dense_products(a, wp, path, out):
    """``a`` (Mp, Kp) uint8 with Mp % MR == 0, ``wp`` (NBp, Kp/4, 64) with NBp % NR == 0,
    ``out`` (Mp, 16*NBp) int32; ``path`` indexes :data:`DENSE_PATHS`."""
    mp, kp = a.shape
    nb, kb = wp.shape[0], wp.shape[1]
    af = a.ravel()
    wf = wp.ravel()
    cf = out.ravel()
    ldc = out.shape[1]
    panels = nb // DENSE_NR
    row_blocks = -(-mp // ROW_BLOCK)
    for task in prange(panels * row_blocks):
        p = task % panels
        rb = task // panels
        for k0 in range(0, kb, K_BLOCK):
            steps = min(K_BLOCK, kb - k0)
            w0 = p * DENSE_NR * kb * 64 + k0 * 64
            for r in range(rb * ROW_BLOCK, min(mp, (rb + 1) * ROW_BLOCK), DENSE_MR):
                a0 = r * kp + 4 * k0
                c0 = r * ldc + p * DENSE_NR * 16
                if path == 1:
                    dense_tile(1, af, a0, kp, wf, w0, kb * 64, cf, c0, ldc, steps, k0 > 0)
                elif path == 0:
                    dense_tile(0, af, a0, kp, wf, w0, kb * 64, cf, c0, ldc, steps, k0 > 0)
                else:
                    dense_tile(2, af, a0, kp, wf, w0, kb * 64, cf, c0, ldc, steps, k0 > 0)


def dense_products(a_u8: np.ndarray, wp: np.ndarray, path: str) -> np.ndarray:
    """``A . W`` for ``a_u8`` (M, Kp) uint8 and packed ``wp`` (NB, Kp/4, 64) int8, both
    already validated (Kp = 4 * wp.shape[1]); returns (M, 16*NB) int32.

    Rows are padded to a multiple of MR and column registers to a multiple of NR with
    zeros when needed (copies; none for the usual multiples of 4 and 64).
    """
    m, kp = a_u8.shape
    nb = wp.shape[0]
    mp = -(-m // DENSE_MR) * DENSE_MR
    nbp = -(-nb // DENSE_NR) * DENSE_NR
    a = np.ascontiguousarray(a_u8)
    if mp != m:
        a = np.zeros((mp, kp), dtype=np.uint8)
        a[:m] = a_u8
    w = np.ascontiguousarray(wp)
    if nbp != nb:
        w = np.zeros((nbp,) + wp.shape[1:], dtype=np.int8)
        w[:nb] = wp
    out = np.empty((mp, 16 * nbp), dtype=np.int32)
    if kp == 0:
        out[:] = 0
    elif out.size:
        _dense_products(a, w, DENSE_PATHS.index(path), out)
    if mp != m or nbp != nb:
        out = np.ascontiguousarray(out[:m, : 16 * nb])
    return out
