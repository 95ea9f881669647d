"""CPU side of sparsesim: x86 cores running int8 / fp32 GEMM micro-kernels.

Beside the GPU engine (:mod:`sparsesim.timing`), sharing its result type
(:class:`~sparsesim.timing.result.SimResult`) and nothing of its model:

* :mod:`.config`       - the ``kind = "cpu"`` config schema (core, ports, instruction
  table, clocks, caches, DRAM); ``load_cpu_arch("xeon-8280")``;
* :mod:`.microkernels` - the instruction streams of the GEMM micro-kernels (exact
  assembly, what llvm-mca and the host benchmark read);
* :mod:`.portmodel`    - the SimPy execution-port model of one core (cycles per
  iteration and what bounds them);
* :mod:`.gemm`         - whole-GEMM time on a socket (port model + cache/DRAM traffic);
* :mod:`.mca`          - the model on llvm-mca's tables, and llvm-mca itself;
* :mod:`.driver`       - ``sparsesim.simulate`` on CPU archs (statistical and execution-
  driven: the int8 kernel the arch's ISA has runs on the operands).

``sparsesim.simulate`` imports :mod:`.driver` the first time it meets a CPU arch.
"""

from .config import CpuArch, cpu_archs, load_cpu_arch
from .gemm import CpuGemm, gemm_timing, sparse_crossover, weight_bytes
from .mca import llvm_mca_cycles, with_instructions
from .microkernels import KERNELS, build_kernel, emit_asm
from .portmodel import PortResult, simulate_kernel

__all__ = [
    "CpuArch",
    "CpuGemm",
    "KERNELS",
    "PortResult",
    "build_kernel",
    "cpu_archs",
    "emit_asm",
    "gemm_timing",
    "llvm_mca_cycles",
    "load_cpu_arch",
    "simulate_kernel",
    "sparse_crossover",
    "weight_bytes",
    "with_instructions",
]
