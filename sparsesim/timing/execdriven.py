"""Execution-driven mode: real operand arrays drive both the result and the timing.

Given A (m x k) and B (k x n), the functional layer computes C bit-exactly the way
the datapath does (:func:`sparsesim.kernels.spmac.spmac` for N:M operands:
decode -> mux -> multiply -> accumulate in int32 / fp32; a plain ascending-K
accumulation with the same arithmetic for dense and unstructured operands), and
the timing layer charges every tile for its real non-zeros: for each 16-row x
k-slice MMA step the number of hardware N:M passes is the largest
``ceil(non-zeros of a group / N)`` among its cells (:mod:`.statistical` gives the
expectation of the same quantity).  CTAs of denser tile rows run longer; a wave
lasts as long as its slowest SMs, so load imbalance shows in the total.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .workload import MMA_K_BYTES, MMA_ROWS, WaveSpec
from ..arch.schema import DTYPE_BYTES

_NP_DTYPES = {"int8": np.dtype(np.int8), "fp16": np.dtype(np.float16)}


def slice_passes(a: np.ndarray, hw_n: int, hw_m: int, k_slice: int, native: bool) -> np.ndarray:
    """Passes per (16-row block, k-slice) MMA step of A on ``hw_n:hw_m`` hardware."""
    rows, k = a.shape
    rb = -(-rows // MMA_ROWS)
    ks = -(-k // k_slice)
    if native:
        return np.ones((rb, ks))
    nz = np.zeros((rb * MMA_ROWS, ks * k_slice), dtype=np.int64)
    nz[:rows, :k] = a != 0
    groups = nz.reshape(rb * MMA_ROWS, ks * k_slice // hw_m, hw_m).sum(axis=2)
    cells = -(-groups // hw_n)
    cells = cells.reshape(rb, MMA_ROWS, ks, k_slice // hw_m)
    return cells.max(axis=(1, 3)).astype(float)


def functional_product(a, b, dtype, pattern):
    """C = A . B as the datapath computes it (int32 wrap-around / fp32 ascending K)."""
    if pattern.is_nm:
        from ..formats import compress
        from ..kernels.spmac import spmac

        values, indices = compress(a, pattern.n, pattern.m)
        return spmac(values, indices, b, f"{pattern.n}:{pattern.m}")
    if dtype == "int8":
        # every partial sum is an integer below 2^53 (|a*b| <= 2^14, k < 2^39), so a
        # float64 product is exact in any summation order; then wrap like an int32 adder
        if a.shape[1] >= 2**39:
            raise InputError("k too large for the exact int8 product")
        c = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
        return ((c + 2**31) % 2**32 - 2**31).astype(np.int32)
    acc = np.zeros((a.shape[0], b.shape[1]), dtype=np.float32)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    for kk in np.flatnonzero((a != 0).any(axis=0)):
        acc += np.outer(a32[:, kk], b32[kk, :]).astype(np.float32)
    return acc


@dataclass
class ExecData:
    output: np.ndarray
    passes: np.ndarray  # (row blocks, k slices)
    mean_passes: float | None
    native: bool

    def row_tile_scale(self, plan) -> np.ndarray:
        """Work of each tile row relative to the plan's mean (1 for dense datapaths)."""
        if plan.datapath in ("dense", "dense-fallback") or self.native:
            return np.ones(plan.tiles_m)
        per_tile = plan.tile.cta_m // MMA_ROWS
        rb = self.passes.shape[0]
        sums = [self.passes[i * per_tile:min((i + 1) * per_tile, rb)].sum() / per_tile
                for i in range(plan.tiles_m)]
        mean_row = self.passes.mean(axis=1)
        ks = self.passes.shape[1]
        scale = np.array(sums) / ks / max(mean_row.mean(), 1e-12)
        return scale

    def tile_cycles(self, plan) -> list:
        """MAC-array cycles of one CTA of each tile row (from its real non-zeros)."""
        s = self.row_tile_scale(plan)
        return [float(plan.k_iters * plan.demand.mac_cycles * x) for x in s]

    def wave_scales(self, plan):
        scale = self.row_tile_scale(plan)
        Tn = plan.tiles_n
        per_sm = plan.ctas_per_sm

        def fn(idx, w):
            if not np.any(scale != 1.0):  # every tile row does the same work: the plain wave
                return w, [1.0] * len(w.groups)
            start = idx * plan.arch.sm.count * per_sm
            end = start + w.ctas
            rows = np.arange(start, end) // Tn
            uniq, counts = np.unique(rows, return_counts=True)
            groups, scales = [], []
            per = max(c for _, c in w.groups)
            for r, c in zip(uniq, counts):
                groups.append((c / per, per))
                scales.append(float(scale[r]))
            return WaveSpec(w.ctas, tuple(groups), w.dram_read_bytes, w.c_bytes, w.carried_write_bytes,
                            w.last), scales

        return fn


def prepare_exec(arch, m, n, k, dtype, pattern, a, b) -> ExecData:
    if a is None or b is None:
        raise InputError("mode='exec' needs the operand arrays a= (m x k) and b= (k x n)")
    if dtype not in _NP_DTYPES:
        raise InputError(f"mode='exec' runs int8 or fp16 operands, got dtype {dtype!r}")
    want = _NP_DTYPES[dtype]
    a = np.asarray(a)
    b = np.asarray(b)
    if a.dtype != want or b.dtype != want:
        raise InputError(f"mode='exec' with dtype {dtype} needs {want} arrays, got {a.dtype} and {b.dtype}")
    if a.shape != (m, k) or b.shape != (k, n):
        raise InputError(f"operand shapes {a.shape} x {b.shape} do not match m, n, k = {m}, {n}, {k}")
    tc = arch.tensor_core
    if pattern.is_nm:
        from ..formats import is_nm_sparse

        if k % pattern.m or not is_nm_sparse(a, pattern.n, pattern.m):
            raise InputError(f"A is not {pattern.n}:{pattern.m} sparse along k (prune it with sparsesim.formats.prune)")
    elif pattern.is_unstructured:
        real = float(np.count_nonzero(a)) / a.size
        if abs(real - pattern.density) > 0.05:
            raise InputError(f"A has density {real:.3f}, but density={pattern.density} was given")
    out = functional_product(a, b, dtype, pattern)
    native = pattern.is_dense or (pattern.is_nm and (pattern.n, pattern.m) == (tc.sparse_n, tc.sparse_m))
    k_slice = MMA_K_BYTES // DTYPE_BYTES[dtype]
    passes = slice_passes(a, tc.sparse_n, tc.sparse_m, k_slice, native)
    mean = None if native else float(passes.mean())
    return ExecData(out, passes, mean, native)
