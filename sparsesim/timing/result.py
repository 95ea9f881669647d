"""The result of one simulated GEMM: time, bound, utilization, traffic, action counts."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class SimResult:
    """Timing of C[m x n] = A[m x k] . B[k x n] on one architecture.

    ``cycles`` are SM clock cycles at the sustained clock; ``seconds`` include the
    kernel launch overhead.  ``utilization`` maps each modeled unit (``tensor``,
    ``decode``, ``mux``, ``smem``, ``l2``, ``dram``) to its busy fraction over the
    kernel's execution.  ``bound`` names what limits the kernel: the busiest unit
    (``compute`` for the MAC array), ``launch`` when launch overhead dominates, or
    ``latency`` when no unit is busy most of the time (fill/drain dominated).
    ``dram_bytes`` has ``a_values``, ``a_metadata``, ``b``, ``c`` and ``total`` (bytes
    moved to/from DRAM, compulsory plus re-reads); ``compulsory_bytes`` the same keys
    for reading every operand once.  ``actions`` counts per-unit actions (MACs,
    metadata decodes, mux selects - one per multiply - and mux lane selects - routed
    operand lanes of ``mux_operand_bits``, two int8 values per 16-bit lane -, bytes per
    memory level) for energy models.  ``events``: SimPy events processed (a chain that
    owns its units takes one per iteration).
    ``energy_j`` (joules, static included), ``energy_breakdown_j`` (by unit),
    ``avg_power_w`` (energy / seconds) and ``area`` (dense tensor-core datapath and sparse
    additions, :mod:`sparsesim.cost`) are set when the arch has a ``[technology]`` table.
    ``clock_mhz`` is the SM clock the kernel runs at: the clock ceiling
    (``clock.sustained_mhz``), or lower where the board's power limit binds
    (``clock_limit``: "clock", "power", or "floor" when even the lowest clock exceeds it);
    ``vdd_v`` the core supply there, ``power_w`` the board power while the kernel runs
    (``power_limit_w`` the board's limit, ``boost_power_w`` the power at the ceiling).
    ``cycles``, ``seconds`` and ``utilization`` are at ``clock_mhz``.
    """

    arch: str
    m: int
    n: int
    k: int
    dtype: str
    pattern: str
    density: float
    mode: str
    cycles: float
    seconds: float
    bound: str
    utilization: dict
    dram_bytes: dict
    compulsory_bytes: dict
    tops: float
    ops: float
    tile: dict
    waves: int
    ctas: int
    ctas_per_sm: int
    datapath: str
    format: str | None = None
    launch_seconds: float = 0.0
    kernel_cycles: float = 0.0
    actions: dict = field(default_factory=dict)
    passes_per_slice: float = 1.0
    simulated_waves: int = 0
    events: int = 0
    fast_forwarded_iterations: int = 0
    tile_cycles: list | None = None
    energy_j: float | None = None
    energy_breakdown_j: dict | None = None
    avg_power_w: float | None = None
    area: dict | None = None
    kernel: dict | None = None  # the library kernel that won (sparsesim.timing.library) and why
    clock_mhz: float | None = None
    vdd_v: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    boost_power_w: float | None = None
    clock_limit: str | None = None
    output: object = None  # exec mode: the bit-exact product (numpy array), not serialized
    exec_stats: dict | None = None  # exec mode: items run and skipped, non-zeros, L2 bytes, wall time

    @property
    def tflops(self) -> float:
        """Achieved tera-operations per second (2 per MAC of the dense-equivalent GEMM)."""
        return self.tops

    @property
    def microseconds(self) -> float:
        return self.seconds * 1e6

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("output", None)
        d["tflops"] = self.tops
        d["microseconds"] = self.microseconds
        return d

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), **kw)
