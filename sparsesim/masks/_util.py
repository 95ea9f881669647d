"""Input checks and small helpers shared by the mask modules."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..patterns import parse_pattern

#: Largest weight magnitude the mask searches take: a sum over a 16 x 16 block stays finite.
MAX_MAGNITUDE = float(np.finfo(np.float64).max) / 256

def check_nm(n, m, what="pattern"):
    """Validate an N:M pair through the project's one pattern parser."""
    if any(not isinstance(v, (int, np.integer)) or isinstance(v, bool) for v in (n, m)):
        raise InputError(f"{what}: n and m must be integers, got n={n!r}, m={m!r}")
    n_i, m_i = int(n), int(m)
    pat = parse_pattern(f"{n_i}:{m_i}")  # raises PatternError with a clear message
    return pat.n, pat.m


def check_matrix(w, name="w", *, finite=True):
    """Return ``w`` as a 2-D real floating array, or raise :class:`InputError`."""
    arr = np.asarray(w)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise InputError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise InputError(f"{name} must be a 2-D matrix (rows x input channels), got shape {arr.shape}")
    if arr.size == 0:
        raise InputError(f"{name} is empty (shape {arr.shape}); expected at least one element")
    if finite and np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            bad = int((~np.isfinite(arr)).sum())
            raise InputError(f"{name} has {bad} NaN/inf entries; masks need finite weights")
        if arr.dtype.itemsize >= 8 and np.abs(arr).max() > MAX_MAGNITUDE:
            raise InputError(f"{name} has magnitudes above {MAX_MAGNITUDE:.3g}; sums over a block would overflow")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def check_multiple(arr, m, axes, name="w"):
    for ax in axes:
        if arr.shape[ax] % m:
            raise InputError(
                f"{name} has shape {arr.shape}: dimension {ax} ({arr.shape[ax]}) is not a multiple of M={m}"
            )


def to_blocks(a, m):
    """(R, C) -> (R/m * C/m, m, m), blocks in row-major block order."""
    r, c = a.shape
    return a.reshape(r // m, m, c // m, m).transpose(0, 2, 1, 3).reshape(-1, m, m)


def from_blocks(b, shape):
    r, c = shape
    m = b.shape[-1]
    return b.reshape(r // m, c // m, m, m).transpose(0, 2, 1, 3).reshape(r, c)


def real_array(x, name, allow_bool: bool = False) -> np.ndarray:
    """``x`` (an array of any shape but a scalar) as a float64 array of finite numbers, or
    :class:`InputError`; booleans only where ``allow_bool`` (a mask)."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be an array of numbers ({exc})") from None
    if arr.dtype.kind not in ("iufb" if allow_bool else "iuf"):
        raise InputError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise InputError(f"{name} must be an array, got the scalar {x!r:.40}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise InputError(f"{name} has NaN/inf entries")
    return arr


def kept_l1(w, mask) -> float:
    """Sum of |w| over the kept (True) positions of ``mask``."""
    w = real_array(w, "w")
    mask = real_array(mask, "mask", allow_bool=True) != 0
    if w.shape != mask.shape:
        raise InputError(f"mask shape {mask.shape} does not match weight shape {w.shape}")
    return float(np.abs(w.astype(np.float64))[mask].sum())


def kept_fraction(w, mask) -> float:
    """Fraction of the L1 magnitude of ``w`` that ``mask`` keeps (1.0 for an all-zero w)."""
    total = float(np.abs(real_array(w, "w")).sum())
    if total == 0.0:
        return 1.0
    return kept_l1(w, mask) / total
