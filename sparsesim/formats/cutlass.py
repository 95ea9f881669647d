"""The 2:4 operand layout NVIDIA sparse tensor cores consume through CUTLASS.

Facts of the layout (CUTLASS ``reorder_meta`` in ``tools/util/host_reorder.h`` and
the ``ColumnMajorInterleaved<2>`` metadata layout of the sparse GEMM; PyTorch's
``torch.sparse._semi_structured_conversions`` produces the same tensors):

* Values: ``m x k/2``; each group of 4 along K contributes two values, in ascending
  position order.
* Per group a 4-bit nibble ``idx0 | idx1 << 2`` with ``idx0 < idx1``. A group with
  fewer than two non-zeros still names two positions; which ones is fixed by the
  encoding table below (chosen by the hardware designers to minimise the logic that
  maps non-zero flags to index bits). fp32 uses 1:2 pairs, encoded as a group of four
  16-bit halves whose flags come in pairs.
* Nibbles are packed little-end first into metadata words: ``int16`` (4 groups) for
  16-bit and 32-bit values, ``int32`` (8 groups) for int8. The metadata matrix is
  ``m x k/(4*nibbles_per_word)`` (fp32: ``k/(2*4)``).
* The words are then reordered: rows are interleaved inside row groups of 32
  (``int16``) or 16 (``int32``), 2 x 2 blocks of words are transposed, and the
  result is stored column-major interleaved by 2.

Inputs must already be 2:4 sparse (1:2 for fp32): a group with more non-zeros than
the hardware can keep is an error here, never silently dropped.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError, InputError
from ._arrays import as_matrix

# (idx0, idx1) chosen for every 4-bit non-zero flag pattern of a group, bit i = element i.
# Valid 2:4 patterns (exactly two flags) name their own positions; the others are the
# fixed choices of the hardware encoding (patterns with three or four flags are
# rejected before the table is used).
_PAIR_FOR_FLAGS = {
    0b0000: (2, 3), 0b0001: (0, 2), 0b0010: (1, 2), 0b0011: (0, 1),
    0b0100: (2, 3), 0b0101: (0, 2), 0b0110: (1, 2), 0b0111: (0, 1),
    0b1000: (2, 3), 0b1001: (0, 3), 0b1010: (1, 3), 0b1011: (0, 1),
    0b1100: (2, 3), 0b1101: (0, 3), 0b1110: (1, 3), 0b1111: (0, 1),
}
_LO = np.array([_PAIR_FOR_FLAGS[f][0] for f in range(16)], dtype=np.int64)
_HI = np.array([_PAIR_FOR_FLAGS[f][1] for f in range(16)], dtype=np.int64)

_SUPPORTED = {
    np.dtype(np.int8): ("int8", np.int32),
    np.dtype(np.float16): ("fp16", np.int16),
    np.dtype(np.float32): ("fp32", np.int16),
}


def _layout_params(dtype):
    if dtype not in _SUPPORTED:
        raise InputError(
            f"CUTLASS 2:4 layout supports int8, float16 and float32 (1:2) values, got {dtype}"
            " (for bfloat16 pass the raw bits viewed as float16: the layout only depends on the width)"
        )
    name, meta_dtype = _SUPPORTED[dtype]
    nibbles = np.dtype(meta_dtype).itemsize * 2
    row_group = 32 if meta_dtype == np.int16 else 16
    elems_per_group = 2 if name == "fp32" else 4
    return name, meta_dtype, nibbles, row_group, elems_per_group


def _reorder_offsets(m: int, meta_cols: int, meta_dtype) -> np.ndarray:
    """Flat destination offset of metadata word (row, col) in the stored tensor."""
    interleaved_rows = 32 if meta_dtype == np.int16 else 16
    rows_per_subgroup = interleaved_rows // 8  # 4 for int16, 2 for int32
    r = np.arange(m, dtype=np.int64)[:, None]
    c = np.arange(meta_cols, dtype=np.int64)[None, :]
    # interleave rows: inside each group, row 8*a + b goes to b*subgroups + a
    within = r % interleaved_rows
    dst_r = (r - within) + (within % 8) * rows_per_subgroup + within // 8
    dst_r = np.broadcast_to(dst_r, (m, meta_cols)).copy()
    dst_c = np.broadcast_to(c, (m, meta_cols)).copy()
    # transpose each 2 x 2 block of words: (even row, odd col) <-> (odd row, even col)
    up = (dst_r % 2 == 0) & (dst_c % 2 == 1)
    down = (dst_r % 2 == 1) & (dst_c % 2 == 0)
    dst_r[up] += 1
    dst_c[up] -= 1
    dst_r[down] -= 1
    dst_c[down] += 1
    # column-major, interleaved by 2 columns
    return (dst_c // 2) * (2 * m) + dst_r * 2 + dst_c % 2


def _check_shape(m, k, name, row_group, nibbles, elems_per_group):
    if m % row_group:
        raise FormatError(f"CUTLASS {name} layout needs rows divisible by {row_group}, got {m}")
    # The 2 x 2 word transpose pairs metadata columns, so there must be an even number
    # of them. (PyTorch's own check only asks for one word per row and then fails with
    # an IndexError for K = 32 int8 or K = 16 fp16.)
    kmult = 2 * elems_per_group * nibbles
    if k % kmult:
        raise FormatError(
            f"CUTLASS {name} layout needs K divisible by {kmult} (an even number of metadata words), got {k}"
        )


def to_cutlass(dense):
    """Compress a 2:4-sparse matrix (1:2 for float32) into CUTLASS ``(values, meta)``.

    Same shapes and dtypes as PyTorch's ``sparse_semi_structured_from_dense_cutlass``:
    values ``m x k/2`` of the input dtype, metadata ``int16`` (fp16, fp32) or ``int32``
    (int8) of shape ``m x k/(4*words)``.
    """
    dense = as_matrix(dense, "dense matrix")
    name, meta_dtype, nibbles, row_group, epg = _layout_params(dense.dtype)
    m, k = dense.shape
    _check_shape(m, k, name, row_group, nibbles, epg)
    if dense.dtype.kind == "f" and not np.isfinite(dense).all():
        raise FormatError("dense matrix has NaN/Inf values; the CUTLASS layout needs finite values")
    nz = dense.reshape(m, k // epg, epg) != 0
    if name == "fp32":
        too_many = nz.sum(axis=2) > 1
        flags = nz[..., 0] * 0b0011 + nz[..., 1] * 0b1100  # each fp32 is two 16-bit halves
    else:
        too_many = nz.sum(axis=2) > 2
        flags = nz[..., 0] * 1 + nz[..., 1] * 2 + nz[..., 2] * 4 + nz[..., 3] * 8
    if too_many.any():
        r, g = np.argwhere(too_many)[0]
        raise FormatError(
            f"group {g} of row {r} has {int(nz[r, g].sum())} non-zeros; the CUTLASS layout takes "
            f"{'1:2' if name == 'fp32' else '2:4'}-sparse input (prune it first)"
        )
    lo = _LO[flags]
    hi = _HI[flags]
    groups = dense.reshape(m, k // epg, epg)
    if name == "fp32":
        values = np.take_along_axis(groups, (lo // 2)[..., None], axis=2).reshape(m, k // 2)
    else:
        pair = np.stack([lo, hi], axis=-1)
        values = np.take_along_axis(groups, pair, axis=2).reshape(m, k // 2)
    nib = (lo | (hi << 2)).astype(np.uint32)  # one nibble per group
    meta_cols = nib.shape[1] // nibbles
    nib = nib.reshape(m, meta_cols, nibbles)
    words = np.zeros((m, meta_cols), dtype=np.uint32)
    for j in range(nibbles):
        words |= nib[:, :, j] << np.uint32(4 * j)
    word_u = np.uint16 if meta_dtype == np.int16 else np.uint32
    words = words.astype(word_u).view(meta_dtype)
    meta = np.empty(m * meta_cols, dtype=meta_dtype)
    meta[_reorder_offsets(m, meta_cols, meta_dtype).ravel()] = words.ravel()
    return np.ascontiguousarray(values), meta.reshape(m, meta_cols)


def from_cutlass(values, meta):
    """Rebuild the dense matrix from CUTLASS ``(values, meta)``; the inverse of :func:`to_cutlass`.

    Raises :class:`FormatError` for a metadata nibble that is not a valid code
    (``idx0 >= idx1``; for fp32 anything but the pairs (0,1) and (2,3)).
    """
    values = as_matrix(values, "values")
    meta = as_matrix(meta, "metadata")
    name, meta_dtype, nibbles, row_group, epg = _layout_params(values.dtype)
    if meta.dtype != np.dtype(meta_dtype):
        raise FormatError(f"metadata for {name} values must be {np.dtype(meta_dtype)}, got {meta.dtype}")
    m, half_k = values.shape
    k = 2 * half_k
    if meta.shape[0] != m:
        raise FormatError(f"metadata has {meta.shape[0]} rows, values have {m}")
    _check_shape(m, k, name, row_group, nibbles, epg)
    meta_cols = k // (epg * nibbles)
    if meta.shape[1] != meta_cols:
        raise FormatError(f"metadata has {meta.shape[1]} columns; {m} x {k} {name} needs {meta_cols}")
    word_u = np.uint16 if meta_dtype == np.int16 else np.uint32
    words = np.ascontiguousarray(meta).ravel()[_reorder_offsets(m, meta_cols, meta_dtype)]
    words = words.view(word_u).astype(np.uint32)
    nib = np.stack([(words >> np.uint32(4 * j)) & np.uint32(0xF) for j in range(nibbles)], axis=-1)
    nib = nib.reshape(m, meta_cols * nibbles).astype(np.int64)
    lo = nib & 3
    hi = nib >> 2
    if name == "fp32":
        bad = ~(((lo == 0) & (hi == 1)) | ((lo == 2) & (hi == 3)))
    else:
        bad = lo >= hi
    if bad.any():
        r, g = np.argwhere(bad)[0]
        raise FormatError(
            f"invalid metadata nibble {int(nib[r, g]):#06b} for group {g} of row {r}: "
            + ("expected positions (0,1) or (2,3)" if name == "fp32" else "expected idx0 < idx1")
        )
    dense = np.zeros((m, k // epg, epg), dtype=values.dtype)
    if name == "fp32":
        np.put_along_axis(dense, (lo // 2)[..., None], values.reshape(m, k // 2, 1), axis=2)
    else:
        v = values.reshape(m, k // 4, 2)
        np.put_along_axis(dense, np.stack([lo, hi], axis=-1), v, axis=2)
    return dense.reshape(m, k)
