"""Architecture descriptions: typed schemas by ``kind`` and the TOML loader.

``load_arch("a100")`` reads ``arch_configs/a100.toml`` (applying its ``base`` chain)
and returns a validated, frozen dataclass; ``derive(arch, {"dram.bandwidth_gbps": 900})``
makes a modified copy; ``available_archs()`` lists the configs found.  New kinds
register their root dataclass with :func:`register_kind` from their own module
(``sparsesim.arch.<kind>``, or the package named in ``load._KIND_SCHEMAS``: "cpu" is
:mod:`sparsesim.cpu.config`).
"""

from .load import arch_to_dict, available_archs, build_arch, derive, load_arch, search_path
from .schema import (
    DTYPE_BITS,
    DTYPE_BYTES,
    DTYPES,
    GpuArch,
    GpuBoard,
    GpuClock,
    GpuDram,
    GpuEfficiency,
    GpuL2,
    GpuLaunch,
    GpuSm,
    GpuTechnology,
    GpuTensorCore,
    GpuTiles,
    GpuTileShape,
    register_kind,
    registered_kinds,
)

__all__ = [
    "load_arch",
    "derive",
    "available_archs",
    "arch_to_dict",
    "build_arch",
    "search_path",
    "register_kind",
    "registered_kinds",
    "DTYPES",
    "DTYPE_BYTES",
    "DTYPE_BITS",
    "GpuArch",
    "GpuBoard",
    "GpuClock",
    "GpuDram",
    "GpuEfficiency",
    "GpuL2",
    "GpuLaunch",
    "GpuSm",
    "GpuTechnology",
    "GpuTensorCore",
    "GpuTiles",
    "GpuTileShape",
]
