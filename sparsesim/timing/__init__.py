"""Timing layer: a SimPy model of sparse tensor-core GEMMs on GPU-like architectures.

``simulate(arch, m, n, k, dtype, pattern, density=None, mode="statistical")`` returns a
:class:`SimResult`.  Components (each a small pipelined unit with its own throughput and
latency, usable alone in a tiny SimPy environment): :mod:`.pipeline` (ports, units,
fetch), :mod:`.dram`, :mod:`.buffers` (L2, shared memory), :mod:`.decode`, :mod:`.mux`,
:mod:`.mac` (MAC array with Little's-law issue, accumulators); :mod:`.workload` is the
compute model (per-iteration demands, per-SM unit cycles, wave schedule, L2 reuse),
:mod:`.statistical` the per-slice density model, :mod:`.execdriven` the execution-driven
mode, :mod:`.engine` composes lockstep SM groups with fast-forward, :mod:`.full` the
per-SM, per-CTA reference (mode "full").
"""

from .driver import MODES, register_simulator, simulate
from .result import SimResult

__all__ = ["simulate", "register_simulator", "SimResult", "MODES"]
