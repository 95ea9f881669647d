"""Timing layer: a SimPy model of sparse tensor-core GEMMs on GPU-like architectures.

``simulate(arch, m, n, k, dtype, pattern, density=None, mode="statistical")`` returns a
:class:`SimResult`.  Components (each a small pipelined SimPy unit): :mod:`.dram`,
:mod:`.buffers` (L2, shared memory, stage buffers), :mod:`.decode`, :mod:`.mux`,
:mod:`.mac`; :mod:`.workload` is the compute model (per-iteration demands, wave
schedule, L2 reuse), :mod:`.statistical` the per-slice density model,
:mod:`.execdriven` the execution-driven mode, :mod:`.engine` composes them.
"""

from .driver import MODES, register_simulator, simulate
from .limits import Limits
from .result import SimResult

__all__ = ["simulate", "register_simulator", "SimResult", "MODES", "Limits"]
