"""``sparsesim.simulate`` on ``kind = "cpu"`` archs: the port model's GEMM time as the
engine's :class:`~sparsesim.timing.result.SimResult`.

The kernel is the one the arch's ISA allows: dense int8 runs VPDPBUSD where the core
has AVX512_VNNI, else the 3-instruction sequence; 2:4 int8 runs the fastest 2:4 kernel
the core can execute (:data:`TWO_FOUR_KERNELS`, timed by the port model for this GEMM,
as a library's autotuner would pick); fp32 the FMA kernel.  In mode ``"exec"`` the same
kernel also runs functionally on the operands (:mod:`.execution`) and ``output`` holds C.
"""

from __future__ import annotations

from ..errors import InputError
from .gemm import gemm_timing, weight_bytes
from .microkernels import KERNEL_ISA, MUX_KERNELS, build_kernel

MODES = ("statistical", "exec")
#: 2:4 int8 kernels, in the order ties are broken.
TWO_FOUR_KERNELS = ("vnni-2to4", "vnni-2to4-mux", "avx512-int8-2to4-mux")


def _runs(arch, kernel) -> bool:
    return arch.has_isa(*KERNEL_ISA[kernel])


def _padded(k: int, kernel: str) -> int:
    """K as the kernel runs it: zero-padded to whole iterations."""
    step = build_kernel(kernel).k_per_iteration
    return -(-k // step) * step


def choose_kernel(arch, m, n, k, dtype, pat, cores=None, ghz=None) -> str:
    """The micro-kernel simulated (and, in exec mode, run) for this GEMM on ``arch``."""
    if dtype == "fp32":
        if pat.kind != "dense":
            raise InputError("the CPU model has no sparse fp32 kernel; use dtype int8 for 2:4")
        return "fp32"
    if dtype != "int8":
        raise InputError(f"the CPU model takes dtype int8 or fp32, got {dtype!r}")
    if pat.kind == "dense":
        return "vnni" if _runs(arch, "vnni") else "avx512-int8"
    if not (pat.kind == "nm" and (pat.n, pat.m) == (2, 4)):
        raise InputError(f"the CPU model runs dense or 2:4 int8 weights, got pattern {pat}")
    usable = [kn for kn in TWO_FOUR_KERNELS if _runs(arch, kn)]
    if not usable:
        need = sorted({e for kn in TWO_FOUR_KERNELS for e in KERNEL_ISA[kn]} - arch.core.isa_set())
        raise InputError(f"{arch.name} ({arch.description}) lacks {', '.join(need)}, which every 2:4 int8 kernel "
                         "needs")
    times = [(gemm_timing(arch, kn, m, n, _padded(k, kn), cores=cores, ghz=ghz).seconds, i, kn)
             for i, kn in enumerate(usable)]
    return min(times)[2]


def _actions(kernel, m, n, k, g):
    multiplies = m * n * k // 2 if kernel in MUX_KERNELS else m * n * k
    return {"macs_dense_equivalent": m * n * k, "multiplies": multiplies,
            "kernel_iterations": g.iterations_per_core * g.cores,
            "dram_read_bytes": g.dram_bytes["total"] - g.dram_bytes["c"], "dram_write_bytes": g.dram_bytes["c"]}


def simulate_cpu_gemm(arch, m, n, k, dtype="int8", pattern="dense", density=None, cores=None, ghz=None,
                      mode="statistical", a=None, b=None):
    """CPU counterpart of :func:`sparsesim.timing.simulate`; returns its ``SimResult``.

    ``mode="exec"`` (int8 only): ``a`` the weights W (m x k int8, 2:4 along k for
    pattern "2:4"), ``b`` the activations X (k x n, int8 or uint8); the chosen kernel
    computes C = W . X bit-exactly as the instructions do (``result.output``) and
    ``actions["s16_saturated_outputs"]`` counts the outputs the 3-instruction
    sequence's s16 saturation changed.  Bad operands raise before any work.
    """
    from ..patterns import parse_pattern
    from ..timing.result import SimResult
    from .config import load_cpu_arch
    from .execution import check_operands, run_kernel, saturated_outputs

    arch = load_cpu_arch(arch)
    for label, v in (("m", m), ("n", n), ("k", k)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise InputError(f"GEMM dimension {label} must be a positive integer, got {v!r}")
    if mode not in MODES:
        raise InputError(f"CPU archs are simulated in mode 'statistical' or 'exec', got mode={mode!r}")
    pat = parse_pattern(pattern, density) if not hasattr(pattern, "kind") else pattern
    if mode == "exec":
        if dtype != "int8":
            raise InputError(f"mode 'exec' on CPU archs runs the int8 kernels; got dtype {dtype!r}")
        if pat.kind not in ("dense", "nm") or (pat.kind == "nm" and (pat.n, pat.m) != (2, 4)):
            raise InputError(f"the CPU model runs dense or 2:4 int8 weights, got pattern {pat}")
        a, b = check_operands(arch.name, m, n, k, pat.kind == "nm", a, b)
    elif a is not None or b is not None:
        raise InputError("operand arrays a= and b= are used only with mode='exec'")
    kernel = choose_kernel(arch, m, n, k, dtype, pat, cores, ghz)
    kp = _padded(k, kernel)
    g = gemm_timing(arch, kernel, m, n, kp, cores=cores, ghz=ghz)
    actions = _actions(kernel, m, n, kp, g)
    output = None
    if mode == "exec":
        output = run_kernel(kernel, a, b)
        actions["s16_saturated_outputs"] = saturated_outputs(kernel, output, a, b)
    cycles = g.seconds * g.ghz * 1e9
    dram_c = {"a_values": g.dram_bytes["weight_values"], "a_metadata": g.dram_bytes["weight_metadata"],
              "b": g.dram_bytes["activations"], "c": g.dram_bytes["c"], "total": g.dram_bytes["total"]}
    wb = weight_bytes(kernel, m, kp)
    comp = {"a_values": wb["values"], "a_metadata": wb["metadata"], "b": g.dram_bytes["activations"],
            "c": g.dram_bytes["c"]}
    comp["total"] = sum(comp.values())
    kern = build_kernel(kernel)
    res = SimResult(
        arch=arch.name, m=m, n=n, k=k, dtype=dtype, pattern=str(pattern),
        density=0.5 if kernel in TWO_FOUR_KERNELS else 1.0, mode="cpu-ports" if mode == "statistical" else "exec",
        cycles=cycles, seconds=g.seconds, bound=g.bound,
        utilization={"compute": g.compute_seconds / g.seconds, "dram": g.dram_seconds / g.seconds},
        dram_bytes=dram_c, compulsory_bytes=comp, tops=2.0 * m * n * k / g.seconds / 1e12, ops=2.0 * m * n * k,
        tile={"mr": kern.mr, "nr": kern.nr, "m_per_tile": 16 * kern.nr, "n_per_tile": kern.mr},
        waves=1, ctas=g.cores, ctas_per_sm=1, datapath=f"x86 {kernel}",
        kernel_cycles=g.iterations_per_core * g.cycles_per_iteration, actions=actions,
    )
    res.output = output
    return res


def _simulate_from_driver(arch, m, n, k, dtype, pattern, density=None, mode="statistical", format=None,
                          encoding=None, tile=None, a=None, b=None):
    """Adapter so ``sparsesim.simulate`` on a CPU arch lands here."""
    if tile is not None:
        raise InputError("CPU archs take no tile= (the micro-kernel's register blocking is fixed per kernel)")
    if format not in (None,) or encoding not in (None, "index"):
        raise InputError("CPU kernels take dense or 2:4 operands with the hardware index metadata")
    return simulate_cpu_gemm(arch, m, n, k, dtype, pattern, density, mode=mode, a=a, b=b)


def _register():
    from ..timing.driver import register_simulator

    register_simulator("cpu", _simulate_from_driver)


_register()
