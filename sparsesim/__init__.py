"""sparsesim: a cycle-approximate simulator and design-space explorer for sparse
tensor-core datapaths (2:4, 4:8, unstructured CSR/CSB, dense).

Importing the package is cheap: the Numba kernels compile on first use, and the
heavier subpackages load only when their names are first touched.
"""

from .errors import ConfigError, FileError, FormatError, InputError, LimitError, PatternError, SparsesimError
from .patterns import Pattern, parse_pattern

__version__ = "0.1.0"

# Names resolved lazily (module path, attribute) so that `import sparsesim` stays fast.
_LAZY = {
    "load_arch": ("sparsesim.arch", "load_arch"),
    "simulate": ("sparsesim.timing", "simulate"),
    "sweep": ("sparsesim.dse.api", "sweep"),
    "load_workload": ("sparsesim.workloads", "load_workload"),
    "read_results": ("sparsesim.dse.store", "read_results"),
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        value = getattr(importlib.import_module(mod), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sparsesim' has no attribute {name!r}")


__all__ = [
    "SparsesimError",
    "PatternError",
    "FormatError",
    "ConfigError",
    "InputError",
    "LimitError",
    "FileError",
    "Pattern",
    "parse_pattern",
    "__version__",
    *_LAZY,
]
