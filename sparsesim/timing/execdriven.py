"""Execution-driven mode: real operand arrays drive both the result and the timing.

``simulate(arch, m, n, k, dtype, pattern, mode="exec", a=A, b=B)`` with A (m x k, sparse
along k) and B (k x n):

1. the operands are checked before any work (:func:`prepare_exec`: type, dtype, shape,
   pattern, finite values, memory);
2. A is encoded in its format (:mod:`sparsesim.formats`: N:M values + metadata, CSR, CSB,
   bitmask) and every CTA-iteration of the plan gets its real work (:mod:`.exectiles`): the
   encoded bytes it fetches, whether its format lets the kernel skip it, its MMA passes
   (for each 16-row x k-slice MMA step the hardware runs ``max ceil(non-zeros of a group / N)``
   passes; :mod:`.statistical` gives the expectation of the same quantity) and its
   non-zeros;
3. the per-SM engine (:mod:`.execengine`) runs every CTA with those items; at the MAC array
   each item's MMA runs on its region of A and B (:mod:`.execmma`: decode -> mux -> multiply
   -> accumulate, bit-exact), and each C tile is written when its CTA drains.

Of the tile shapes the library would consider, the best few are timed on the real operand
(without the functional MMAs, which do not change the timing) and the fastest is run with
them.  ``result.output`` is C; ``result.dram_bytes`` the real traffic, ``compulsory_bytes``
the encoder's exact sizes; ``result.actions`` counts the real work; ``result.exec_stats`` (a
dict) the items, skipped iterations, empty tiles, non-zeros and the run's wall time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..arch.schema import DTYPE_BYTES
from ..errors import InputError
from .workload import MMA_K_BYTES, MMA_ROWS, out_bytes

_NP_DTYPES = {"int8": np.dtype(np.int8), "fp16": np.dtype(np.float16), "bf16": np.dtype(np.uint16)}


def slice_passes(a: np.ndarray, hw_n: int, hw_m: int, k_slice: int, native: bool) -> np.ndarray:
    """Passes per (16-row block, k-slice) MMA step of A on ``hw_n:hw_m`` hardware."""
    rows, k = a.shape
    rb = -(-rows // MMA_ROWS)
    ks = -(-k // k_slice)
    if native:
        return np.ones((rb, ks))
    nz = np.zeros((rb * MMA_ROWS, ks * k_slice), dtype=np.int32)
    nz[:rows, :k] = a != 0
    groups = nz.reshape(rb * MMA_ROWS, ks * k_slice // hw_m, hw_m).sum(axis=2)
    cells = -(-groups // hw_n)
    cells = cells.reshape(rb, MMA_ROWS, ks, k_slice // hw_m)
    return cells.max(axis=(1, 3)).astype(float)


def operand_array(x, name: str, dtype: str) -> np.ndarray:
    """``x`` as the numpy array exec mode computes on: bf16 torch tensors become their bit patterns."""
    if hasattr(x, "detach") and hasattr(x, "dtype") and "torch" in type(x).__module__:
        import torch

        x = x.detach().cpu()
        x = x.view(torch.int16).numpy().view(np.uint16) if x.dtype == torch.bfloat16 else x.numpy()
    if not isinstance(x, np.ndarray):
        raise InputError(f"mode='exec' needs {name}= as a numpy array, got {type(x).__name__}")
    return x


def real_density(a) -> float | None:
    """Fraction of non-zeros of an operand array (None when ``a`` is not an array)."""
    try:
        arr = operand_array(a, "a", "")
    except InputError:
        return None
    if arr.dtype == np.uint16:  # bf16 bit patterns: +-0 are zeros
        arr = arr & np.uint16(0x7FFF)
    return float(np.count_nonzero(arr)) / arr.size if arr.size and arr.ndim == 2 else None


def _available_memory():
    from ..cpu.execution import available_memory

    return available_memory()


def check_memory(m, n, k, limit=None) -> None:
    """Refuse a product whose working memory (:func:`~sparsesim.timing.limits.exec_bytes`) exceeds what
    the machine has available (``limits.exec_bytes``, the configured cap, is checked by the driver)."""
    from .limits import exec_bytes

    need = exec_bytes(m, n, k)
    have = _available_memory() if limit is None else limit
    if have is not None and need > have:
        raise InputError(f"an exec run of {m}x{n}x{k} needs about {need / 2**30:.2f} GiB of memory (operands, "
                         f"their encodings and C), more than the {have / 2**30:.2f} GiB available")


@dataclass
class ExecData:
    a: np.ndarray
    a_enc: np.ndarray  # what the encoders see: A itself, or the fp32 image of bf16 bits
    b: np.ndarray
    dtype: str
    pattern: object
    passes: np.ndarray  # (row blocks, k slices)
    mean_passes: float | None
    native: bool
    output: np.ndarray | None = None
    work: object = None
    stats: dict | None = None

    def run(self, plans):
        """Time the candidate plans on the real operand, run the fastest with its functional
        MMAs; returns (plan, cycles, busy, events)."""
        from .execengine import simulate_exec
        from .execmma import FunctionalMma, one_thread
        from .exectiles import tile_work

        t0 = time.perf_counter()
        best = None
        if len(plans) > 1:
            for plan in plans:
                w = tile_work(self.a_enc, self.passes, plan)
                cyc = simulate_exec(plan, w)[0]
                if best is None or cyc < best[0]:
                    best = (cyc, plan, w)
            plan, work = best[1], best[2]
        else:
            plan = plans[0]
            work = tile_work(self.a_enc, self.passes, plan)
        t1 = time.perf_counter()
        tc = plan.arch.tensor_core
        mma = FunctionalMma(self.a, self.b, self.dtype, self.pattern, plan.datapath, tc.sparse_n, tc.sparse_m)
        out = np.zeros((plan.m, plan.n), dtype=np.int32 if self.dtype == "int8" else np.float32)
        with one_thread():
            cycles, busy, events, dram = simulate_exec(plan, work, mma, out)
        t2 = time.perf_counter()
        self.output, self.work = out, work
        self.stats = {
            "items": int(sum(len(r.iters) for r in work.row) * plan.tiles_n),
            "iterations": int(plan.ctas * plan.k_iters),
            "skipped_iterations": int(work.skipped_iterations),
            "empty_ctas": int(work.empty_tiles),
            "a_nonzeros": int(work.nnz),
            "a_density": float(work.nnz) / (plan.m * plan.k),
            "dram_bytes": dram,
            "candidates_timed": len(plans),
            "tile_search_seconds": t1 - t0,
            "run_seconds": t2 - t1,
            "wall_seconds": t2 - t0,
        }
        return plan, cycles, busy, events

    def annotate(self, res, plan) -> None:
        """Put the real traffic, work and output on ``res`` (before its energy is computed)."""
        work, d = self.work, plan.demand
        res.output = self.output
        res.dram_bytes = dict(self.stats["dram_bytes"])
        comp = {"a_values": int(work.encoded["values"]), "a_metadata": int(work.encoded["metadata"]),
                "b": plan.k * plan.n * DTYPE_BYTES[plan.dtype], "c": plan.m * plan.n * out_bytes(plan.dtype)}
        comp["total"] = sum(comp.values())
        res.compulsory_bytes = comp
        passes = nnz = l2 = reads = 0.0
        tile_cycles = []
        for r, rw in enumerate(work.row):
            a = float((rw.a_values + rw.a_meta).sum())
            b = sum(float(work.b_bytes(r, c).sum()) for c in range(plan.tiles_n))
            l2 += a * plan.tiles_n + b
            reads += float(rw.compute.sum()) * d.smem_read_bytes * plan.tiles_n
            passes += float(rw.pass_scale.sum()) * plan.tiles_n
            nnz += float(rw.nnz_scale.sum()) * plan.tiles_n
            tile_cycles.append(float(rw.pass_scale.sum()) * d.mac_cycles)
        act = res.actions
        for key, per in (("multiplies", d.multiplies), ("metadata_decodes", d.decodes), ("mux_selects", d.selects),
                         ("mux_lane_selects", d.lane_selects)):
            act[key] = per * passes
        act["reencoded_nonzeros"] = d.reencoded * nnz
        act["l2_read_bytes"] = act["smem_write_bytes"] = l2
        act["smem_read_bytes"] = reads
        act["dram_read_bytes"] = res.dram_bytes["total"] - res.dram_bytes["c"]
        act["dram_write_bytes"] = res.dram_bytes["c"]
        res.tile_cycles = tile_cycles
        res.exec_stats = {k: v for k, v in self.stats.items() if k != "dram_bytes"}
        res.exec_stats["l2_bytes"] = l2
        # what the statistical mode averages away: how unequal the tile rows' loads and MMAs are
        row_a = np.array([float((rw.a_values + rw.a_meta).sum()) for rw in work.row])
        full = work.rows == plan.tile.cta_m  # edge rows are shorter by construction
        for key, v in (("tile_row_a_bytes", row_a[full]), ("tile_row_mac_cycles", np.array(tile_cycles)[full])):
            mean = float(v.mean()) if v.size else 0.0
            res.exec_stats[f"{key}_max_over_mean"] = float(v.max()) / mean if mean > 0 else 1.0
            res.exec_stats[f"{key}_cv"] = float(v.std()) / mean if mean > 0 else 0.0


def _check_pattern(a, pattern):
    if pattern.is_nm:
        from ..formats import is_nm_sparse

        if a.shape[1] % pattern.m or not is_nm_sparse(a, pattern.n, pattern.m):
            raise InputError(f"A is not {pattern.n}:{pattern.m} sparse along k (prune it with sparsesim.formats.prune)")
    elif pattern.is_unstructured:
        real = real_density(a)
        if abs(real - pattern.density) > 0.05:
            raise InputError(f"A has density {real:.3f}, but density={pattern.density} was given")


def prepare_exec(arch, m, n, k, dtype, pattern, a, b, memory_limit=None) -> ExecData:
    """Check the operands of an exec run (before any work) and measure A's passes."""
    if a is None or b is None:
        raise InputError("mode='exec' needs the operand arrays a= (m x k) and b= (k x n)")
    if dtype not in _NP_DTYPES:
        raise InputError(f"mode='exec' runs int8, fp16 or bf16 operands, got dtype {dtype!r}")
    a, b = operand_array(a, "a", dtype), operand_array(b, "b", dtype)
    want = _NP_DTYPES[dtype]
    if a.dtype != want or b.dtype != want:
        what = "uint16 arrays of bf16 bit patterns (or torch bfloat16 tensors)" if dtype == "bf16" else f"{want} arrays"
        raise InputError(f"mode='exec' with dtype {dtype} needs {what}, got {a.dtype} and {b.dtype}")
    if a.shape != (m, k) or b.shape != (k, n):
        raise InputError(f"operand shapes {a.shape} x {b.shape} do not match m, n, k = {m}, {n}, {k} "
                         f"(a is m x k, b is k x n)")
    check_memory(m, n, k, memory_limit)
    if dtype != "int8":
        from .execmma import as_f32

        for name, x in (("a", a), ("b", b)):
            if not np.isfinite(as_f32(x, dtype)).all():
                raise InputError(f"operand {name} has NaN or Inf values; exec mode needs finite operands")
    a_enc = a
    if dtype == "bf16":  # the encoders see the exact fp32 image (bf16 -0 is a zero there)
        from .execmma import as_f32

        a_enc = as_f32(a, dtype)
    _check_pattern(a_enc, pattern)
    tc = arch.tensor_core
    native = pattern.is_dense or (pattern.is_nm and (pattern.n, pattern.m) == (tc.sparse_n, tc.sparse_m))
    k_slice = MMA_K_BYTES // DTYPE_BYTES[dtype]
    passes = slice_passes(a_enc, tc.sparse_n, tc.sparse_m, k_slice, native)
    mean = None if native else float(passes.mean())
    return ExecData(a, a_enc, b, dtype, pattern, passes, mean, native)
