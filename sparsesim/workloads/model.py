"""The workload object every importer produces: a named list of GEMM layers.

Shape convention (the hardware one, used everywhere in sparsesim)::

    C[m x n] = A[m x k] . B[k x n]

``A`` is the operand that a sparsity pattern prunes and compresses along the reduction
axis ``k`` (a layer's weight); ``B`` holds the activations.  ``repeat`` counts identical
copies of a layer (12 encoder layers, the heads of an attention product), so network
totals are sums of ``repeat * per-layer``.  A layer whose ``A`` is not a weight (the
attention products Q.K^T and P.V multiply two activations) has ``prunable = False``:
a sweep runs it dense under every pattern.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError

#: Largest GEMM dimension and repeat count a workload may hold: the simulator's own
#: limit (``sparsesim.timing.Limits.max_dim``, docs/limits.md), checked where the file
#: is read so that the error names the file and the line or key.
MAX_DIM = 2**40


def check_dim(value: int, where: str, what: str = "") -> int:
    """``value`` (an int >= 1) if it is at most :data:`MAX_DIM`, else a ConfigError naming ``where``."""
    if value > MAX_DIM:
        raise ConfigError(f"{where}{what} = {value} is above the largest GEMM dimension the simulator takes "
                          f"({MAX_DIM} = 2**40; docs/limits.md)")
    return value


def check_layers(layers, where: str) -> None:
    """Every dimension and repeat count of ``layers`` within :data:`MAX_DIM` (importers that
    compute shapes from other numbers: convolutions, model configs, traced modules)."""
    for layer in layers:
        for dim in ("m", "n", "k", "repeat"):
            check_dim(getattr(layer, dim), f"{where}: layer {layer.name!r}: ", dim)


@dataclass(frozen=True)
class Layer:
    """One GEMM of a workload (``repeat`` identical copies of it)."""

    name: str
    op: str
    m: int
    n: int
    k: int
    repeat: int = 1
    params: dict = field(default_factory=dict, compare=False, hash=False)
    prunable: bool = True  # A is a weight the sparsity pattern applies to
    dtype: str | None = None  # element type of this layer; None: the sweep's --dtype

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one copy of the dense GEMM."""
        return self.m * self.n * self.k

    @property
    def weights(self) -> int:
        """Elements of the weight operand A (one copy); 0 when A is an activation."""
        return self.m * self.k if self.prunable else 0


@dataclass(frozen=True)
class Workload:
    """A named list of GEMM layers with the sources its shapes come from."""

    name: str
    description: str
    sources: tuple
    layers: tuple
    path: str = ""
    batch: int = 1

    @property
    def total_macs(self) -> int:
        return sum(l.macs * l.repeat for l in self.layers)

    @property
    def total_weights(self) -> int:
        return sum(l.weights * l.repeat for l in self.layers)

    @property
    def gemm_count(self) -> int:
        """GEMMs of one inference (layers times their repeat counts)."""
        return sum(l.repeat for l in self.layers)
