"""``sparsesim.simulate`` on ``kind = "cpu"`` archs: the port model's GEMM time as the
engine's :class:`~sparsesim.timing.result.SimResult`."""

from __future__ import annotations

from ..errors import InputError
from .gemm import gemm_timing, weight_bytes
from .microkernels import build_kernel

def simulate_cpu_gemm(arch, m, n, k, dtype="int8", pattern="dense", density=None, cores=None, ghz=None):
    """CPU counterpart of :func:`sparsesim.timing.simulate`; returns its ``SimResult``.

    int8 uses VNNI when the core has it (else the 3-instruction AVX-512 sequence);
    ``pattern="2:4"`` uses the decompress-in-register kernel; fp32 the FMA kernel.
    """
    from .config import load_cpu_arch
    from ..patterns import parse_pattern
    from ..timing.result import SimResult

    arch = load_cpu_arch(arch)
    pat = parse_pattern(pattern, density) if not hasattr(pattern, "kind") else pattern
    if dtype == "fp32":
        if pat.kind != "dense":
            raise InputError("the CPU model has no sparse fp32 kernel; use dtype int8 for 2:4")
        kernel = "fp32"
    elif dtype == "int8":
        if pat.kind == "dense":
            kernel = "vnni" if arch.has_isa("avx512_vnni") else "avx512-int8"
        elif pat.kind == "nm" and (pat.n, pat.m) == (2, 4):
            kernel = "vnni-2to4"
        else:
            raise InputError(f"the CPU model runs dense or 2:4 int8 weights, got pattern {pattern!r}")
    else:
        raise InputError(f"the CPU model takes dtype int8 or fp32, got {dtype!r}")
    g = gemm_timing(arch, kernel, m, n, k, cores=cores, ghz=ghz)
    cycles = g.seconds * g.ghz * 1e9
    dram_c = {"a_values": g.dram_bytes["weight_values"], "a_metadata": g.dram_bytes["weight_metadata"],
              "b": g.dram_bytes["activations"], "c": g.dram_bytes["c"], "total": g.dram_bytes["total"]}
    wb = weight_bytes(kernel, m, k)
    comp = {"a_values": wb["values"], "a_metadata": wb["metadata"], "b": g.dram_bytes["activations"],
            "c": g.dram_bytes["c"]}
    comp["total"] = sum(comp.values())
    kern = build_kernel(kernel)
    return SimResult(
        arch=arch.name, m=m, n=n, k=k, dtype=dtype, pattern=str(pattern),
        density=0.5 if kernel == "vnni-2to4" else 1.0, mode="cpu-ports", cycles=cycles,
        seconds=g.seconds, bound=g.bound,
        utilization={"compute": g.compute_seconds / g.seconds, "dram": g.dram_seconds / g.seconds},
        dram_bytes=dram_c, compulsory_bytes=comp, tops=g.tops, ops=2.0 * g.macs,
        tile={"mr": kern.mr, "nr": kern.nr, "m_per_tile": 16 * kern.nr, "n_per_tile": kern.mr},
        waves=1, ctas=g.cores, ctas_per_sm=1, datapath=f"x86 {kernel}",
        kernel_cycles=g.iterations_per_core * g.cycles_per_iteration,
    )


def _simulate_from_driver(arch, m, n, k, dtype, pattern, density=None, mode="statistical", format=None,
                          encoding=None, tile=None, a=None, b=None):
    """Adapter so ``sparsesim.simulate`` on a CPU arch lands here (statistical mode only)."""


    if mode != "statistical" or a is not None or b is not None or tile is not None:
        raise InputError(f"CPU archs are simulated in statistical mode only (got mode={mode!r})")
    if format not in (None,) or encoding not in (None, "index"):
        raise InputError("CPU kernels take dense or 2:4 operands with the hardware index metadata")
    return simulate_cpu_gemm(arch, m, n, k, dtype, pattern, density)


def _register():
    from ..timing.driver import register_simulator

    register_simulator("cpu", _simulate_from_driver)


_register()
