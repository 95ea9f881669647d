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
    if not isinstance(index_bits, int) or index_bits <= 0:
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


@dataclass(frozen=True)
class CSR:
    shape: tuple
    values: np.ndarray
    col_idx: np.ndarray
    row_ptr: np.ndarray

    def decode(self) -> np.ndarray:
        rows, cols = self.shape
        rp = self.row_ptr
        if rp.shape != (rows + 1,) or rp[0] != 0 or (np.diff(rp) < 0).any() or rp[-1] != len(self.values):
            raise FormatError("CSR row_ptr must have rows+1 non-decreasing entries from 0 to nnz")
        if len(self.col_idx) != len(self.values):
            raise FormatError("CSR col_idx and values must have the same length")
        if len(self.col_idx) and (self.col_idx.min() < 0 or self.col_idx.max() >= cols):
            raise FormatError(f"CSR column index out of range 0..{cols - 1}")
        row_of = np.repeat(np.arange(rows), np.diff(rp))
        flat = row_of * cols + self.col_idx
        if len(flat) and np.unique(flat).size != flat.size:
            raise FormatError("CSR has a repeated (row, column) entry")
        out = np.zeros(self.shape, dtype=self.values.dtype)
        out[row_of, self.col_idx] = self.values
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
        rows, cols = self.shape
        br, bc = self.block_grid
        bp = self.block_ptr
        n = len(self.values)
        if bp.shape != (br * bc + 1,) or bp[0] != 0 or (np.diff(bp) < 0).any() or bp[-1] != n:
            raise FormatError("CSB block_ptr must have nblocks+1 non-decreasing entries from 0 to nnz")
        if len(self.row_idx) != n or len(self.col_idx) != n:
            raise FormatError("CSB row_idx, col_idx and values must have the same length")
        if n and (min(self.row_idx.min(), self.col_idx.min()) < 0
                  or max(self.row_idx.max(), self.col_idx.max()) >= self.block):
            raise FormatError(f"CSB in-block index out of range 0..{self.block - 1}")
        blk = np.repeat(np.arange(br * bc), np.diff(bp))
        r = (blk // bc) * self.block + self.row_idx
        c = (blk % bc) * self.block + self.col_idx
        if n and (r.max() >= rows or c.max() >= cols):
            raise FormatError("CSB entry falls outside the matrix")
        flat = r * cols + c
        if n and np.unique(flat).size != flat.size:
            raise FormatError("CSB has a repeated (row, column) entry")
        out = np.zeros(self.shape, dtype=self.values.dtype)
        out[r, c] = self.values
        return out

    def nbytes(self, index_bits=None) -> dict:
        return csb_nbytes(*self.shape, len(self.values), self.values.dtype.itemsize, self.block, index_bits)


def csb_encode(w, block: int = 64) -> CSB:
    """Encode a dense matrix as CSB with ``block x block`` blocks (block a power of two)."""
    w = as_matrix(w, "matrix")
    if not isinstance(block, (int, np.integer)) or block < 2 or block & (block - 1):
        raise InputError(f"CSB block must be a power of two >= 2, got {block!r}")
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
        total = self.shape[0] * self.shape[1]
        if self.mask.dtype != np.uint8 or self.mask.size != (total + 7) // 8:
            raise FormatError(f"bitmask must be {(total + 7) // 8} uint8 bytes for shape {self.shape}")
        bits = np.unpackbits(self.mask, bitorder="little")[:total].astype(bool)
        if int(bits.sum()) != len(self.values):
            raise FormatError(f"bitmask has {int(bits.sum())} set bits but there are {len(self.values)} values")
        out = np.zeros(total, dtype=self.values.dtype)
        out[bits] = self.values
        return out.reshape(self.shape)

    def nbytes(self) -> dict:
        return bitmask_nbytes(*self.shape, len(self.values), self.values.dtype.itemsize)


def bitmask_encode(w) -> Bitmask:
    w = as_matrix(w, "matrix")
    _check_finite(w)
    nz = (w != 0).ravel()
    return Bitmask(w.shape, w.ravel()[nz].copy(), np.packbits(nz, bitorder="little"))
