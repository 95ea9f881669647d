"""Generators of ordinary and hostile arguments: integers, specs, arrays."""

from __future__ import annotations

import math

import numpy as np

INT_DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]
FLOAT_DTYPES = [np.float16, np.float32, np.float64]
ODD_DTYPES = [np.bool_, np.complex64, np.complex128, object, "U3", "datetime64[s]", np.longdouble]

# integers a caller might pass for a size, a count or an index
HOSTILE_INTS = [
    0, -1, -64, 2**31 - 1, 2**31, 2**32, 2**40, 2**62, 2**63 - 1, 2**63, 2**64, 10**30, -(2**63),
    True, False, 2.0, 2.5, float("nan"), float("inf"), "4", None, np.int64(4), np.uint8(4),
    np.float64(4.0), [4], b"4",
]

# spec strings: valid, unicode digits, separators Python's int() and float() accept, junk
PATTERN_SPECS = [
    ("dense", True), ("DENSE", True), (" dense ", True), ("2:4", True), ("4:8", True), ("1:2", True),
    ("8:16", True), ("1:16", True), ("3:8", True), ("15:16", True),
    ("unstructured:0.3", True), ("unstructured:1", True), ("unstructured:1e-1", True),
    ("unstructured:.5", True),
    ("٢:٤", False), ("２:４", False), ("2:٤", False), ("unstructured:٠.٥", False), ("unstructured:0.2_5", False),
    ("1_6:32", False), ("2:1_6", False), ("unstructured:0x1", False), ("unstructured:nan", False),
    ("unstructured:inf", False), ("unstructured:0", False), ("unstructured:-0.5", False),
    ("unstructured:1.5", False), ("unstructured:", False), ("unstructured:abc", False),
    ("16:32", False), ("0:4", False), ("4:4", False), ("5:4", False), ("2:3", False), ("2:6", False),
    ("2:0", False), ("-2:4", False), ("2:4:8", False), ("2:", False), (":4", False), ("", False),
    ("sparse", False), ("2/4", False), ("2:4\x00", False), ("2 : 4", None), ("+2:4", None), ("02:04", None),
    (2, False), (None, False), (b"2:4", False), (2.4, False), (["2:4"], False),
]


def pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


def int_values(rng, dtype, shape):
    """Integers of ``dtype`` over its whole range with the extremes, 0 and +-1 injected."""
    info = np.iinfo(dtype)
    style = rng.integers(4)
    if style == 0:  # small: many ties, zeros, +-x pairs
        lo, hi = max(info.min, -4), min(info.max, 4)
        return rng.integers(lo, hi + 1, size=shape, dtype=np.int64).astype(dtype)
    a = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    if style >= 2 and a.size:
        specials = np.array([info.min, info.max, 0, 1, info.max - 1] + ([-1, info.min + 1] if info.min else []),
                            dtype=dtype)
        mask = rng.random(shape) < 0.3
        a[mask] = specials[rng.integers(len(specials), size=int(mask.sum()))]
    return a


def float_values(rng, dtype, shape, finite=True):
    """Floats with ties, signed zeros, subnormals, the largest finite values and (unless
    ``finite``) NaN/Inf."""
    fi = np.finfo(dtype)
    style = rng.integers(4)
    if style == 0:
        a = rng.integers(-3, 4, size=shape).astype(dtype)
    else:
        a = (rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4)).astype(dtype)
    if style >= 2 and a.size:
        specials = [0.0, -0.0, float(fi.max), -float(fi.max), float(fi.tiny), float(fi.tiny) / 4, -float(fi.tiny) / 2,
                    1.0, -1.0]
        if not finite:
            specials += [np.inf, -np.inf, np.nan]
        sp = np.array(specials, dtype=dtype)
        mask = rng.random(shape) < 0.3
        a[mask] = sp[rng.integers(len(sp), size=int(mask.sum()))]
    return a


def matrix(rng, dtype, shape, finite=True):
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        return int_values(rng, dt.type, shape)
    if dt.kind == "f":
        return float_values(rng, dt.type, shape, finite)
    return np.zeros(shape, dtype=dt)


def layout(rng, a):
    """The same values in another memory layout: Fortran order, a strided view, read-only,
    or byte-swapped (big-endian on this machine).  Returns ``(array, label)``."""
    style = rng.integers(8)
    if style == 0:
        return np.asfortranarray(a), "fortran"
    if style == 1 and a.ndim == 2:
        wide = np.zeros((a.shape[0], 2 * a.shape[1]), dtype=a.dtype)
        wide[:, ::2] = a
        return wide[:, ::2], "strided"
    if style == 2:
        b = a.copy()
        b.setflags(write=False)
        return b, "read-only"
    if style == 3 and a.dtype.itemsize > 1:
        return a.astype(a.dtype.newbyteorder(">")), "big-endian"
    return a, ""


def odd_matrix(rng, shape):
    """An array of a dtype no format takes, or not an array at all."""
    style = rng.integers(6)
    if style == 0:
        dt = pick(rng, ODD_DTYPES)
        return np.zeros(shape, dtype=dt), "longdouble" if dt is np.longdouble else "odd-dtype"
    if style == 1:
        return np.zeros(shape, dtype=np.float32).tolist(), "list"
    if style == 2:
        return pick(rng, [None, 3, "w", 2.5]), "scalar"
    if style == 3:
        return np.zeros(shape[:1], dtype=np.float32), "1-d"
    if style == 4:
        return np.zeros((2,) + tuple(shape), dtype=np.float32), "3-d"
    return np.float32(1.0), "0-d"


def is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def finite_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) \
        and math.isfinite(float(v))
