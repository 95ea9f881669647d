"""Register-shape checks shared by the instruction emulators.

An emulated operand is a numpy array whose last axis holds the lanes of one
vector register; any leading axes enumerate independent registers.  A 512-bit
register is 64 bytes, 32 words or 16 dwords; the 256-bit (AVX-VNNI / EVEX.256)
forms are 32 bytes, 16 words or 8 dwords.  Wrong dtype, wrong lane count or
operands of different shapes raise :class:`~sparsesim.errors.InputError`
before any kernel runs.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

#: Register widths (bits) the emulators accept.
REGISTER_BITS = (512, 256)


def _lanes(bits: int, lane_bits: int) -> int:
    return bits // lane_bits


def check_register(x, name: str, dtype, lane_bits: int) -> np.ndarray:
    """Return ``x`` as a C-contiguous array of registers, or raise InputError.

    ``x`` must already have ``dtype`` exactly (no silent casts: a wrong dtype is
    almost always a caller bug that would change the arithmetic) and a last axis
    of one of the accepted lane counts.
    """
    if not isinstance(x, np.ndarray):
        raise InputError(f"{name} must be a numpy array of {np.dtype(dtype)} lanes, got {type(x).__name__}")
    if x.dtype != np.dtype(dtype):
        raise InputError(f"{name} must have dtype {np.dtype(dtype)}, got {x.dtype}")
    allowed = tuple(_lanes(b, lane_bits) for b in REGISTER_BITS)
    if x.ndim == 0 or x.shape[-1] not in allowed:
        got = "a scalar" if x.ndim == 0 else f"{x.shape[-1]} lanes"
        raise InputError(
            f"{name} last axis must be the register's lanes: {allowed[0]} (512-bit) or "
            f"{allowed[1]} (256-bit) x {np.dtype(dtype)}, got {got}"
        )
    return np.ascontiguousarray(x)


def same_registers(*named) -> int:
    """All operands must describe the same registers; return the register width in bits.

    ``named`` is a sequence of ``(name, array, lane_bits)``.
    """
    shapes = {}
    widths = set()
    for name, arr, lane_bits in named:
        shapes[name] = arr.shape[:-1]
        widths.add(arr.shape[-1] * lane_bits)
    if len(set(shapes.values())) != 1:
        desc = ", ".join(f"{n} {s}" for n, s in shapes.items())
        raise InputError(f"operands must hold the same number of registers (leading axes), got {desc}")
    if len(widths) != 1:
        raise InputError(f"operands mix register widths {sorted(widths)} bits; use one width")
    return widths.pop()


def as_rows(x: np.ndarray) -> np.ndarray:
    """View ``(..., lanes)`` as ``(registers, lanes)`` for the kernels."""
    return x.reshape(-1, x.shape[-1])
