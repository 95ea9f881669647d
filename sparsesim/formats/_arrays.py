"""Input checks and dtype helpers shared by the format encoders.

The Numba kernels take plain arrays; everything that can be wrong with a caller's
array is caught here first and raised as a :mod:`sparsesim.errors` exception.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError, InputError

# Storage width in bytes of each element dtype the project models.  bf16 and fp8
# have no numpy dtype; they are handled as raw bit patterns by name.
DTYPE_BYTES = {
    "int8": 1,
    "uint8": 1,
    "fp8": 1,
    "fp16": 2,
    "bf16": 2,
    "fp32": 4,
    "int32": 4,
}

_NUMPY_NAMES = {
    np.dtype(np.int8): "int8",
    np.dtype(np.uint8): "uint8",
    np.dtype(np.float16): "fp16",
    np.dtype(np.float32): "fp32",
    np.dtype(np.int32): "int32",
}

# Unsigned integer view of each float dtype, and the bits that hold exponent+mantissa
# (everything but the sign).  For finite IEEE numbers |x| orders exactly as these bits
# do, which lets the kernels compare magnitudes as integers.
_FLOAT_BITS = {
    np.dtype(np.float16): (np.uint16, 0x7FFF, 0x7C00),
    np.dtype(np.float32): (np.uint32, 0x7FFFFFFF, 0x7F800000),
    np.dtype(np.float64): (np.uint64, 0x7FFFFFFFFFFFFFFF, 0x7FF0000000000000),
}

SIGNED_INTS = (np.dtype(np.int8), np.dtype(np.int16), np.dtype(np.int32), np.dtype(np.int64))


def dtype_bytes(dtype) -> int:
    """Bytes per element of a dtype name (``"int8"``, ``"fp16"``, ``"bf16"``, ...) or of a
    numpy integer or float dtype (``np.dtype("float16")``, ``np.int8``)."""
    if isinstance(dtype, str):
        key = dtype.strip().lower()
        aliases = {"float16": "fp16", "half": "fp16", "float32": "fp32", "bfloat16": "bf16",
                   "fp8e4m3": "fp8", "fp8e5m2": "fp8", "e4m3": "fp8", "e5m2": "fp8"}
        key = aliases.get(key, key)
        if key not in DTYPE_BYTES:
            raise InputError(
                f"unknown dtype {dtype!r}; expected one of {', '.join(sorted(DTYPE_BYTES))}"
            )
        return DTYPE_BYTES[key]
    is_numpy = isinstance(dtype, np.dtype) or (isinstance(dtype, type) and issubclass(dtype, np.generic))
    if not is_numpy or np.dtype(dtype).kind not in "iuf":
        raise InputError(
            f"dtype {dtype!r} is not an element type; expected a name such as 'int8' or 'fp16' "
            "or a numpy integer/float dtype"
        )
    return np.dtype(dtype).itemsize


def as_matrix(w, name: str = "matrix") -> np.ndarray:
    """Return ``w`` as a 2-D integer or float numpy array in this machine's byte order, or
    raise :class:`InputError`.

    A byte-swapped (e.g. big-endian) array is converted to native order: same values.
    """
    if not isinstance(w, np.ndarray) or isinstance(w, np.ma.MaskedArray):
        raise InputError(f"{name} must be a numpy array, got {type(w).__name__}")
    if type(w) is not np.ndarray:
        w = np.asarray(w)  # np.matrix and other views of plain data
    if w.ndim != 2:
        raise InputError(f"{name} must be 2-D (rows x K), got shape {w.shape}")
    if w.dtype.kind not in "iuf":
        raise InputError(f"{name} has dtype {w.dtype}; expected an integer or float dtype")
    if not w.dtype.isnative:
        w = w.astype(w.dtype.newbyteorder("="))
    return w


def wide_int(dt) -> bool:
    """64-bit integers: their magnitudes do not fit the kernels' int64 keys."""
    return dt.kind in "iu" and dt.itemsize == 8


def magnitude_u64(w: np.ndarray) -> np.ndarray:
    """|w| of an integer array as uint64, exact for every value (also int64's minimum)."""
    if w.dtype.kind == "u":
        return w.astype(np.uint64)
    s = w.astype(np.int64)
    u = s.view(np.uint64)
    return np.where(s < 0, ~u + np.uint64(1), u)


def key_view(w: np.ndarray):
    """Return ``(src, mode, mask, nonfinite_bits)`` for the magnitude kernels.

    ``mode`` 0: ``src`` is the unsigned bit view of a float array; the magnitude key
    is ``src & mask`` and a value is non-finite when ``src & nonfinite_bits ==
    nonfinite_bits``.  ``mode`` 1: ``src`` is a signed or unsigned integer array and
    the key is ``abs(src)``.
    """
    dt = w.dtype
    if dt in _FLOAT_BITS:
        utype, mask, exp = _FLOAT_BITS[dt]
        return np.ascontiguousarray(w).view(utype), 0, mask, exp
    if dt.kind in "iu" and not wide_int(dt):
        return np.ascontiguousarray(w), 1, 0, 0
    raise InputError(f"dtype {dt} is not supported; expected int8/uint8/int32, float16, float32 or float64")


def check_group(k: int, m: int, pad: bool, what: str = "K") -> int:
    """Return the padded K (multiple of ``m``) or raise if ``k % m`` and not ``pad``."""
    if k % m == 0:
        return k
    if not pad:
        raise FormatError(
            f"{what} = {k} is not a multiple of the group size M = {m}; "
            f"pass pad=True to zero-pad K to {((k + m - 1) // m) * m}"
        )
    return ((k + m - 1) // m) * m


def pad_columns(w: np.ndarray, k_padded: int) -> np.ndarray:
    if w.shape[1] == k_padded:
        return w
    out = np.zeros((w.shape[0], k_padded), dtype=w.dtype)
    out[:, : w.shape[1]] = w
    return out
