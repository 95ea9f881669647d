"""Typed architecture descriptions and the registry of schemas by ``kind``.

An architecture config is a TOML document whose top-level ``kind`` key names the
schema it follows ("gpu" here).  Each schema is a frozen dataclass whose fields
are plain types (``int``, ``float``, ``str``, ``bool``), nested schema dataclasses
(TOML tables), tuples of dataclasses (TOML arrays of tables) or ``dict[str, T]``
(TOML tables with free keys, optionally restricted to a set of allowed keys).
The loader (:mod:`sparsesim.arch.load`) validates a document against the
dataclass of its kind: an unknown key, a missing key or a value of the wrong type
raises :class:`~sparsesim.errors.ConfigError` naming the file, the dotted key and
the expected type.

Other kinds register beside "gpu" without touching this module: a module
``sparsesim.arch.<kind>`` (or one named in ``load._KIND_SCHEMAS``, e.g. ``sparsesim/cpu/config.py``) calls
:func:`register_kind` at import time; the loader imports that module the first
time it meets a config of that kind.

The GPU description models an NVIDIA-style chip: streaming multiprocessors (SMs),
each with a few tensor cores, a register file and a shared memory; a shared L2;
HBM DRAM.  Units are in the field names (``_mhz``, ``_kib``, ``_bytes_per_cycle``,
``_cycles``, ``_gbps`` = 1e9 bytes/s, ``_us``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

# kind -> root dataclass
_KINDS: dict[str, type] = {}

# Operand types a tensor core may take (``tensor_core.dense_macs_per_cycle`` keys): fp8 is e4m3,
# fp4 is e2m1 (two values per byte), tf32 is stored as a 4-byte fp32 and rounded in the MMA.
DTYPES = ("int8", "fp8", "fp16", "bf16", "tf32", "fp4")
DTYPE_BITS = {"int8": 8, "fp8": 8, "fp16": 16, "bf16": 16, "tf32": 32, "fp4": 4, "fp32": 32, "int32": 32}
# Storage bytes per element (fp4: half a byte; packed two per byte).
DTYPE_BYTES = {d: (b // 8 if b >= 8 else b / 8) for d, b in DTYPE_BITS.items()}
# Bits one metadata index selects in the sparse operand path (PTX mma.sp): the element itself for
# 8- and 16-bit types; tf32 1:2 is 2:4 over 16-bit halves (two indices per kept value) and fp4
# "paired 4:8" is 2:4 over byte pairs (one index per two kept values).
SELECT_BITS = {"int8": 8, "fp8": 8, "fp16": 16, "bf16": 16, "tf32": 16, "fp4": 8}
# Why a dtype that is not a tensor-core operand type is refused (the timing model times tensor-core GEMMs).
NOT_TENSOR_DTYPES = {
    "fp32": "plain fp32 GEMMs run on the CUDA cores, which this model does not time; tensor cores take fp32 "
            "operands only rounded to tf32 (cuBLAS CUBLAS_COMPUTE_32F_FAST_TF32, torch allow_tf32): use dtype tf32",
}


def elements_in(nbytes: int, dtype: str) -> int:
    """Elements of ``dtype`` in ``nbytes`` bytes (packed: two fp4 values per byte)."""
    return nbytes * 8 // DTYPE_BITS[dtype]


def register_kind(kind: str, root: type) -> None:
    """Register the root dataclass ``root`` as the schema of configs with ``kind``.

    ``root`` must be a dataclass with the fields ``name: str`` and ``kind: str``
    (set by the loader) plus its own tables.  Registering the same class twice is
    harmless; registering a different class under a taken kind raises ValueError.
    """
    if not dataclasses.is_dataclass(root):
        raise TypeError(f"schema for kind {kind!r} must be a dataclass, got {root!r}")
    names = {f.name for f in dataclasses.fields(root)}
    for need in ("name", "kind", "description"):
        if need not in names:
            raise TypeError(f"schema {root.__name__} for kind {kind!r} lacks the field {need!r}")
    old = _KINDS.get(kind)
    if old is not None and old is not root:
        raise ValueError(f"architecture kind {kind!r} is already registered to {old.__name__}")
    _KINDS[kind] = root


def registered_kinds() -> dict[str, type]:
    return dict(_KINDS)


def schema_for(kind: str):
    """Root dataclass of ``kind`` or None (the loader tries to import the kind's module)."""
    return _KINDS.get(kind)


def _fractions(obj, names, table, where):
    from ..errors import ConfigError

    for n in names:
        v = getattr(obj, n)
        if not (0.0 < v <= 1.0):
            raise ConfigError(f"{where}: key '{table}.{n}': expected a float fraction in (0, 1], got {v!r}")


def doc(text: str, **extra):
    """Field metadata helper: ``field(metadata=doc("..."))``."""
    return {"doc": text, **extra}


# --------------------------------------------------------------------------------------
# GPU schema
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuClock:
    boost_mhz: float = field(metadata=doc("boost clock the tensor-core peaks are quoted at"))
    sustained_mhz: float = field(
        metadata=doc("clock ceiling of a kernel (boost, or an application clock locked below or above it); the "
                     "board's power limit lowers the clock further where it binds (sparsesim.cost.power)")
    )


@dataclass(frozen=True)
class GpuBoard:
    """The board the chip sits on: what limits its sustained clock."""

    power_limit_w: float = field(
        metadata=doc("board power limit (TDP / TGP): the sustained power the board's limiter holds")
    )
    memory_clock_mhz: float = field(
        metadata=doc("DRAM clock of the board (as nvidia-smi / the datasheet quote it); dram.bandwidth_gbps "
                     "follows from it and the bus width, and the power limiter does not move it")
    )


@dataclass(frozen=True)
class GpuSm:
    count: int = field(metadata=doc("streaming multiprocessors enabled on the product"))
    tensor_cores_per_sm: int = field(metadata=doc("tensor cores per SM"))
    register_file_kib: int = field(metadata=doc("register file per SM"))
    shared_memory_kib: int = field(metadata=doc("largest shared-memory carve-out one SM offers"))
    shared_memory_bytes_per_cycle: int = field(metadata=doc("shared-memory bandwidth per SM"))
    shared_memory_latency_cycles: int = field(metadata=doc("shared-memory load latency"))
    max_ctas_per_sm: int = field(metadata=doc("resident thread blocks per SM (hardware limit)"))


@dataclass(frozen=True)
class GpuTensorCore:
    """The tensor core datapath.  The sparse additions (index decoder, operand
    multiplexers) are not configured directly: :func:`sparsesim.arch.datapath.sparse_datapath`
    derives their fan-in, levels, latency and width from the pattern, the index scheme and
    the per-level delays below."""

    dense_macs_per_cycle: dict = field(
        metadata=doc("dense multiply-accumulates per cycle per tensor core, by operand dtype",
                     value_type=int, allowed_keys=DTYPES)
    )
    mma_latency_cycles: int = field(metadata=doc("issue-to-result latency of one dense warp-level MMA"))
    sparse_n: int = field(metadata=doc("N of the N:M pattern the sparse tensor core executes"))
    sparse_m: int = field(metadata=doc("M of the N:M pattern the sparse tensor core executes"))
    sparse_speedup: float = field(metadata=doc("peak sparse / dense MAC-throughput ratio"))
    index_scheme: str = field(
        metadata=doc("kept-value indices: 'ordered' (value i of a group sits at positions i .. i+M-N, "
                     "an (M-N+1):1 mux per lane) or 'crossbar' (any of M positions, an M:1 mux)")
    )
    metadata_bits: int = field(metadata=doc("metadata bits per kept value (its index within the group)"))
    mux_delay_ps_per_level: float = field(metadata=doc("delay of one level of 2:1 multiplexers (ps)"))
    decode_delay_ps_per_level: float = field(metadata=doc("delay of one level of 2-input gates of the index decoder (ps)"))
    select_stage_slack_ps: float = field(
        metadata=doc("logic time one pipeline stage of the select path holds at the sustained clock (ps): "
                     "the slack the dense operand-delivery stage leaves; more logic costs more stages")
    )
    mux_instances: int = field(
        metadata=doc("operand multiplexers per tensor core (one per multiplier input lane; fewer bind)")
    )
    decoder_bits_per_cycle: int = field(
        metadata=doc("metadata bits per cycle per tensor core the index decoder reads (its register port); "
                     "indices per cycle = this / metadata_bits")
    )
    unstructured_decode_per_cycle: int = field(
        metadata=doc("unstructured (CSR/CSB/bitmask) non-zeros re-encoded to N:M per cycle per SM")
    )
    sparse_patterns: dict = field(
        default=None,
        metadata=doc("N:M pattern a dtype's sparse MMA takes where it differs from sparse_n:sparse_m: "
                     "tf32 '1:2' (2:4 over 16-bit halves), fp4 '4:8' (paired: 2:4 over byte pairs)",
                     value_type=str, allowed_keys=DTYPES)
    )

    def check(self, where):
        from ..errors import ConfigError
        from .datapath import INDEX_SCHEMES, index_positions

        n, m = self.sparse_n, self.sparse_m
        if not (n < m and m & (m - 1) == 0):
            raise ConfigError(f"{where}: keys 'tensor_core.sparse_n/sparse_m': expected N < M, M a power of two; got {n}:{m}")
        if self.index_scheme not in INDEX_SCHEMES:
            raise ConfigError(f"{where}: key 'tensor_core.index_scheme': expected one of "
                              f"{', '.join(INDEX_SCHEMES)}, got {self.index_scheme!r}")
        positions = index_positions(self.index_scheme, n, m)
        if self.metadata_bits < (positions - 1).bit_length():
            raise ConfigError(
                f"{where}: key 'tensor_core.metadata_bits': {self.metadata_bits} bits cannot name the "
                f"{positions} positions a kept value may take in {n}:{m} with {self.index_scheme} indices"
            )
        for dtype, spec in (self.sparse_patterns or {}).items():
            try:
                pn, pm = (int(x) for x in spec.split(":"))
            except ValueError:
                pn = pm = 0
            if not (0 < pn < pm) or pn * self.sparse_m != pm * self.sparse_n:
                raise ConfigError(
                    f"{where}: key 'tensor_core.sparse_patterns.{dtype}': expected 'N:M' at the density of "
                    f"{n}:{m} (the same datapath on other lanes), got {spec!r}")
        if self.decoder_bits_per_cycle < self.metadata_bits:
            raise ConfigError(
                f"{where}: key 'tensor_core.decoder_bits_per_cycle': {self.decoder_bits_per_cycle} bits per "
                f"cycle cannot carry one {self.metadata_bits}-bit index"
            )


@dataclass(frozen=True)
class GpuL2:
    size_mib: float = field(metadata=doc("L2 capacity"))
    bytes_per_cycle: int = field(metadata=doc("aggregate L2 read bandwidth (bytes per SM clock)"))
    latency_cycles: int = field(metadata=doc("L2 hit latency"))
    usable_fraction: float = field(
        metadata=doc("fraction of L2 a GEMM's operands can keep resident (rest: C, conflicts)")
    )

    def check(self, where):
        _fractions(self, ("usable_fraction",), "l2", where)


@dataclass(frozen=True)
class GpuDram:
    bandwidth_gbps: float = field(metadata=doc("peak DRAM bandwidth, 1e9 bytes/s"))
    latency_ns: float = field(metadata=doc("load-to-use latency of a DRAM access"))
    channels: int = field(metadata=doc("memory controllers (independent channels)"))
    size_gib: float = field(metadata=doc("capacity"))


@dataclass(frozen=True)
class GpuEfficiency:
    tensor_dense: float = field(metadata=doc("achievable fraction of dense tensor-core peak"))
    tensor_sparse: float = field(metadata=doc("achievable fraction of sparse tensor-core peak"))
    dram: float = field(metadata=doc("achievable fraction of peak DRAM bandwidth"))

    def check(self, where):
        _fractions(self, ("tensor_dense", "tensor_sparse", "dram"), "efficiency", where)


@dataclass(frozen=True)
class GpuLaunch:
    overhead_us: float = field(metadata=doc("host-to-first-instruction cost of one kernel launch"))
    cta_launch_cycles: int = field(metadata=doc("cycles to start a thread block on a free SM"))


@dataclass(frozen=True)
class GpuTileShape:
    cta_m: int = field(metadata=doc("thread-block tile rows (of A and C)"))
    cta_n: int = field(metadata=doc("thread-block tile columns (of B and C)"))
    cta_k: int = field(metadata=doc("reduction depth of one main-loop iteration"))
    warp_m: int = field(metadata=doc("warp tile rows"))
    warp_n: int = field(metadata=doc("warp tile columns"))
    stages: int = field(default=None, metadata=doc(
        "shared-memory pipeline stages of this kernel (default: the family's, or tiles.stages)"))

    def check(self, where):
        from ..errors import ConfigError

        if self.cta_m % self.warp_m or self.cta_n % self.warp_n:
            raise ConfigError(
                f"{where}: key 'tiles.candidates': warp tile {self.warp_m}x{self.warp_n} must divide "
                f"the CTA tile {self.cta_m}x{self.cta_n}"
            )
        if self.cta_k % 16:
            raise ConfigError(f"{where}: key 'tiles.candidates': cta_k={self.cta_k} must be a multiple of 16")

    @property
    def warps(self) -> int:
        return (self.cta_m // self.warp_m) * (self.cta_n // self.warp_n)


@dataclass(frozen=True)
class GpuTiles:
    stages: int = field(metadata=doc("shared-memory pipeline stages (multi-buffering depth)"))
    warp_tile_warps: int = field(
        metadata=doc("warps that execute one warp tile: 1 (mma.sync: one warp, one tensor core) or "
                     "4 (wgmma: a warpgroup spanning the SM's four sub-partitions)")
    )
    raster_group_rows: int = field(
        metadata=doc("tile rows launched together before moving to the next columns (threadblock swizzle)")
    )
    candidates: tuple = field(metadata=doc("tile shapes the GEMM library chooses from", item_type=GpuTileShape))


MAINLOOPS = {
    # main loop -> warps that execute one warp tile (one tensor core each)
    "multistage": 1,  # cp.async stages, ldmatrix, warp-level mma.sync / mma.sp (sm80, sm86, sm89, sm120)
    "wgmma": 4,       # TMA, warp-specialized warpgroups issuing wgmma / wgmma.sp from shared memory (sm90)
    "tcgen05": 4,     # TMA, one thread issuing tcgen05.mma per CTA tile, accumulators in tensor memory (sm100)
}
KERNEL_OPS = ("dense", "sparse")


@dataclass(frozen=True)
class GpuKernelFamily:
    """One family of a GEMM library's kernels: a main loop, its tile shapes and the work
    decompositions the library's algorithm search may pick (split-K, stream-K)."""

    name: str = field(metadata=doc("the library and kernel family, as printed in results"))
    op: str = field(metadata=doc("'dense' (cuBLASLt) or 'sparse' (cuSPARSELt, the hardware N:M pattern)"))
    mainloop: str = field(metadata=doc("'multistage', 'wgmma' or 'tcgen05' (see MAINLOOPS)"))
    stages: int = field(metadata=doc("shared-memory pipeline stages of tiles that do not set their own"))
    split_k_max: int = field(metadata=doc("largest split-K factor searched (powers of two up to it; 1: none)"))
    stream_k: bool = field(metadata=doc("the library also has a stream-K schedule of these tiles"))
    cluster_m: int = field(metadata=doc("CTAs along M of a thread-block cluster sharing each B tile (TMA multicast)"))
    cluster_n: int = field(metadata=doc("CTAs along N of a cluster sharing each A tile (TMA multicast)"))
    raster_group_rows: int = field(metadata=doc(
        "tile rows launched together before the next columns (1: along N; a large value: down all of M first)"))
    tiles: tuple = field(metadata=doc("the family's tile shapes", item_type=GpuTileShape))
    dtypes: str = field(default="", metadata=doc("comma-separated dtypes the family serves (default: all)"))
    fill_smem: bool = field(default=False, metadata=doc(
        "stages chosen to fill shared memory (CUTLASS 3 StageCountAutoCarveout) instead of `stages`"))

    def serves(self, dtype: str) -> bool:
        return not self.dtypes or dtype in {d.strip() for d in self.dtypes.split(",")}

    @property
    def warp_tile_warps(self) -> int:
        return MAINLOOPS[self.mainloop]

    def check(self, where):
        from ..errors import ConfigError

        key = f"library.kernels ({self.name})"
        if self.op not in KERNEL_OPS:
            raise ConfigError(f"{where}: key '{key}.op': expected one of {', '.join(KERNEL_OPS)}, got {self.op!r}")
        if self.mainloop not in MAINLOOPS:
            raise ConfigError(f"{where}: key '{key}.mainloop': expected one of {', '.join(MAINLOOPS)}, "
                              f"got {self.mainloop!r}")
        bad = [d for d in (x.strip() for x in self.dtypes.split(",")) if d and d not in DTYPES]
        if bad:
            raise ConfigError(f"{where}: key '{key}.dtypes': unknown dtype {bad[0]!r}; expected some of "
                              f"{', '.join(DTYPES)}")


@dataclass(frozen=True)
class GpuLibrary:
    """The GEMM libraries' kernels (cuBLASLt for dense, cuSPARSELt for N:M sparse): each
    timed GEMM picks the fastest candidate, as the libraries' algorithm search does."""

    kernels: tuple = field(metadata=doc("kernel families", item_type=GpuKernelFamily))


@dataclass(frozen=True)
class GpuTechnology:
    """Process and memory technology: what ``sparsesim.cost`` prices actions and area with."""

    node: str = field(metadata=doc("process node: a table of sparsesim.cost (n45, n7, n5, n4) or a table file path"))
    dram: str = field(metadata=doc("DRAM technology: hbm2, hbm2e, hbm3, gddr6, gddr6x or gddr7"))
    static_w: float = field(
        metadata=doc("board power that no action accounts for: leakage at load temperature, clock "
                     "distribution, idle uncore, DRAM background and regulator losses")
    )
    vdd_v: float = field(default=None, metadata=doc("core supply at the boost clock (default: the node's nominal); "
                                                   "lower clocks run at the supply the node's delay law gives"))
    array_energy_factor: float = field(
        default=None,
        metadata=doc("energy of one tensor-core lane per multiply (operand distribution, adder tree, pipeline "
                     "registers) over its bare multiply-add; the one power parameter calibration may fit "
                     "(default sparsesim.cost.DEFAULT_ARRAY_ENERGY_FACTOR)"))
    energy_pj: dict = field(
        default=None, metadata=doc("overrides of energies per action, pJ at vdd_v (see sparsesim.cost.ENERGY_OVERRIDES)",
                                   value_type=float)
    )
    area_um2: dict = field(
        default=None, metadata=doc("overrides of areas, um^2 (see sparsesim.cost.AREA_OVERRIDES)", value_type=float)
    )

    def check(self, where):
        from ..cost import AREA_OVERRIDES, ENERGY_OVERRIDES, dram_pj_per_bit, load_node
        from ..errors import ConfigError

        if self.array_energy_factor is not None and self.array_energy_factor < 1.0:
            raise ConfigError(f"{where}: key 'technology.array_energy_factor': expected at least 1 (the bare "
                              f"multiply-add), got {self.array_energy_factor!r}")
        for key, fn in (("node", load_node), ("dram", dram_pj_per_bit)):
            try:
                fn(getattr(self, key))
            except ConfigError as exc:
                raise ConfigError(f"{where}: key 'technology.{key}': {exc}") from None
        for table, allowed in (("energy_pj", ENERGY_OVERRIDES), ("area_um2", AREA_OVERRIDES)):
            for k in getattr(self, table) or {}:
                if k not in allowed:
                    raise ConfigError(f"{where}: unknown key 'technology.{table}.{k}'; expected one of: "
                                      f"{', '.join(allowed)}")


@dataclass(frozen=True)
class GpuArch:
    """Root of a ``kind = "gpu"`` config."""

    name: str = field(metadata=doc("short name"))
    kind: str = field(metadata=doc("schema kind: gpu"))
    description: str = field(metadata=doc("product the numbers describe"))
    clock: GpuClock = field(metadata=doc("clocks"))
    sm: GpuSm = field(metadata=doc("streaming multiprocessor"))
    tensor_core: GpuTensorCore = field(metadata=doc("tensor core datapath"))
    l2: GpuL2 = field(metadata=doc("L2 cache"))
    dram: GpuDram = field(metadata=doc("DRAM"))
    efficiency: GpuEfficiency = field(metadata=doc("achievable fractions of peak (calibration knobs)"))
    launch: GpuLaunch = field(metadata=doc("kernel and thread-block launch"))
    tiles: GpuTiles = field(metadata=doc("GEMM tiling the kernels use"))
    technology: GpuTechnology = field(
        default=None, metadata=doc("process node, supply, DRAM technology and static power (energy and area)")
    )
    library: GpuLibrary = field(
        default=None, metadata=doc("GEMM library kernel families (default: the [tiles] candidates, data-parallel)")
    )
    board: GpuBoard = field(
        default=None, metadata=doc("board power limit and memory clock (without it the clock is never power-capped)")
    )
    source: str = field(default="", metadata=doc("file the config was loaded from (set by the loader)"))

    # ---- derived quantities (hardware terms) ----
    @property
    def clock_hz(self) -> float:
        return self.clock.sustained_mhz * 1e6

    def dense_macs_per_cycle_sm(self, dtype: str) -> int:
        return self.tensor_core.dense_macs_per_cycle[dtype] * self.sm.tensor_cores_per_sm

    def peak_ops(self, dtype: str, sparse: bool = False, clock: str = "boost") -> float:
        """Peak operations/s (2 per MAC) at the boost (``clock="boost"``) or sustained clock."""
        mhz = self.clock.boost_mhz if clock == "boost" else self.clock.sustained_mhz
        f = self.tensor_core.sparse_speedup if sparse else 1.0
        return 2.0 * self.dense_macs_per_cycle_sm(dtype) * self.sm.count * mhz * 1e6 * f

    def supports(self, dtype: str) -> bool:
        return dtype in self.tensor_core.dense_macs_per_cycle

    def refusal(self, dtype: str) -> str | None:
        """Why this GPU's tensor cores cannot run ``dtype`` (None when they can), naming those they take."""
        if self.supports(dtype):
            return None
        have = ", ".join(self.tensor_core.dense_macs_per_cycle)
        why = NOT_TENSOR_DTYPES.get(dtype)
        if why is not None:
            return f"{dtype}: {why}; {self.name} tensor cores take {have}"
        if dtype in DTYPES:
            return f"{self.name} tensor cores do not take {dtype}; they take {have}"
        return f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}; {self.name} tensor cores take {have}"

    def sparse_pattern(self, dtype: str) -> tuple:
        """(N, M) of the sparse MMA of ``dtype``: tensor_core.sparse_patterns, else sparse_n:sparse_m."""
        tc = self.tensor_core
        spec = (tc.sparse_patterns or {}).get(dtype)
        if spec is None:
            return tc.sparse_n, tc.sparse_m
        n, m = spec.split(":")
        return int(n), int(m)


register_kind("gpu", GpuArch)
