"""AVX512_VNNI / AVX-VNNI dot-product instructions, emulated lane by lane.

``VPDPBUSD``  for each dword lane: four u8 x s8 products (bytes 4i..4i+3 of the
              unsigned and the signed source) are added to the s32 accumulator;
              the result keeps the low 32 bits (wrap-around).
``VPDPBUSDS`` the same sum, saturated to s32 instead of wrapped.

Second-generation Xeon Scalable (Cascade Lake) and later do in one instruction what
:mod:`sparsesim.isa.avx512` needs three for, and with no s16 intermediate, so no
saturation short of the s32 accumulator.  The 256-bit forms (``VEX.256`` AVX-VNNI
and ``EVEX.256`` AVX512_VNNI+VL) have identical per-lane semantics; pass 32 bytes /
8 dwords per register.

Operands follow the intrinsic order ``_mm512_dpbusd_epi32(acc, a, b)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._regs import as_rows, check_register, same_registers
from .avx512 import saturate_s32, wrap_s32


@njit(cache=True, inline="always")
def _dot4(a, b, r, i):
    s = np.int64(0)
    for q in range(4):
        s += np.int64(a[r, 4 * i + q]) * np.int64(b[r, 4 * i + q])
    return s


@njit(cache=True)
def _vpdpbusd_kernel(acc, a, b, out):
    regs, dwords = out.shape
    for r in range(regs):
        for i in range(dwords):
            out[r, i] = wrap_s32(np.int64(acc[r, i]) + _dot4(a, b, r, i))


@njit(cache=True)
def _vpdpbusds_kernel(acc, a, b, out):
    regs, dwords = out.shape
    for r in range(regs):
        for i in range(dwords):
            out[r, i] = saturate_s32(np.int64(acc[r, i]) + _dot4(a, b, r, i))


def _operands(acc_s32, a_u8, b_s8):
    acc = check_register(acc_s32, "acc_s32", np.int32, 32)
    a = check_register(a_u8, "a_u8", np.uint8, 8)
    b = check_register(b_s8, "b_s8", np.int8, 8)
    same_registers(("acc_s32", acc, 32), ("a_u8", a, 8), ("b_s8", b, 8))
    return acc, a, b


def vpdpbusd(acc_s32: np.ndarray, a_u8: np.ndarray, b_s8: np.ndarray) -> np.ndarray:
    """VPDPBUSD: acc + sum of four u8 x s8 products per dword, wrap-around.

    ``acc_s32`` int32 ``(..., 16)``, ``a_u8`` uint8 ``(..., 64)``, ``b_s8`` int8
    ``(..., 64)`` (256-bit form: 8 / 32 / 32). Returns a new int32 array.
    """
    acc, a, b = _operands(acc_s32, a_u8, b_s8)
    out = np.empty(acc.shape, dtype=np.int32)
    if out.size:
        _vpdpbusd_kernel(as_rows(acc), as_rows(a), as_rows(b), as_rows(out))
    return out


def vpdpbusds(acc_s32: np.ndarray, a_u8: np.ndarray, b_s8: np.ndarray) -> np.ndarray:
    """VPDPBUSDS: as :func:`vpdpbusd` but the s32 result saturates instead of wrapping."""
    acc, a, b = _operands(acc_s32, a_u8, b_s8)
    out = np.empty(acc.shape, dtype=np.int32)
    if out.size:
        _vpdpbusds_kernel(as_rows(acc), as_rows(a), as_rows(b), as_rows(out))
    return out
