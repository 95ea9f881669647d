"""Predictor backed by the timing engine: ``sparsesim.simulate`` on an arch config.

:class:`EnginePredictor` maps each measured row's GPU name to an architecture
(``{"A100": "a100"}`` or a config path), simulates the dense GEMM and the 2:4 GEMM
and returns their times.  Optional pieces:

* ``overrides``: dotted config keys applied with :func:`sparsesim.arch.derive`
  (``{"efficiency.tensor_sparse": 0.7}``); calibration uses this.
* ``power``: a :class:`PowerSpec` per GPU.  The kernel is first simulated at the
  boost clock; the power-limit model (:mod:`sparsesim.validate.power`) turns its
  duration and its dynamic power into a mean clock, and the kernel is simulated
  again with ``clock.sustained_mhz`` set to that clock.  (The engine does not take a
  clock model itself yet; this two-pass scheme stands in for that hook.)
"""

from __future__ import annotations

import math
from .._toml import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, InputError
from .metrics import Prediction
from .power import PowerLimit, mean_clock_for_work

DEFAULT_ARCH_MAP = {"A100": "a100", "H100": "h100"}

# Dynamic power of an int8/fp8 tensor-core GEMM relative to fp16 at the same issue
# rate.  assumption: about half of a tensor-core GEMM's dynamic power is operand
# movement (register file, shared memory, L2), which moves the same bytes per cycle
# for int8 (twice the elements at half the width); the other half is arithmetic, where
# an 8-bit integer multiply-add costs ~0.23 pJ against ~1.5 pJ for fp16 (Horowitz,
# "Computing's energy problem", ISSCC 2014, 45 nm table) at twice the rate:
# 0.5 + 0.5 * 2 * 0.23 / 1.5 ~= 0.65.
INT8_DYNAMIC_POWER_RATIO = 0.65
POWER_KEYS = ("power_limit_w", "static_w", "window_ms", "clock_exponent", "dense_dynamic_w", "sparse_dynamic_w")


@dataclass(frozen=True)
class PowerSpec:
    """Power-limit model of one board plus the dynamic power of dense and 2:4 fp16 GEMMs at boost."""

    power_limit_w: float
    static_w: float
    window_ms: float
    dense_dynamic_w: float
    sparse_dynamic_w: float
    clock_exponent: float = 3.0
    notes: dict = field(default_factory=dict, compare=False)

    def limit(self, boost_mhz: float) -> PowerLimit:
        return PowerLimit(
            power_limit_w=self.power_limit_w,
            static_w=self.static_w,
            boost_clock_ghz=boost_mhz / 1000.0,
            window_s=self.window_ms / 1000.0,
            clock_exponent=self.clock_exponent,
        )

    def dynamic_w(self, dtype: str, sparse: bool) -> float:
        w = self.sparse_dynamic_w if sparse else self.dense_dynamic_w
        if dtype in ("int8", "fp8"):
            w *= INT8_DYNAMIC_POWER_RATIO
        return w

    def with_values(self, **kw) -> "PowerSpec":
        d = {k: getattr(self, k) for k in POWER_KEYS}
        d.update(kw)
        return PowerSpec(**d)


def load_power_spec(path) -> PowerSpec:
    """Read a ``[power]`` table from a TOML file (keys: see :data:`POWER_KEYS`)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"power model file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    tab = doc.get("power")
    if not isinstance(tab, dict):
        raise ConfigError(f"{path}: missing table 'power' (keys {', '.join(POWER_KEYS)})")
    kw = {}
    for key in POWER_KEYS:
        if key not in tab:
            if key == "clock_exponent":
                continue
            raise ConfigError(f"{path}: missing key 'power.{key}' (float)")
        v = tab[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ConfigError(f"{path}: key 'power.{key}': expected a non-negative float, got {v!r}")
        kw[key] = float(v)
    unknown = sorted(set(tab) - set(POWER_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown key 'power.{unknown[0]}'; expected one of: {', '.join(POWER_KEYS)}")
    if kw["static_w"] >= kw["power_limit_w"]:
        raise ConfigError(f"{path}: key 'power.static_w': expected less than power.power_limit_w")
    for key in ("power_limit_w", "window_ms"):
        if kw[key] <= 0:
            raise ConfigError(f"{path}: key 'power.{key}': expected a positive float")
    return PowerSpec(**kw)


def power_sidecar(arch_path) -> Path:
    """Where the power model belonging to an arch override file lives (``X.toml`` -> ``X.power.toml``)."""
    p = Path(arch_path)
    return p.with_name(p.stem + ".power.toml")


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
    arch objects; ``overrides`` maps GPU names to dotted-key override dicts;
    ``power`` maps GPU names to :class:`PowerSpec` (paths given in ``arch_map`` pick
    up a ``X.power.toml`` sidecar automatically unless ``power`` names the GPU).
    """

    def __init__(self, arch_map=None, overrides=None, power=None, mode="statistical", simulate=None,
                 warm_l2=True):
        self.arch_map = {k.upper(): v for k, v in (arch_map or DEFAULT_ARCH_MAP).items()}
        self.overrides = {k.upper(): dict(v) for k, v in (overrides or {}).items()}
        self.power = {k.upper(): v for k, v in (power or {}).items()}
        for gpu, arch in self.arch_map.items():
            if gpu not in self.power and isinstance(arch, (str, Path)) and str(arch).endswith(".toml"):
                side = power_sidecar(arch)
                if side.is_file():
                    self.power[gpu] = load_power_spec(side)
        self.mode = mode
        # the benchmarks time a loop of calls of one GEMM: its operands may stay in L2
        self.warm_l2 = warm_l2
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
            kw = {} if self._simulate is not None else {"warm_l2": self.warm_l2}
            res = simulate(arch, row.m, row.n, row.k, row.dtype, pattern, mode=self.mode, **kw)
            hit = res.to_dict() if hasattr(res, "to_dict") else dict(res)
            self._cache[key] = hit
        return hit

    def _time(self, row, pattern):
        arch = self.arch_for(row.gpu)
        spec = self.power.get(row.gpu.upper())
        if spec is None:
            d = self._sim(arch, row, pattern)
            return d["seconds"] * 1e6, str(d.get("bound", "")), {}
        from ..arch import derive

        boost = arch.clock.boost_mhz
        at_boost = arch
        if arch.clock.sustained_mhz != boost:
            at_boost = self._archs.get((id(arch), boost))
            if at_boost is None:
                at_boost = derive(arch, {"clock.sustained_mhz": boost})
                self._archs[(id(arch), boost)] = at_boost
        d0 = self._sim(at_boost, row, pattern)
        limit = spec.limit(boost)
        sparse = pattern != "dense"
        f_ghz = mean_clock_for_work(limit, spec.dynamic_w(row.dtype, sparse), d0["seconds"])
        mhz = round(f_ghz * 1000.0, 3)
        if mhz >= boost:
            d = d0
        else:
            ck = (id(arch), mhz)
            derived = self._archs.get(ck)
            if derived is None:
                derived = derive(arch, {"clock.sustained_mhz": mhz})
                self._archs[ck] = derived
            d = self._sim(derived, row, pattern)
        return d["seconds"] * 1e6, str(d.get("bound", "")), {f"{'sparse' if sparse else 'dense'}_clock_mhz": mhz}

    def __call__(self, row) -> Prediction:
        dense_us, dense_bound, i1 = self._time(row, "dense")
        sparse_us, sparse_bound, i2 = self._time(row, "2:4")
        return Prediction(dense_us, sparse_us, dense_bound, sparse_bound, {**i1, **i2})
