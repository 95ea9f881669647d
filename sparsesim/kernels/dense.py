"""Dense int8 x int8 -> int32 matrix product, the dense counterpart of the sparse MAC.

``int8_matmul(A, B)`` computes what ``torch._int_mm`` and an int32 ``numpy.matmul``
compute: the exact product of signed bytes, wrapped to int32.  VPDPBUSD multiplies
unsigned by signed bytes, so A is shifted to ``a + 128`` (unsigned) and the exact
correction ``128 * sum_k B[k, n]`` is subtracted per column; all of it is addition
modulo 2**32, so the bits equal the exact product's.  B goes into the VNNI register
layout (:func:`~sparsesim.kernels.int8_gemm.pack_weights`); the product runs on the
real instructions where the CPU has AVX512_VNNI and on the portable kernel elsewhere
(:func:`~sparsesim.kernels.int8_gemm.int8_gemm_packed` chooses).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .int8_gemm import int8_gemm_packed, pack_weights


def _s8_matrix(x, name):
    if not isinstance(x, np.ndarray) or x.dtype != np.int8 or x.ndim != 2:
        got = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise InputError(f"{name} must be a 2-D int8 numpy array, got {got}")
    return x


def int8_matmul(a_s8: np.ndarray, b_s8: np.ndarray) -> np.ndarray:
    """``A (M x K int8) . B (K x N int8) -> int32 (M x N)``, wrapped modulo 2**32."""
    a = _s8_matrix(a_s8, "A")
    b = _s8_matrix(b_s8, "B")
    if a.shape[1] != b.shape[0]:
        raise InputError(f"A is {a.shape} but B is {b.shape}: inner dimensions (K) must match")
    shifted = np.bitwise_xor(a.view(np.uint8), np.uint8(0x80))  # a + 128 as u8
    correction = (128 * b.sum(axis=0, dtype=np.int64)) & 0xFFFFFFFF  # modulo 2**32
    c = int8_gemm_packed(shifted, pack_weights(b), b.shape[1], "vnni")
    np.subtract(c, correction.astype(np.uint32).view(np.int32), out=c)  # int32 arithmetic wraps
    return c


def int8_matmul_reference(a_s8: np.ndarray, b_s8: np.ndarray) -> np.ndarray:
    """Plain Python integers, wrapped to int32 (tests only: slow)."""
    m, k = a_s8.shape
    n = b_s8.shape[1]
    out = np.zeros((m, n), dtype=np.int32)
    for i in range(m):
        for j in range(n):
            total = sum(int(a_s8[i, q]) * int(b_s8[q, j]) for q in range(k))
            out[i, j] = (total + 2**31) % 2**32 - 2**31
    return out
