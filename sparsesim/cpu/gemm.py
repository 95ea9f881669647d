"""Whole-GEMM time on one CPU socket: the port model's micro-kernel plus cache/DRAM traffic."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from ..errors import InputError
from .microkernels import MUX_KERNELS, build_kernel
from .portmodel import simulate_kernel


@dataclass(frozen=True)
class CpuGemm:
    """Time of a whole GEMM on one socket: the micro-kernel plus cache/DRAM traffic.

    Convention (as in :func:`sparsesim.timing.simulate`): C[m x n] = A[m x k] . B[k x n],
    A the weights (int8, possibly 2:4-compressed along k), B the activations.  In the
    micro-kernel the weights are the packed zmm operand (16 output channels = 16
    of the m rows per zmm) and the activations are broadcast, so the kernel's
    register tile covers 16*NR of m and MR of n.
    """

    arch: str
    kernel: str
    m: int
    n: int
    k: int
    cores: int
    ghz: float
    cycles_per_iteration: float  # port model, L1-resident operands
    l2_cycles_per_iteration: float  # weight + activation bytes per iteration / L2 bandwidth
    iterations_per_core: float
    compute_seconds: float
    dram_seconds: float
    seconds: float
    bound: str  # "compute" (ports), "l1", "l2", "l3" or "dram"
    dram_bytes: dict
    weight_passes: int
    macs: int
    l1_cycles_per_iteration: float = 0.0  # bytes loaded per iteration / L1 load bandwidth
    l3_bytes: int = 0  # weight re-reads served by L3 (weights fit in half of it)
    l3_seconds: float = 0.0

    @property
    def tops(self) -> float:
        return 2.0 * self.macs / self.seconds / 1e12

    def to_dict(self) -> dict:
        import dataclasses as _dc

        d = _dc.asdict(self)
        d["tops"] = self.tops
        return d


def weight_bytes(kernel_name: str, m: int, k: int) -> dict:
    """Bytes of the packed weights A[m x k] the kernel streams (values, metadata)."""
    if kernel_name == "fp32":
        return {"values": 4 * m * k, "metadata": 0}
    if kernel_name == "vnni-2to4":
        # 2 kept int8 values per group of 4 along k; one mask bit per dense weight
        # (the 64-bit kmovq mask of 64 weights = 2 bits per kept value, the same
        # size as the 2-bit-index hardware layout)
        return {"values": m * k // 2, "metadata": m * k // 8}
    if kernel_name in MUX_KERNELS:
        # the decoded metadata: one VPSHUFB control byte per kept value
        return {"values": m * k // 2, "metadata": m * k // 2}
    return {"values": m * k, "metadata": 0}


MAX_GHZ = 1e3  # a clock in GHz beyond any silicon; keeps every time finite and non-zero


def check_ghz(ghz) -> float:
    """A clock in GHz: a finite number in (0, :data:`MAX_GHZ`]."""
    if isinstance(ghz, bool) or not isinstance(ghz, numbers.Real) or not (math.isfinite(ghz) and 0 < ghz <= MAX_GHZ):
        raise InputError(f"ghz must be a clock in GHz, a number in (0, {MAX_GHZ:g}], got {ghz!r}")
    return float(ghz)


def gemm_timing(arch, kernel: str, m: int, n: int, k: int, cores: int | None = None,
                ghz: float | None = None, mr: int | None = None, nr: int | None = None) -> CpuGemm:
    """Whole-GEMM estimate on one socket (``cores`` defaults to all cores of the socket).

    Model (assumptions stated in docs/ports.md):

    * compute: every core runs the register-blocked micro-kernel over its share of the
      C tiles; its cycles per iteration come from the port model (L1 hits), raised to
      the bytes of one iteration over the L1 load bandwidth, and to their L2 -> L1 time
      when the weight panel (k x 16*NR) does not fit in half of L1.
    * weights are read once per pass over the activations; a pass covers as many
      activation columns (n) as fit in half of L2 per core (``n_block``); when
      n <= n_block the weights are read once.  When the weights fit in half of L3 the
      passes after the first hit L3, charged at every core's L2 fill bandwidth
      (``l3_seconds``); otherwise every pass reads DRAM.  Activations are read once from
      DRAM, C written once (int32 / fp32).
    * compute, L3 and DRAM overlap (hardware prefetch of a streaming access pattern).
    """
    from .config import load_cpu_arch

    from ..timing.limits import DEFAULT_LIMITS, check_dims

    arch = load_cpu_arch(arch)
    m, n, k = check_dims(m, n, k, DEFAULT_LIMITS)
    kern = build_kernel(kernel, **{key: val for key, val in (("mr", mr), ("nr", nr)) if val is not None})
    if k % max(kern.k_per_iteration, 1):
        raise InputError(f"k={k} must be a multiple of {kern.k_per_iteration} for kernel {kernel!r}")
    cores = arch.core.count if cores is None else cores
    if isinstance(cores, bool) or not isinstance(cores, int) or not 1 <= cores <= arch.core.count:
        raise InputError(f"cores must be an integer in 1..{arch.core.count}, got {cores!r}")
    ghz = arch.clock.avx512_all_core_turbo_ghz if ghz is None else check_ghz(ghz)

    port = simulate_kernel(arch, kern)
    cols = 16 * kern.nr  # weight rows (of m) per register tile
    tiles_m = -(-m // cols)
    tiles_n = -(-n // kern.mr)
    iters_per_tile = k // kern.k_per_iteration
    total_iters = tiles_m * tiles_n * iters_per_tile
    iters_per_core = total_iters / cores

    mem = arch.memory
    bpi = kern.bytes_per_iteration
    loaded = bpi["weights"] + bpi["metadata"] + bpi["activations"]
    l1_cyc = loaded / mem.l1_load_bytes_per_cycle
    panel_bytes = (bpi["weights"] + bpi["metadata"]) * iters_per_tile
    l2_cyc = loaded / mem.l2_bytes_per_cycle if panel_bytes > mem.l1d_kib * 1024 // 2 else 0.0
    cyc = max(port.cycles_per_iteration, l1_cyc, l2_cyc)
    compute_s = iters_per_core * cyc / (ghz * 1e9)

    wb = weight_bytes(kernel, m, k)
    w_total = wb["values"] + wb["metadata"]
    act_elem = 4 if kernel == "fp32" else 1
    n_block = max(kern.mr, (mem.l2_kib * 1024 // 2) // (k * act_elem))
    passes = -(-n // n_block)
    from_dram = 1 if w_total <= mem.l3_mib * 2**20 / 2 else passes  # re-reads hit L3 when the weights fit
    l3_bytes = w_total * (passes - from_dram)
    l3_s = l3_bytes / (cores * mem.l2_bytes_per_cycle * ghz * 1e9)
    dram = {
        "weights": w_total * from_dram,
        "weight_values": wb["values"] * from_dram,
        "weight_metadata": wb["metadata"] * from_dram,
        "activations": n * k * act_elem,
        "c": 4 * m * n,
    }
    dram["total"] = dram["weights"] + dram["activations"] + dram["c"]
    dram_s = dram["total"] / (mem.dram_gbps * 1e9 * mem.dram_efficiency)
    seconds = max(compute_s, dram_s, l3_s)
    if dram_s >= max(compute_s, l3_s):
        bound = "dram"
    elif l3_s > compute_s:
        bound = "l3"
    else:
        levels = {"compute": port.cycles_per_iteration, "l1": l1_cyc, "l2": l2_cyc}
        bound = max(levels, key=lambda key: (levels[key], key == "compute"))
    return CpuGemm(
        arch=arch.name, kernel=kernel, m=m, n=n, k=k, cores=cores, ghz=ghz,
        cycles_per_iteration=port.cycles_per_iteration, l2_cycles_per_iteration=l2_cyc,
        iterations_per_core=iters_per_core, compute_seconds=compute_s, dram_seconds=dram_s,
        seconds=seconds, bound=bound, dram_bytes=dram, weight_passes=passes, macs=m * n * k,
        l1_cycles_per_iteration=l1_cyc, l3_bytes=l3_bytes, l3_seconds=l3_s,
    )


def sparse_crossover(arch, m: int, k: int, n_values=None, cores: int | None = None,
                     ghz: float | None = None, mr: int | None = None, nr: int | None = None,
                     sparse_kernel: str = "vnni-2to4") -> dict:
    """Where 2:4 weights (``sparse_kernel``) beat the dense kernel of the same instruction
    set (VNNI, or the 3-instruction sequence for ``avx512-int8-2to4-mux``) as the
    activation count n grows (both with the same MR x NR blocking when given).

    Returns ``{"n": [...], "dense_s": [...], "sparse_s": [...], "speedup": [...],
    "sparse_wins_up_to_n": N or None}`` (speedup = dense time / 2:4 time).
    """
    if n_values is None:
        n_values = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]
    dense_kernel = "avx512-int8" if sparse_kernel == "avx512-int8-2to4-mux" else "vnni"
    out = {"n": [], "dense_s": [], "sparse_s": [], "speedup": [], "dense_bound": [], "sparse_bound": [],
           "dense_kernel": dense_kernel, "sparse_kernel": sparse_kernel}
    last_win = None
    for n in n_values:
        d = gemm_timing(arch, dense_kernel, m, n, k, cores=cores, ghz=ghz, mr=mr, nr=nr)
        s = gemm_timing(arch, sparse_kernel, m, n, k, cores=cores, ghz=ghz, mr=mr, nr=nr)
        out["n"].append(n)
        out["dense_s"].append(d.seconds)
        out["sparse_s"].append(s.seconds)
        out["speedup"].append(d.seconds / s.seconds)
        out["dense_bound"].append(d.bound)
        out["sparse_bound"].append(s.bound)
        if d.seconds > s.seconds:
            last_win = n
    out["sparse_wins_up_to_n"] = last_win
    return out
