"""Predictor backed by the timing engine: ``sparsesim.simulate`` on an arch config.

:class:`EnginePredictor` maps each measured row's GPU name to an architecture
(``{"A100": "a100"}`` or a config path), simulates the dense GEMM and the 2:4 GEMM
and returns their times, with the library kernel that won each (``info``).

* ``overrides``: dotted config keys applied with :func:`sparsesim.arch.derive`
  (``{"efficiency.tensor_sparse": 0.7}``) to every GPU, or per GPU; calibration uses this.
* ``warm_l2`` (default True): the benchmarks time a loop of calls of one GEMM, so operands
  that fit in the usable L2 are still there from the previous call.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError
from .metrics import Prediction

DEFAULT_ARCH_MAP = {"A100": "a100", "H100": "h100"}
_OUT_BOTH = re.compile(r"\bout dense=(\w+) sparse=(\w+)", re.I)
_OUT_ONE = re.compile(r"\bout=(\w+)", re.I)
_OUT_TYPES = {"int8": "int8", "int32": "int32", "fp16": "fp16", "bf16": "bf16", "fp32": "fp32"}


def out_dtypes(notes: str) -> tuple:
    """(dense, sparse) output types a row's ``notes`` state (``out=int8``, ``out dense=INT32
    sparse=BF16``); None where they say nothing (the model's default for the dtype)."""
    m = _OUT_BOTH.search(notes or "")
    if m:
        return _OUT_TYPES.get(m.group(1).lower()), _OUT_TYPES.get(m.group(2).lower())
    m = _OUT_ONE.search(notes or "")
    if m:
        t = _OUT_TYPES.get(m.group(1).lower())
        return t, t
    return None, None


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

    ``arch_map`` maps GPU names (case-insensitive) to arch names, config paths or arch
    objects; ``overrides`` maps GPU names to dotted-key override dicts, the key ``"*"``
    applying to every GPU (a calibration fitted on one GPU, carried to the others).
    """

    def __init__(self, arch_map=None, overrides=None, mode="statistical", simulate=None, warm_l2=True):
        self.arch_map = {k.upper(): v for k, v in (arch_map or DEFAULT_ARCH_MAP).items()}
        self.overrides = {k.upper(): dict(v) for k, v in (overrides or {}).items()}
        self.mode = mode
        self.warm_l2 = warm_l2
        self._simulate = simulate
        self._archs: dict = {}
        self._cache: dict = {}

    def arch_for(self, gpu: str, where: str = ""):
        key = gpu.upper()
        if key in self._archs:
            return self._archs[key]
        if key not in self.arch_map:
            known = ", ".join(sorted(self.arch_map))
            at = f"{where}: " if where else ""
            raise InputError(
                f"{at}no architecture for GPU {gpu!r}; map it with --arch-map {gpu}=CONFIG (mapped: {known})"
            )
        from ..arch import derive, load_arch

        arch = load_arch(self.arch_map[key])
        ov = {**self.overrides.get("*", {}), **self.overrides.get(key, {})}
        if ov:
            arch = derive(arch, ov, name=f"{arch.name}+calibration")
        self._archs[key] = arch
        return arch

    def board_of(self, gpu: str) -> str:
        """The config a GPU name maps to (two names of one board share it)."""
        a = self.arch_map.get(gpu.upper(), gpu)
        return Path(a).stem if isinstance(a, (str, Path)) else getattr(a, "name", gpu)

    def _sim(self, arch, row, pattern):
        out = out_dtypes(row.notes)[0 if pattern == "dense" else 1]
        key = (id(arch), row.m, row.n, row.k, row.dtype, pattern, out)
        hit = self._cache.get(key)
        if hit is None:
            simulate = self._simulate
            kw = {}
            if simulate is None:
                from .. import simulate

                kw = {"warm_l2": self.warm_l2, "out_dtype": out}
            res = simulate(arch, row.m, row.n, row.k, row.dtype, pattern, mode=self.mode, **kw)
            hit = res.to_dict() if hasattr(res, "to_dict") else dict(res)
            self._cache[key] = hit
        return hit

    @staticmethod
    def sparse_pattern(arch, dtype) -> str:
        """The N:M pattern the GPU runs sparse GEMMs of ``dtype`` in (2:4 unless the arch says
        otherwise for the dtype, e.g. tf32 1:2, fp4 paired 4:8)."""
        fn = getattr(arch, "sparse_pattern", None)
        if fn is None:
            return "2:4"
        n, m = fn(dtype)
        return f"{n}:{m}"

    def __call__(self, row) -> Prediction:
        arch = self.arch_for(row.gpu, row.where)
        if not arch.supports(row.dtype):
            raise InputError(f"{row.where}: {arch.name} tensor cores do not take {row.dtype} (GPU {row.gpu!r})")
        d = self._sim(arch, row, "dense")
        s = self._sim(arch, row, self.sparse_pattern(arch, row.dtype))
        info = {}
        for tag, res in (("dense", d), ("sparse", s)):
            kern = res.get("kernel") or {}
            if kern:
                info[f"{tag}_kernel"] = kern.get("name", "")
            for key in ("clock_mhz", "power_w"):
                if res.get(key) is not None:
                    info[f"{tag}_{key}"] = res[key]
        return Prediction(d["seconds"] * 1e6, s["seconds"] * 1e6, str(d.get("bound", "")), str(s.get("bound", "")),
                          info)
