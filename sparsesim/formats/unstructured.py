"""Unstructured sparse formats: CSR, CSB (Buluc et al., SPAA'09) and bitmask.

Each encoder returns a small dataclass of numpy arrays with ``decode()`` and an
exact ``nbytes()`` split into ``values`` and ``metadata`` (and the per-array parts).

Index widths. By default each index array is counted at the narrowest width that
can hold its largest possible value, packed (``ceil(log2 K)`` bits per CSR column
index, ``log2(block)`` bits per CSB in-block row/column index, ``ceil(log2(nnz+1))``
bits per pointer): the cost a hardware decoder pays. Pass ``index_bits=32`` to count
software-style 32-bit indices and pointers instead (as cuSPARSE's CSR uses).

* **CSR**: ``values[nnz]``, ``col_idx[nnz]``, ``row_ptr[rows+1]`` (prefix sums).
* **CSB**: the matrix is tiled into ``block x block`` blocks (``block`` a power of
  two) taken in row-major block order; inside a block, non-zeros in row-major order.
  Arrays: ``values[nnz]``, ``row_idx[nnz]`` and ``col_idx[nnz]`` (in-block, log2(block)
  bits each), ``block_ptr[nblocks+1]``. The same arrays serve ``A x`` and ``A^T x``.
* **bitmask**: ``values[nnz]`` in row-major order plus one bit per element.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from ..errors import FormatError, InputError
from ._arrays import as_matrix


def bits_for(max_value: int) -> int:
    """Bits needed to store integers ``0 .. max_value``."""
    return max(1, int(max_value).bit_length())


def _bytes(count: int, bits: int) -> int:
    return (count * bits + 7) // 8


def _index_width(default_bits: int, index_bits):
    if index_bits is None:
        return default_bits
    if not isinstance(index_bits, numbers.Integral) or isinstance(index_bits, bool) or index_bits <= 0:
        raise InputError(f"index_bits must be a positive int or None, got {index_bits!r}")
    if index_bits < default_bits:
        raise InputError(f"index_bits={index_bits} cannot hold indices that need {default_bits} bits")
    return index_bits


def csr_nbytes(rows: int, cols: int, nnz: int, itemsize: int, index_bits=None) -> dict:
    col_bits = _index_width(bits_for(cols - 1), index_bits)
    ptr_bits = _index_width(bits_for(nnz), index_bits)
    parts = {"values": nnz * itemsize, "col_idx": _bytes(nnz, col_bits), "row_ptr": _bytes(rows + 1, ptr_bits)}
    parts["metadata"] = parts["col_idx"] + parts["row_ptr"]
    parts["total"] = parts["values"] + parts["metadata"]
    return parts


def csb_nbytes(rows: int, cols: int, nnz: int, itemsize: int, block: int, index_bits=None) -> dict:
    block = check_block(block)
    nblocks = -(-rows // block) * -(-cols // block)
    in_bits = _index_width(bits_for(block - 1), index_bits)
    ptr_bits = _index_width(bits_for(nnz), index_bits)
    parts = {
        "values": nnz * itemsize,
        "row_idx": _bytes(nnz, in_bits),
        "col_idx": _bytes(nnz, in_bits),
        "block_ptr": _bytes(nblocks + 1, ptr_bits),
    }
    parts["metadata"] = parts["row_idx"] + parts["col_idx"] + parts["block_ptr"]
    parts["total"] = parts["values"] + parts["metadata"]
    return parts


def bitmask_nbytes(rows: int, cols: int, nnz: int, itemsize: int) -> dict:
    parts = {"values": nnz * itemsize, "mask": _bytes(rows * cols, 1)}
    parts["metadata"] = parts["mask"]
    parts["total"] = parts["values"] + parts["metadata"]
    return parts


def _check_finite(w):
    if w.dtype.kind == "f" and not np.isfinite(w).all():
        raise FormatError("matrix has NaN/Inf values; sparse encoders need finite values")


MAX_BLOCK = 2**31


def check_block(block) -> int:
    """A CSB block edge: a power of two in 2 .. 2**31."""
    if not isinstance(block, numbers.Integral) or isinstance(block, bool) or not 2 <= block <= MAX_BLOCK \
            or block & (block - 1):
        raise InputError(f"CSB block must be a power of two in 2..2**31, got {block!r}")
    return int(block)


def _shape(shape, fmt) -> tuple:
    if not (isinstance(shape, tuple) and len(shape) == 2
            and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0 for v in shape)):
        raise FormatError(f"{fmt} shape must be a (rows, cols) tuple of non-negative integers, got {shape!r}")
    return int(shape[0]), int(shape[1])


def _vector(a, name, fmt, kinds="iu") -> np.ndarray:
    """A 1-D array of the encoding (integer indices / pointers, or values)."""
    if not isinstance(a, np.ndarray) or a.ndim != 1 or a.dtype.kind not in kinds:
        what = f"{a.dtype} {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
        raise FormatError(f"{fmt} {name} must be a 1-D numpy array of {'integers' if kinds == 'iu' else 'numbers'}, "
                          f"got {what}")
    return a if a.dtype.isnative else a.astype(a.dtype.newbyteorder("="))


def _pointers(ptr, count, nnz, name, fmt) -> np.ndarray:
    ptr = _vector(ptr, name, fmt)
    if ptr.shape != (count + 1,) or ptr[0] != 0 or (np.diff(ptr.astype(np.int64)) < 0).any() or ptr[-1] != nnz:
        raise FormatError(f"{fmt} {name} must have {count + 1} non-decreasing entries from 0 to nnz = {nnz}")
    return ptr.astype(np.int64)


@dataclass(frozen=True)
class CSR:
    shape: tuple
    values: np.ndarray
    col_idx: np.ndarray
    row_ptr: np.ndarray

    def decode(self) -> np.ndarray:
        rows, cols = _shape(self.shape, "CSR")
        values = _vector(self.values, "values", "CSR", "iuf")
        ci = _vector(self.col_idx, "col_idx", "CSR")
        rp = _pointers(self.row_ptr, rows, len(values), "row_ptr", "CSR")
        if len(ci) != len(values):
            raise FormatError("CSR col_idx and values must have the same length")
        if len(ci) and (ci.min() < 0 or ci.max() >= cols):
            raise FormatError(f"CSR column index out of range 0..{cols - 1}")
        ci = ci.astype(np.int64)
        row_of = np.repeat(np.arange(rows, dtype=np.int64), np.diff(rp))
        flat = row_of * cols + ci
        if len(flat) and np.unique(flat).size != flat.size:
            raise FormatError("CSR has a repeated (row, column) entry")
        out = np.zeros((rows, cols), dtype=values.dtype)
        out[row_of, ci] = values
        return out

    def nbytes(self, index_bits=None) -> dict:
        return csr_nbytes(*self.shape, len(self.values), self.values.dtype.itemsize, index_bits)


def csr_encode(w) -> CSR:
    """Encode a dense matrix as CSR (column indices ascending within a row)."""
    w = as_matrix(w, "matrix")
    _check_finite(w)
    r, c = np.nonzero(w)
    row_ptr = np.zeros(w.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=w.shape[0]), out=row_ptr[1:])
    return CSR(w.shape, w[r, c].copy(), c.astype(np.int64), row_ptr)


@dataclass(frozen=True)
class CSB:
    shape: tuple
    block: int
    values: np.ndarray
    row_idx: np.ndarray
    col_idx: np.ndarray
    block_ptr: np.ndarray

    @property
    def block_grid(self):
        return (-(-self.shape[0] // self.block), -(-self.shape[1] // self.block))

    def decode(self) -> np.ndarray:
        rows, cols = _shape(self.shape, "CSB")
        block = check_block(self.block)
        br, bc = -(-rows // block), -(-cols // block)
        values = _vector(self.values, "values", "CSB", "iuf")
        ri = _vector(self.row_idx, "row_idx", "CSB")
        ci = _vector(self.col_idx, "col_idx", "CSB")
        n = len(values)
        bp = _pointers(self.block_ptr, br * bc, n, "block_ptr", "CSB")
        if len(ri) != n or len(ci) != n:
            raise FormatError("CSB row_idx, col_idx and values must have the same length")
        if n and (min(ri.min(), ci.min()) < 0 or max(ri.max(), ci.max()) >= block):
            raise FormatError(f"CSB in-block index out of range 0..{block - 1}")
        blk = np.repeat(np.arange(br * bc, dtype=np.int64), np.diff(bp))
        r = (blk // bc) * block + ri.astype(np.int64)
        c = (blk % bc) * block + ci.astype(np.int64)
        if n and (r.max() >= rows or c.max() >= cols):
            raise FormatError("CSB entry falls outside the matrix")
        flat = r * cols + c
        if n and np.unique(flat).size != flat.size:
            raise FormatError("CSB has a repeated (row, column) entry")
        out = np.zeros((rows, cols), dtype=values.dtype)
        out[r, c] = values
        return out

    def nbytes(self, index_bits=None) -> dict:
        return csb_nbytes(*self.shape, len(self.values), self.values.dtype.itemsize, self.block, index_bits)


def csb_encode(w, block: int = 64) -> CSB:
    """Encode a dense matrix as CSB with ``block x block`` blocks (block a power of two)."""
    w = as_matrix(w, "matrix")
    block = check_block(block)
    _check_finite(w)
    rows, cols = w.shape
    br, bc = -(-rows // block), -(-cols // block)
    r, c = np.nonzero(w)
    blk = (r // block) * bc + (c // block)
    order = np.lexsort((c, r, blk))  # block-major, then row-major inside the block
    r, c, blk = r[order], c[order], blk[order]
    ptr = np.zeros(br * bc + 1, dtype=np.int64)
    np.cumsum(np.bincount(blk, minlength=br * bc), out=ptr[1:])
    return CSB(w.shape, int(block), w[r, c].copy(), (r % block).astype(np.int64), (c % block).astype(np.int64), ptr)


@dataclass(frozen=True)
class Bitmask:
    shape: tuple
    values: np.ndarray
    mask: np.ndarray  # packed bits, row-major, little-endian bit order

    def decode(self) -> np.ndarray:
        rows, cols = _shape(self.shape, "bitmask")
        total = rows * cols
        values = _vector(self.values, "values", "bitmask", "iuf")
        mask = self.mask
        if not isinstance(mask, np.ndarray) or mask.dtype != np.uint8 or mask.ndim != 1 \
                or mask.size != (total + 7) // 8:
            raise FormatError(f"bitmask must be a 1-D array of {(total + 7) // 8} uint8 bytes for shape {self.shape}")
        unpacked = np.unpackbits(mask, bitorder="little")
        if unpacked[total:].any():
            raise FormatError(f"bitmask has set bits after the last of the {total} elements")
        bits = unpacked[:total].astype(bool)
        if int(bits.sum()) != len(values):
            raise FormatError(f"bitmask has {int(bits.sum())} set bits but there are {len(values)} values")
        out = np.zeros(total, dtype=values.dtype)
        out[bits] = values
        return out.reshape(rows, cols)

    def nbytes(self) -> dict:
        return bitmask_nbytes(*self.shape, len(self.values), self.values.dtype.itemsize)


def bitmask_encode(w) -> Bitmask:
    w = as_matrix(w, "matrix")
    _check_finite(w)
    nz = (w != 0).ravel()
    return Bitmask(w.shape, w.ravel()[nz].copy(), np.packbits(nz, bitorder="little"))
