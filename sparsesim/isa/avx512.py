"""AVX-512BW integer multiply-add instructions, emulated lane by lane.

The first-generation Xeon Scalable (Skylake-SP) int8 product needs three
instructions per 4 byte pairs:

``VPMADDUBSW``  u8 x s8 -> s16: multiply the bytes of the first source (unsigned)
                by the bytes of the second (signed), add adjacent products, and
                saturate the sum to a signed word.  The saturation is the one place
                where the three-instruction sequence loses information: 255*127*2 =
                64770 does not fit in s16.
``VPMADDWD``    s16 x s16 -> s32: multiply words, add adjacent products.  No
                saturation; the single overflowing case (all four words 0x8000,
                2 * 2**30 = 2**31) wraps to 0x80000000 as the SDM pseudo-code says.
``VPADDD``      s32 + s32 -> s32 with wrap-around.

Each public function takes numpy arrays whose last axis is the register's lanes
(512-bit: 64 bytes / 32 words / 16 dwords; 256-bit forms: half of that) and any
number of leading axes, one register per index.  The Numba kernels are small and
pure; :mod:`sparsesim.isa.reference` holds a plain numpy transcription of the same
SDM pseudo-code used to test them, and the test-suite checks both against the real
instructions executed on this CPU.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._regs import as_rows, check_register, same_registers

S16_MIN, S16_MAX = -32768, 32767
S32_MIN, S32_MAX = -(2**31), 2**31 - 1


@njit(cache=True, inline="always")
def wrap_s32(s):
    """Keep the low 32 bits of an int64 and read them as signed (two's complement)."""
    return ((s + 2147483648) & 0xFFFFFFFF) - 2147483648


@njit(cache=True, inline="always")
def saturate_s16(s):
    """SaturateToSignedWord: clamp to [-32768, 32767]."""
    if s > 32767:
        return 32767
    if s < -32768:
        return -32768
    return s


@njit(cache=True, inline="always")
def saturate_s32(s):
    """SIGNED_DWORD_SATURATE: clamp to [-2**31, 2**31 - 1]."""
    if s > 2147483647:
        return 2147483647
    if s < -2147483648:
        return -2147483648
    return s


@njit(cache=True)
def _vpmaddubsw_kernel(a, b, out):
    """out[r, i] = SAT16(a[r,2i]*b[r,2i] + a[r,2i+1]*b[r,2i+1]); a u8, b s8."""
    regs, words = out.shape
    for r in range(regs):
        for i in range(words):
            lo = np.int64(a[r, 2 * i]) * np.int64(b[r, 2 * i])
            hi = np.int64(a[r, 2 * i + 1]) * np.int64(b[r, 2 * i + 1])
            out[r, i] = saturate_s16(lo + hi)


@njit(cache=True)
def _vpmaddwd_kernel(a, b, out):
    """out[r, i] = a[r,2i]*b[r,2i] + a[r,2i+1]*b[r,2i+1], low 32 bits."""
    regs, dwords = out.shape
    for r in range(regs):
        for i in range(dwords):
            lo = np.int64(a[r, 2 * i]) * np.int64(b[r, 2 * i])
            hi = np.int64(a[r, 2 * i + 1]) * np.int64(b[r, 2 * i + 1])
            out[r, i] = wrap_s32(lo + hi)


@njit(cache=True)
def _vpaddd_kernel(a, b, out):
    regs, dwords = out.shape
    for r in range(regs):
        for i in range(dwords):
            out[r, i] = wrap_s32(np.int64(a[r, i]) + np.int64(b[r, i]))


def vpmaddubsw(a_u8: np.ndarray, b_s8: np.ndarray) -> np.ndarray:
    """VPMADDUBSW zmm/ymm: u8 x s8, adjacent pairs summed, saturated to s16.

    ``a_u8``: uint8 ``(..., 64)`` (or 32 for the 256-bit form), the unsigned first
    source; ``b_s8``: int8 of the same shape, the signed second source.
    Returns int16 ``(..., 32)`` (or 16).
    """
    a = check_register(a_u8, "a_u8", np.uint8, 8)
    b = check_register(b_s8, "b_s8", np.int8, 8)
    same_registers(("a_u8", a, 8), ("b_s8", b, 8))
    out = np.empty(a.shape[:-1] + (a.shape[-1] // 2,), dtype=np.int16)
    if out.size:
        _vpmaddubsw_kernel(as_rows(a), as_rows(b), as_rows(out))
    return out


def vpmaddwd(a_s16: np.ndarray, b_s16: np.ndarray) -> np.ndarray:
    """VPMADDWD zmm/ymm: s16 x s16, adjacent pairs summed into s32 (wraps only for
    the 0x8000*0x8000 + 0x8000*0x8000 pair).

    ``a_s16``, ``b_s16``: int16 ``(..., 32)`` (or 16). Returns int32 ``(..., 16)`` (or 8).
    """
    a = check_register(a_s16, "a_s16", np.int16, 16)
    b = check_register(b_s16, "b_s16", np.int16, 16)
    same_registers(("a_s16", a, 16), ("b_s16", b, 16))
    out = np.empty(a.shape[:-1] + (a.shape[-1] // 2,), dtype=np.int32)
    if out.size:
        _vpmaddwd_kernel(as_rows(a), as_rows(b), as_rows(out))
    return out


def vpaddd(a_s32: np.ndarray, b_s32: np.ndarray) -> np.ndarray:
    """VPADDD zmm/ymm: lane-wise s32 addition with wrap-around.

    ``a_s32``, ``b_s32``: int32 ``(..., 16)`` (or 8). Returns int32 of the same shape.
    """
    a = check_register(a_s32, "a_s32", np.int32, 32)
    b = check_register(b_s32, "b_s32", np.int32, 32)
    same_registers(("a_s32", a, 32), ("b_s32", b, 32))
    out = np.empty(a.shape, dtype=np.int32)
    if out.size:
        _vpaddd_kernel(as_rows(a), as_rows(b), as_rows(out))
    return out
