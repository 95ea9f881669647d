"""Plain numpy transcriptions of the SDM operation pseudo-code.

Written independently of the Numba kernels (whole-array int64 arithmetic, no
loops) so each can be tested against the other; both are tested against the real
instructions in the test-suite.  No input checking: callers pass well-formed
arrays (last axis = lanes).
"""

from __future__ import annotations

import numpy as np

_MASK32 = np.int64(0xFFFFFFFF)


def _wrap32(x: np.ndarray) -> np.ndarray:
    u = x.astype(np.int64) & _MASK32
    return np.where(u >= 2**31, u - 2**32, u).astype(np.int32)


def _pair_products(a, b, group: int) -> np.ndarray:
    prod = a.astype(np.int64) * b.astype(np.int64)
    return prod.reshape(prod.shape[:-1] + (prod.shape[-1] // group, group)).sum(axis=-1)


def ref_vpmaddubsw(a_u8, b_s8) -> np.ndarray:
    return np.clip(_pair_products(a_u8, b_s8, 2), -32768, 32767).astype(np.int16)


def ref_vpmaddwd(a_s16, b_s16) -> np.ndarray:
    return _wrap32(_pair_products(a_s16, b_s16, 2))


def ref_vpaddd(a_s32, b_s32) -> np.ndarray:
    return _wrap32(a_s32.astype(np.int64) + b_s32.astype(np.int64))


def ref_vpdpbusd(acc_s32, a_u8, b_s8) -> np.ndarray:
    return _wrap32(acc_s32.astype(np.int64) + _pair_products(a_u8, b_s8, 4))


def ref_vpdpbusds(acc_s32, a_u8, b_s8) -> np.ndarray:
    s = acc_s32.astype(np.int64) + _pair_products(a_u8, b_s8, 4)
    return np.clip(s, -(2**31), 2**31 - 1).astype(np.int32)
