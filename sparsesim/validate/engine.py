"""Predictor backed by the timing engine: ``sparsesim.simulate`` on an arch config.

:class:`EnginePredictor` maps each measured row's GPU name to an architecture
(``{"A100": "a100"}`` or a config path), simulates the dense GEMM and the sparse GEMM
(the pattern the GPU's sparse tensor cores take for the row's dtype: 2:4, tf32 1:2,
fp4 paired 4:8) and returns their times.  ``simulate`` runs each kernel at the clock the
board's power limit allows (:mod:`sparsesim.cost.power`); the prediction's ``info``
carries those clocks and powers.

``overrides``: dotted config keys applied with :func:`sparsesim.arch.derive`
(``{"efficiency.tensor_sparse": 0.7}``, ``{"technology.array_energy_factor": 6.0}``);
calibration uses this.
"""

from __future__ import annotations

from ..errors import InputError
from .metrics import Prediction

DEFAULT_ARCH_MAP = {"A100": "a100", "H100": "h100"}


def parse_arch_map(text: str | None) -> dict:
    """``"A100=a100,H100=path/h100.toml"`` -> dict (merged over :data:`DEFAULT_ARCH_MAP`)."""
    out = dict(DEFAULT_ARCH_MAP)
    if not text:
        return out
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise InputError(f"--arch-map entry {part!r}: expected GPU=ARCH (e.g. A100=a100)")
        gpu, arch = (s.strip() for s in part.split("=", 1))
        if not gpu or not arch:
            raise InputError(f"--arch-map entry {part!r}: expected GPU=ARCH with both sides non-empty")
        out[gpu] = arch
    return out


class EnginePredictor:
    """``predictor(row) -> Prediction`` using ``sparsesim.simulate``.

    ``arch_map`` maps GPU names (case-insensitive) to arch names, config paths or
    arch objects; ``overrides`` maps GPU names to dotted-key override dicts.
    """

    def __init__(self, arch_map=None, overrides=None, mode="statistical", simulate=None):
        self.arch_map = {k.upper(): v for k, v in (arch_map or DEFAULT_ARCH_MAP).items()}
        self.overrides = {k.upper(): dict(v) for k, v in (overrides or {}).items()}
        self.mode = mode
        self._simulate = simulate
        self._archs: dict = {}
        self._cache: dict = {}

    # -- arch handling -------------------------------------------------
    def arch_for(self, gpu: str):
        key = gpu.upper()
        if key in self._archs:
            return self._archs[key]
        if key not in self.arch_map:
            known = ", ".join(sorted(self.arch_map))
            raise InputError(
                f"no architecture for GPU {gpu!r}; map it with --arch-map {gpu}=CONFIG (mapped: {known})"
            )
        from ..arch import derive, load_arch

        arch = load_arch(self.arch_map[key])
        if self.overrides.get(key):
            arch = derive(arch, self.overrides[key], name=f"{arch.name}+calibration")
        self._archs[key] = arch
        return arch

    def _sim(self, arch, row, pattern):
        key = (id(arch), row.m, row.n, row.k, row.dtype, pattern)
        hit = self._cache.get(key)
        if hit is None:
            simulate = self._simulate
            if simulate is None:
                from .. import simulate
            res = simulate(arch, row.m, row.n, row.k, row.dtype, pattern, mode=self.mode)
            hit = res.to_dict() if hasattr(res, "to_dict") else dict(res)
            self._cache[key] = hit
        return hit

    def _time(self, row, pattern):
        d = self._sim(self.arch_for(row.gpu), row, pattern)
        info = {}
        kind = "dense" if pattern == "dense" else "sparse"
        for key in ("clock_mhz", "power_w"):
            if d.get(key) is not None:
                info[f"{kind}_{key}"] = d[key]
        return d["seconds"] * 1e6, str(d.get("bound", "")), info

    def sparse_pattern(self, row) -> str:
        """The N:M pattern the row's GPU runs sparse GEMMs of the row's dtype in (2:4 unless the
        arch says otherwise for the dtype, e.g. tf32 1:2, fp4 paired 4:8)."""
        arch = self.arch_for(row.gpu)
        fn = getattr(arch, "sparse_pattern", None)
        if fn is None:
            return "2:4"
        n, m = fn(row.dtype)
        return f"{n}:{m}"

    def __call__(self, row) -> Prediction:
        dense_us, dense_bound, i1 = self._time(row, "dense")
        sparse_us, sparse_bound, i2 = self._time(row, self.sparse_pattern(row))
        return Prediction(dense_us, sparse_us, dense_bound, sparse_bound, {**i1, **i2})
