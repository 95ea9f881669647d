"""The functional MMA of one CTA-iteration in exec mode: ``acc += A[rows, kslice] . B[kslice, cols]``,
computed the way the datapath of the plan computes it.

**int8** (int32 accumulators).  Products are exact and the accumulators wrap modulo 2^32, so
how the products are grouped changes no bit; the C tile equals the exact product wrapped to
int32.  A region runs on

* ``dense`` / ``dense-fallback`` datapaths: :func:`sparsesim.kernels.int8_matmul`
  (VPDPBUSD where the CPU has AVX512_VNNI);
* ``sparse`` (A in the tensor core's own N:M pattern): the region of the compressed operand
  (values + indices, :func:`sparsesim.formats.compress`) through
  :func:`sparsesim.kernels.spmac` - decode -> mux -> multiply -> accumulate;
* ``sparse-passes`` (another pattern re-encoded on chip): each non-zero goes to pass
  ``rank // N`` of its hardware group of M (its rank among the group's non-zeros), every pass
  is an N:M operand compressed and run through ``spmac``.

**fp16 / bf16** (fp32 accumulators).  Products of fp16 or bf16 values are exact in fp32 (at
most 22 significand bits).  The accumulation this model defines: for each MMA step (a
``k_slice`` of K, 64 bytes) in ascending order, for each pass in order, the products of that
pass's non-zeros in ascending K, each added to the fp32 accumulator with one round-to-nearest.
For dense and native N:M operands that is a sequential ascending-K sum.  Zero weights are not
multiplied: with finite B that changes no bit (an accumulator that starts at +0 never becomes
-0 under round-to-nearest, and x + (+-0) = x otherwise).  This is the model's definition, not
the bits of a real tensor core, which adds the products of one k-group at a time with its own
alignment and truncation (Fasi, Higham, Mikaitis, Pranesh, "Numerical behavior of NVIDIA
tensor cores", PeerJ Computer Science 2021).  fp16 converts to fp32 exactly; bf16 operands are
given as their bit patterns (uint16) or as torch bfloat16 tensors, and convert by a 16-bit
shift.

Each numba kernel has a plain-Python reference beside it (``*_reference``).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..arch.datapath import MMA_K_BYTES
from ..arch.schema import DTYPE_BYTES
from ..formats._jit import njit, prange


@contextmanager
def one_thread():
    """Run the kernels on the calling thread: a CTA's regions are small, and waking the
    kernels' worker threads costs more than the work (20-100x for a 64 x 2048 x 32 region
    on a loaded 2-core machine)."""
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    """float32 values of bf16 bit patterns (exact: the bf16 bits are the top half of an fp32)."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def as_f32(x: np.ndarray, dtype: str) -> np.ndarray:
    return bf16_to_f32(x) if dtype == "bf16" else np.asarray(x, dtype=np.float32)


@njit(parallel=True, cache=True)
def _acc_dense_f32(a, b, acc):
    """acc += a . b: products of non-zero a in ascending K, one fp32 rounding per add."""
    rows, kk = a.shape
    cols = b.shape[1]
    for r in prange(rows):
        for q in range(kk):
            v = a[r, q]
            if v != 0:
                for c in range(cols):
                    acc[r, c] = acc[r, c] + v * b[q, c]


@njit(parallel=True, cache=True)
def _acc_nm_f32(vals, idx, n, m, b, acc):
    """acc += A . b from the compressed N:M operand: decode ``p = (s // n) * m + idx`` -> the mux
    picks row ``p`` of b -> multiply -> accumulate (kept slots in ascending K)."""
    rows, kept = vals.shape
    cols = b.shape[1]
    for r in prange(rows):
        for s in range(kept):
            v = vals[r, s]
            if v != 0:
                p = (s // n) * m + np.int64(idx[r, s])
                for c in range(cols):
                    acc[r, c] = acc[r, c] + v * b[p, c]


@njit(parallel=True, cache=True)
def _acc_passes_f32(a, b, acc, k_slice, hw_n, hw_m):
    """acc += a . b re-encoded into hw_n:hw_m passes: per k_slice, per pass, ascending K; a
    non-zero of rank q in its group of hw_m goes to pass q // hw_n."""
    rows, kk = a.shape
    cols = b.shape[1]
    for r in prange(rows):
        for s0 in range(0, kk, k_slice):
            s1 = min(s0 + k_slice, kk)
            npass = 0
            for g0 in range(s0, s1, hw_m):
                cnt = 0
                for q in range(g0, min(g0 + hw_m, s1)):
                    if a[r, q] != 0:
                        cnt += 1
                npass = max(npass, (cnt + hw_n - 1) // hw_n)
            for p in range(npass):
                for g0 in range(s0, s1, hw_m):
                    rank = 0
                    for q in range(g0, min(g0 + hw_m, s1)):
                        v = a[r, q]
                        if v != 0:
                            if rank // hw_n == p:
                                for c in range(cols):
                                    acc[r, c] = acc[r, c] + v * b[q, c]
                            rank += 1


def acc_passes_f32_reference(a, b, acc, k_slice, hw_n, hw_m):
    """Plain Python for :func:`_acc_passes_f32` (tests only).  With ``hw_n = hw_m = 1`` it is the
    sequential ascending-K sum that :func:`_acc_dense_f32` and :func:`_acc_nm_f32` compute."""
    rows, kk = a.shape
    for r in range(rows):
        for s0 in range(0, kk, k_slice):
            s1 = min(s0 + k_slice, kk)
            order = []  # (pass, k) of every non-zero of the slice
            for g0 in range(s0, s1, hw_m):
                nz = [q for q in range(g0, min(g0 + hw_m, s1)) if a[r, q] != 0]
                order += [(rank // hw_n, q) for rank, q in enumerate(nz)]
            for _, q in sorted(order):
                for c in range(b.shape[1]):
                    acc[r, c] = np.float32(acc[r, c] + np.float32(a[r, q]) * np.float32(b[q, c]))
    return acc


def pass_split(region: np.ndarray, hw_n: int, hw_m: int) -> list:
    """The region (K a multiple of hw_m) as hw_n:hw_m operands: non-zero of rank q in its group -> pass q // hw_n."""
    rows, kk = region.shape
    nz = (region != 0).reshape(rows, kk // hw_m, hw_m)
    which = ((np.cumsum(nz, axis=2) - 1) // hw_n).reshape(rows, kk)
    nzf = nz.reshape(rows, kk)
    count = int(which[nzf].max()) + 1 if nzf.any() else 0
    return [np.where(nzf & (which == p), region, 0).astype(region.dtype) for p in range(count)]


class FunctionalMma:
    """Runs the MMAs of CTA-iterations on the real operands (see the module docstring)."""

    def __init__(self, a, b, dtype, pattern, datapath, hw_n, hw_m, compressed=None):
        self.dtype, self.datapath = dtype, datapath
        self.int8 = dtype == "int8"
        self.hw_n, self.hw_m = hw_n, hw_m
        self.k_slice = MMA_K_BYTES // DTYPE_BYTES[dtype]
        self.pattern = pattern
        if self.int8:
            self.a, self.b = a, b
        else:
            self.a, self.b = as_f32(a, dtype), as_f32(b, dtype)
        self.values = self.indices = None
        if datapath == "sparse" and pattern.is_nm:
            if compressed is None:
                from ..formats import compress

                compressed = compress(self.a, pattern.n, pattern.m)
            self.values, self.indices = compressed
            if not self.int8:
                self.values = as_f32(self.values, "fp16") if self.values.dtype == np.float16 else self.values

    def accumulator(self, rows: int, cols: int) -> np.ndarray:
        return np.zeros((rows, cols), dtype=np.int32 if self.int8 else np.float32)

    def run(self, acc, r0, r1, k0, k1, c0, c1) -> None:
        """acc += A[r0:r1, k0:k1] . B[k0:k1, c0:c1]."""
        b = np.ascontiguousarray(self.b[k0:k1, c0:c1])
        dp = self.datapath
        if dp == "sparse" and self.values is not None:
            n, m = self.pattern.n, self.pattern.m
            s0, s1 = k0 // m * n, k1 // m * n
            vals = np.ascontiguousarray(self.values[r0:r1, s0:s1])
            idx = np.ascontiguousarray(self.indices[r0:r1, s0:s1])
            if self.int8:
                from ..kernels import spmac

                np.add(acc, spmac(vals, idx, b, f"{n}:{m}"), out=acc)
            else:
                _acc_nm_f32(vals, idx, n, m, b, acc)
            return
        region = np.ascontiguousarray(self.a[r0:r1, k0:k1])
        if dp == "sparse-passes":
            self._passes(acc, region, b)
        elif self.int8:
            from ..kernels import int8_matmul

            np.add(acc, int8_matmul(region, b), out=acc)
        else:
            _acc_dense_f32(region, b, acc)

    def _passes(self, acc, region, b):
        hn, hm = self.hw_n, self.hw_m
        if not self.int8:
            _acc_passes_f32(region, b, acc, self.k_slice, hn, hm)
            return
        from ..formats import compress
        from ..kernels import spmac

        kk = region.shape[1]
        kp = -(-kk // hm) * hm
        if kp != kk:  # zero-pad K to whole hardware groups
            region = np.pad(region, ((0, 0), (0, kp - kk)))
            b = np.pad(b, ((0, kp - kk), (0, 0)))
        for part in pass_split(region, hn, hm):
            vals, idx = compress(part, hn, hm)
            np.add(acc, spmac(vals, idx, b, f"{hn}:{hm}"), out=acc)
