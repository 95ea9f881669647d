"""Plain-integer reference for :mod:`sparsesim.kernels.int8_gemm`.

Whole-matrix numpy arithmetic in int64 on the natural ``A[M x K] @ W[K x N]``
layout (no register packing), written from the instruction definitions:

* ``"vnni"``   exact product, then the low 32 bits (VPDPBUSD wraps, and wrapping
               commutes with the sum);
* ``"avx512"`` adjacent-k products ``(2p, 2p+1)`` summed and clipped to s16 (the
               VPMADDUBSW word), those words summed exactly, low 32 bits;
* ``"vnnis"``  a running s32 sum, clipped at every group of 4 k (VPDPBUSDS).

Small and slow; for tests only.
"""

from __future__ import annotations

import numpy as np


def _wrap32(x: np.ndarray) -> np.ndarray:
    return (x.astype(np.int64) & 0xFFFFFFFF).astype(np.uint32).view(np.int32)


def _pad_k(a: np.ndarray, w: np.ndarray, mult: int):
    k = a.shape[1]
    kp = -(-k // mult) * mult
    a64 = np.zeros((a.shape[0], kp), np.int64)
    a64[:, :k] = a
    w64 = np.zeros((kp, w.shape[1]), np.int64)
    w64[:k] = w
    return a64, w64


def ref_int8_gemm(a_u8: np.ndarray, w_s8: np.ndarray, path: str = "vnni") -> np.ndarray:
    a, w = _pad_k(a_u8, w_s8, 4)
    m, kp = a.shape
    n = w.shape[1]
    if path == "vnni":
        return _wrap32(a @ w)
    if path == "avx512":
        total = np.zeros((m, n), np.int64)
        for p in range(kp // 2):
            word = np.outer(a[:, 2 * p], w[2 * p]) + np.outer(a[:, 2 * p + 1], w[2 * p + 1])
            total += np.clip(word, -32768, 32767)
        return _wrap32(total)
    if path == "vnnis":
        acc = np.zeros((m, n), np.int64)
        for g in range(kp // 4):
            acc = np.clip(acc + a[:, 4 * g : 4 * g + 4] @ w[4 * g : 4 * g + 4], -(2**31), 2**31 - 1)
        return acc.astype(np.int32)
    raise ValueError(path)


def ref_scatter_24(values: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Rebuild ``W[K x N]`` from 2:4 ``(values, indices)`` of shape ``(N, K/2)``."""
    n, kept = values.shape
    wt = np.zeros((n, kept * 2), dtype=values.dtype)
    group_base = (np.arange(kept) // 2) * 4
    rows = np.repeat(np.arange(n), kept)
    cols = (group_base[None, :] + indices.astype(np.int64)).ravel()
    wt[rows, cols] = values.ravel()
    return wt.T.copy()
