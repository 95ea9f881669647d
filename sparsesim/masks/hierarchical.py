"""Hierarchical N:M sparsity: vector-wise column pruning on top of N:M.

A sparse tensor core supports fixed ratios (2:4, 4:8). A coarse level on top
gives other densities while the hardware still sees plain N:M:

1. *Vector level.* The weight matrix ``W`` (rows x K) is cut into row tiles of
   ``v`` rows and K into column groups of ``vec_m`` channels. In each
   ``v x vec_m`` block only ``vec_keep`` column vectors (length ``v``) survive:
   those with the largest L1 norm (ties: lower channel). The kept columns of a
   tile are gathered side by side, in ascending channel order.
2. *Element level.* Each row of the gathered ``v x vec_keep`` block is pruned
   N:M exactly as :func:`sparsesim.formats.compress` does (the ``n`` largest
   magnitudes of each ``m`` consecutive gathered columns; ties: lower position).

``vec_keep`` is a multiple of ``m`` and at most ``vec_m``; the
density is ``(vec_keep / vec_m) * (n / m)``. With ``vec_keep = m`` this is the
V:N:M format (e.g. 64:2:8 on 2:4 hardware keeps 4 of every 8 columns of a
64-row tile, then 2:4 on those: density 1/4); ``vec_keep = vec_m`` is plain N:M.

Compressed form (:class:`HierarchicalCompressed`):

* ``values``  - ``rows x (K/vec_m * vec_keep * n/m)``, the kept values;
* ``indices`` - same shape, ``uint8``: position of each value in its group of
  ``m`` gathered columns (the N:M metadata the tensor core decodes);
* ``columns`` - ``(rows/v) x (K/vec_m) x vec_keep``: the channel of each kept
  column vector inside its group of ``vec_m`` (the vector-index metadata the
  load stage uses to gather activations).

Traffic (:func:`hierarchical_traffic_bytes`) counts values, N:M index metadata
(``ceil(log2 m)`` bits per kept value, each row byte-aligned, the layout of
:mod:`sparsesim.formats.metadata`) and vector-index metadata
(``ceil(log2 vec_m)`` bits per kept column vector, each tile's list
byte-aligned; none when ``vec_keep = vec_m``).
"""

from __future__ import annotations

import re

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import InputError, PatternError
from ._util import check_matrix, check_nm

__all__ = [
    "HierarchicalPattern",
    "HierarchicalCompressed",
    "parse_hierarchical",
    "hierarchical_mask",
    "hierarchical_prune",
    "hierarchical_compress",
    "hierarchical_decompress",
    "hierarchical_reference",
    "hierarchical_densities",
    "hierarchical_for_density",
    "hierarchical_traffic_bytes",
]


@dataclass(frozen=True)
class HierarchicalPattern:
    """``v``-row tiles keep ``vec_keep`` of every ``vec_m`` columns, then ``n:m`` inside."""

    v: int
    n: int
    m: int
    vec_m: int
    vec_keep: int

    def __post_init__(self):
        for name in ("v", "n", "m", "vec_m", "vec_keep"):
            val = getattr(self, name)
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
                raise PatternError(f"hierarchical pattern: {name} must be a positive integer, got {val!r}")
        check_nm(self.n, self.m, "hierarchical pattern")
        if self.vec_keep % self.m:
            raise PatternError(
                f"hierarchical pattern: vec_keep={self.vec_keep} must be a multiple of M={self.m}"
            )
        if self.vec_m < self.vec_keep:
            raise PatternError(
                f"hierarchical pattern: vec_m={self.vec_m} must be at least vec_keep={self.vec_keep}"
            )
        if self.vec_m > 1 << 16:
            raise PatternError(f"hierarchical pattern: vec_m={self.vec_m} exceeds 65536")

    @property
    def density(self) -> float:
        return float(self.density_fraction)

    @property
    def density_fraction(self) -> Fraction:
        return Fraction(self.vec_keep, self.vec_m) * Fraction(self.n, self.m)

    @property
    def column_bits(self) -> int:
        """Bits of one vector index (channel inside a group of ``vec_m``)."""
        return max(1, (self.vec_m - 1).bit_length())

    def __str__(self) -> str:
        return f"h{self.v}:{self.vec_keep}/{self.vec_m}:{self.n}:{self.m}"


_SPEC = re.compile(r"h([0-9]{1,9}):([0-9]{1,9})/([0-9]{1,9}):([0-9]{1,9}):([0-9]{1,9})", re.ASCII)


def parse_hierarchical(spec) -> HierarchicalPattern:
    """Parse ``"hV:KEEP/VECM:N:M"`` (as printed by ``str(pattern)``), e.g. ``"h64:4/8:2:4"``."""
    if isinstance(spec, HierarchicalPattern):
        return spec
    if not isinstance(spec, str):
        raise PatternError(f"hierarchical spec must be a string like 'h64:4/8:2:4', got {type(spec).__name__}")
    found = _SPEC.fullmatch(spec.strip().lower())
    if found is None:
        raise PatternError(
            f"hierarchical spec {spec!r} is not understood; expected 'hV:KEEP/VECM:N:M' with digits 0-9, "
            "such as 'h64:4/8:2:4'"
        )
    v, keep, vec_m, n, m = (int(x) for x in found.groups())
    return HierarchicalPattern(v, n, m, vec_m, keep)


@dataclass
class HierarchicalCompressed:
    """Compressed hierarchical N:M operand; see the module docstring for the fields."""

    pattern: HierarchicalPattern
    shape: tuple
    values: np.ndarray
    indices: np.ndarray
    columns: np.ndarray

    def nbytes(self) -> dict:
        """Bytes of this operand stored packed (same as :func:`hierarchical_traffic_bytes`)."""
        return hierarchical_traffic_bytes(self.shape[0], self.shape[1], self.values.dtype.itemsize, self.pattern)


def _check_shape(arr, pat):
    rows, k = arr.shape
    if rows % pat.v:
        raise InputError(f"w has {rows} rows, not a multiple of the row tile v={pat.v} of {pat}")
    if k % pat.vec_m:
        raise InputError(f"w has K={k} columns, not a multiple of vec_m={pat.vec_m} of {pat}")


def _select_columns(arr, pat):
    """(rows/v, K/vec_m, vec_keep) kept channels per tile and group, ascending."""
    rows, k = arr.shape
    tiles, groups = rows // pat.v, k // pat.vec_m
    a = np.abs(arr.astype(np.float64)).reshape(tiles, pat.v, groups, pat.vec_m)
    norm = a[:, 0].copy()
    for i in range(1, pat.v):  # sequential sum: a fixed, documented order
        norm = norm + a[:, i]
    # rank by (norm desc, channel asc): stable sort of -norm
    order = np.argsort(-norm, axis=2, kind="stable")[:, :, : pat.vec_keep]
    return np.sort(order, axis=2)


def _gather(arr, cols, pat):
    rows, k = arr.shape
    tiles, groups = rows // pat.v, k // pat.vec_m
    w4 = arr.reshape(tiles, pat.v, groups, pat.vec_m)
    idx = np.broadcast_to(cols[:, None, :, :], (tiles, pat.v, groups, pat.vec_keep))
    return np.take_along_axis(w4, idx, axis=3).reshape(rows, groups * pat.vec_keep)


def hierarchical_compress(w, pattern) -> HierarchicalCompressed:
    """Prune ``w`` to the hierarchical pattern and compress it (values, N:M indices, columns)."""
    from ..formats import compress

    pat = parse_hierarchical(pattern)
    arr = check_matrix(w)
    _check_shape(arr, pat)
    cols = _select_columns(arr, pat)
    gathered = _gather(arr, cols, pat)
    values, indices = compress(gathered, pat.n, pat.m)
    col_dtype = np.uint8 if pat.vec_m <= 256 else np.uint16
    return HierarchicalCompressed(pat, tuple(arr.shape), values, indices, cols.astype(col_dtype))


def hierarchical_decompress(c: HierarchicalCompressed) -> np.ndarray:
    """Scatter a :class:`HierarchicalCompressed` back to the dense pruned matrix (bit-exact)."""
    from ..formats import decompress

    if not isinstance(c, HierarchicalCompressed):
        raise InputError(f"expected a HierarchicalCompressed, got {type(c).__name__}")
    pat = c.pattern
    rows, k = c.shape
    tiles, groups = rows // pat.v, k // pat.vec_m
    cols = np.asarray(c.columns)
    if cols.shape != (tiles, groups, pat.vec_keep):
        raise InputError(f"columns have shape {cols.shape}, expected {(tiles, groups, pat.vec_keep)}")
    if cols.size and (int(cols.max()) >= pat.vec_m or (np.diff(cols.astype(np.int64), axis=2) <= 0).any()):
        raise InputError(f"column indices must be strictly ascending and < vec_m={pat.vec_m} inside each group")
    gathered = decompress(c.values, c.indices, pat.n, pat.m)
    if gathered.shape != (rows, groups * pat.vec_keep):
        raise InputError(f"values decompress to {gathered.shape}, expected {(rows, groups * pat.vec_keep)}")
    out = np.zeros((tiles, pat.v, groups, pat.vec_m), dtype=gathered.dtype)
    idx = np.broadcast_to(cols[:, None, :, :].astype(np.int64), (tiles, pat.v, groups, pat.vec_keep))
    np.put_along_axis(out, idx, gathered.reshape(tiles, pat.v, groups, pat.vec_keep), axis=3)
    return out.reshape(rows, k)


def hierarchical_prune(w, pattern) -> np.ndarray:
    """``w`` with everything the hierarchical pattern drops set to zero."""
    return hierarchical_decompress(hierarchical_compress(w, pattern))


def hierarchical_mask(w, pattern) -> np.ndarray:
    """Bool mask of the positions the hierarchical pattern keeps (exactly ``density * size`` of them)."""
    from ..formats.nm import compress

    pat = parse_hierarchical(pattern)
    arr = check_matrix(w)
    _check_shape(arr, pat)
    rows, k = arr.shape
    tiles, groups = rows // pat.v, k // pat.vec_m
    cols = _select_columns(arr, pat)
    gathered = _gather(arr, cols, pat)
    # positions (not values) of the N:M kept slots, so zero weights still count as kept
    _, idx = compress(gathered, pat.n, pat.m)
    slot = (np.arange(idx.shape[1]) // pat.n * pat.m)[None, :] + idx.astype(np.int64)
    gmask = np.zeros(gathered.shape, dtype=bool)
    np.put_along_axis(gmask, slot, True, axis=1)
    out = np.zeros((tiles, pat.v, groups, pat.vec_m), dtype=bool)
    cidx = np.broadcast_to(cols[:, None, :, :], (tiles, pat.v, groups, pat.vec_keep))
    np.put_along_axis(out, cidx, gmask.reshape(tiles, pat.v, groups, pat.vec_keep), axis=3)
    return out.reshape(rows, k)


def hierarchical_reference(w, pattern) -> np.ndarray:
    """Plain-Python pruning to the pattern (loops, sorting, Python floats); the test oracle."""
    pat = parse_hierarchical(pattern)
    arr = np.asarray(w)
    rows, k = arr.shape
    out = np.zeros_like(arr)
    for t in range(rows // pat.v):
        for g in range(k // pat.vec_m):
            chans = list(range(g * pat.vec_m, (g + 1) * pat.vec_m))
            norms = {}
            for c in chans:
                s = 0.0
                for i in range(pat.v):
                    s = s + abs(float(arr[t * pat.v + i, c]))
                norms[c] = s
            kept_cols = sorted(sorted(chans, key=lambda c: (-norms[c], c))[: pat.vec_keep])
            for i in range(pat.v):
                r = t * pat.v + i
                for s0 in range(0, pat.vec_keep, pat.m):
                    grp = kept_cols[s0 : s0 + pat.m]
                    best = sorted(range(pat.m), key=lambda p: (-abs(float(arr[r, grp[p]])), p))[: pat.n]
                    for p in best:
                        out[r, grp[p]] = arr[r, grp[p]]
    return out


# ---------------------------------------------------------------- densities, bytes


def hierarchical_densities(n: int, m: int, max_vec_m: int = 64) -> list:
    """Distinct densities the hierarchy reaches on ``n:m`` hardware with ``vec_m <= max_vec_m``.

    Sorted descending, as ``(density, vec_keep, vec_m)`` with the smallest
    ``vec_m`` for each density (``vec_m`` a multiple of ``m``).
    """
    n, m = check_nm(n, m, "hierarchical_densities")
    if isinstance(max_vec_m, bool) or not isinstance(max_vec_m, int) or max_vec_m < m:
        raise InputError(f"max_vec_m must be an integer >= m={m}, got {max_vec_m!r}")
    seen = {}
    for vec_m in range(m, max_vec_m + 1, m):
        for keep in range(m, vec_m + 1, m):
            d = Fraction(keep, vec_m) * Fraction(n, m)
            if d not in seen:
                seen[d] = (keep, vec_m)
    return [(float(d), k, vm) for d, (k, vm) in sorted(seen.items(), reverse=True)]


def hierarchical_for_density(n: int, m: int, density: float, v: int = 64, max_vec_m: int = 64) -> HierarchicalPattern:
    """The hierarchical pattern on ``n:m`` hardware whose density is exactly ``density``.

    Raises :class:`PatternError` when no ``vec_keep/vec_m`` with ``vec_m <=
    max_vec_m`` gives it (the reachable set is :func:`hierarchical_densities`).
    """
    for d, keep, vec_m in hierarchical_densities(n, m, max_vec_m):
        if abs(d - float(density)) < 1e-12:
            return HierarchicalPattern(v, n, m, vec_m, keep)
    reach = ", ".join(f"{d:g}" for d, _, _ in hierarchical_densities(n, m, max_vec_m)[:12])
    raise PatternError(f"density {density} is not reachable by hierarchical {n}:{m} with vec_m <= {max_vec_m}; "
                       f"reachable: {reach}, ...")


def hierarchical_traffic_bytes(rows: int, k: int, dtype, pattern) -> dict:
    """Bytes of a ``rows x k`` operand stored in the hierarchical format.

    Same keys as :func:`sparsesim.formats.traffic_bytes` (``values``,
    ``metadata``, ``total``, ``dense``, ``nnz``, ``format``, ``encoding``) plus
    ``nm_metadata`` and ``vector_metadata`` (``metadata`` is their sum).
    ``dtype`` is a dtype name (``"int8"``, ``"fp16"``...) or a byte count.
    """
    from ..formats._arrays import dtype_bytes
    from ..formats.metadata import row_bytes

    pat = parse_hierarchical(pattern)
    for name, val in (("rows", rows), ("k", k)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val <= 0:
            raise InputError(f"{name} must be a positive integer, got {val!r}")
    if rows % pat.v or k % pat.vec_m:
        raise InputError(f"a {rows} x {k} operand does not tile into {pat} (v={pat.v}, vec_m={pat.vec_m})")
    item = dtype if isinstance(dtype, (int, np.integer)) and not isinstance(dtype, bool) else dtype_bytes(dtype)
    groups = k // pat.vec_m
    nm_groups_per_row = groups * pat.vec_keep // pat.m
    nnz = rows * nm_groups_per_row * pat.n
    values = nnz * item
    nm_meta = rows * row_bytes(nm_groups_per_row, pat.n, pat.m, "index")
    if pat.vec_keep == pat.vec_m:  # every column kept: plain N:M, no vector index stored
        vec_meta = 0
    else:
        vec_meta = (rows // pat.v) * math.ceil(groups * pat.vec_keep * pat.column_bits / 8)
    meta = nm_meta + vec_meta
    return {
        "values": int(values),
        "metadata": int(meta),
        "nm_metadata": int(nm_meta),
        "vector_metadata": int(vec_meta),
        "total": int(values + meta),
        "dense": int(rows * k * item),
        "nnz": int(nnz),
        "format": str(pat),
        "encoding": "index",
    }
