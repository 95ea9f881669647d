"""Fit the few efficiency-type parameters on one GPU's measured rows, with k-fold cross-validation.

What is fitted, and why none of it can be derived from a datasheet:

* ``efficiency.tensor_dense``: the fraction of the dense tensor-core peak the dense library's
  main loop sustains once running (issue slots lost to address arithmetic, operand loads,
  barriers, the epilogue); it belongs to the library's kernels, not to the chip.
* ``efficiency.tensor_sparse``: the same for the 2:4 library's kernels (metadata loads and the
  sparse MMA's extra registers change it).
* ``efficiency.dram``: the fraction of the DRAM peak a GEMM's tile streams reach (refresh,
  bank and row conflicts, the read/write mix); microbenchmarks measure copies, not these
  streams.
* ``launch.overhead_us``: what one call costs beyond its kernel (host launch, the library's
  per-call work), measured only as part of a call.

Every other number (peaks, bandwidths, latencies, tiles, the power model's table) keeps its
cited or assumed config value.  Only rows of the GPU being calibrated are used; the fitted
values are written as a config override whose header records the measured file and its hash,
the rows used, the date, the fit and the cross-validated errors.

Protocol:

1. **Surrogate.**  Each row's dense kernel is simulated at every point of a grid of
   (``tensor_dense``, ``dram``) and its 2:4 kernel on a grid of (``tensor_sparse``,
   ``dram``); between grid points the kernel time is interpolated bilinearly in the
   reciprocals of the efficiencies (exact where one unit binds), and the launch overhead
   adds.  The fit, the cross-validation folds and the final fit all reuse these simulations.
2. **Objective.**  Least squares on ``log(pred / meas)`` of each distinct dense time and of
   each speedup, over the GEMMs of at least ``min_mnk`` (default 1024^3).
3. **k-fold cross-validation.**  Rows are grouped by layer (shape family x layer, every token
   count and dtype of one weight shape together; each square size a group) and the groups
   dealt into ``k`` folds; each fold is predicted by a fit on the others.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from .measured import LARGE_GEMM_MNK, MeasuredRow
from .metrics import Prediction, RowResult


@dataclass(frozen=True)
class FitParam:
    key: str
    lo: float
    hi: float
    meaning: str


PARAMS = (
    FitParam("efficiency.tensor_dense", 0.4, 1.0, "achievable fraction of the dense tensor-core peak"),
    FitParam("efficiency.tensor_sparse", 0.4, 1.0, "achievable fraction of the 2:4 tensor-core peak"),
    FitParam("efficiency.dram", 0.55, 1.0, "achievable fraction of the DRAM peak"),
    FitParam("launch.overhead_us", 1.0, 12.0, "per-call cost beyond the kernel (us)"),
)
EFF_GRID = (0.4, 0.55, 0.7, 0.85, 1.0)
DRAM_GRID = (0.55, 0.7, 0.85, 1.0)
DEFAULT_FOLDS = 5


# ---------------------------------------------------------------- row selection
def split_rows(rows, gpu: str, min_mnk: int = LARGE_GEMM_MNK):
    """(fit, other) rows of ``gpu``: fit rows have m*n*k >= ``min_mnk``; rows of other GPUs
    are in neither."""
    mine = [r for r in rows if r.gpu.upper() == gpu.upper()]
    if not mine:
        have = ", ".join(sorted({r.gpu for r in rows})) or "none"
        raise InputError(
            f"no measured rows for GPU {gpu!r} (rows are for: {have}); a GPU is only calibrated on its own measurements"
        )
    fit = [r for r in mine if r.mnk >= min_mnk]
    if len(fit) < 2:
        raise InputError(f"only {len(fit)} row(s) of GPU {gpu!r} with m*n*k >= {min_mnk}; need at least 2")
    return fit, [r for r in mine if r.mnk < min_mnk]


def layer_of(row: MeasuredRow) -> str:
    """The cross-validation group: shape family and layer (each square size alone)."""
    if row.family == "square":
        return f"square {row.m}"
    layer = ""
    for part in row.notes.split(";"):
        key, _, value = part.strip().partition("=")
        if key.strip() == "layer":
            layer = value.strip()
    return f"{row.family} {layer or (row.m, row.k)}"


def folds_of(rows, k: int) -> list:
    """Fold index of each row: layers sorted by name, dealt round-robin into ``k`` folds."""
    layers = sorted({layer_of(r) for r in rows})
    if k < 2 or k > len(layers):
        raise InputError(f"--folds {k}: expected 2 .. {len(layers)} (the rows hold {len(layers)} layers)")
    index = {name: i % k for i, name in enumerate(layers)}
    return [index[layer_of(r)] for r in rows]


# ---------------------------------------------------------------- surrogate
class Surrogate:
    """Kernel times of every row on the efficiency grids, interpolated; ``predict(values)``."""

    def __init__(self, rows, predictor_factory, progress=None):
        """``predictor_factory(overrides) -> EnginePredictor`` for the calibrated GPU."""
        self.rows = list(rows)
        x_eff = np.array(sorted(1.0 / e for e in EFF_GRID))
        x_dram = np.array(sorted(1.0 / e for e in DRAM_GRID))
        self.x_eff, self.x_dram = x_eff, x_dram
        shape = (len(self.rows), len(x_eff), len(x_dram))
        self.dense = np.zeros(shape)
        self.sparse = np.zeros(shape)
        total = len(x_eff) * len(x_dram)
        done = 0
        for i, xe in enumerate(x_eff):
            for j, xd in enumerate(x_dram):
                for tag, key, table in (("dense", "efficiency.tensor_dense", self.dense),
                                        ("2:4", "efficiency.tensor_sparse", self.sparse)):
                    pred = predictor_factory({key: 1.0 / xe, "efficiency.dram": 1.0 / xd})
                    for r, row in enumerate(self.rows):
                        res = pred._sim(pred.arch_for(row.gpu, row.where), row, tag)
                        table[r, i, j] = (res["seconds"] - res.get("launch_seconds", 0.0)) * 1e6
                done += 1
                if progress is not None:
                    progress(done, total)

    def _interp(self, table, eff, dram):
        xe = np.clip(1.0 / eff, self.x_eff[0], self.x_eff[-1])
        xd = np.clip(1.0 / dram, self.x_dram[0], self.x_dram[-1])
        i = int(np.clip(np.searchsorted(self.x_eff, xe) - 1, 0, len(self.x_eff) - 2))
        j = int(np.clip(np.searchsorted(self.x_dram, xd) - 1, 0, len(self.x_dram) - 2))
        u = (xe - self.x_eff[i]) / (self.x_eff[i + 1] - self.x_eff[i])
        v = (xd - self.x_dram[j]) / (self.x_dram[j + 1] - self.x_dram[j])
        t = table[:, i:i + 2, j:j + 2]
        return ((1 - u) * (1 - v) * t[:, 0, 0] + u * (1 - v) * t[:, 1, 0]
                + (1 - u) * v * t[:, 0, 1] + u * v * t[:, 1, 1])

    def times(self, values: dict, idx=None):
        """(dense_us, sparse_us) arrays at the parameter ``values`` (rows ``idx``, default all)."""
        launch = values["launch.overhead_us"]
        d = self._interp(self.dense, values["efficiency.tensor_dense"], values["efficiency.dram"]) + launch
        s = self._interp(self.sparse, values["efficiency.tensor_sparse"], values["efficiency.dram"]) + launch
        if idx is not None:
            d, s = d[idx], s[idx]
        return d, s

    def results(self, values: dict, idx=None) -> list:
        idx = list(range(len(self.rows))) if idx is None else list(idx)
        d, s = self.times(values, idx)
        return [RowResult(self.rows[i], Prediction(float(a), float(b))) for i, a, b in zip(idx, d, s)]


# ---------------------------------------------------------------- fitting
@dataclass
class FitResult:
    values: dict
    params: tuple
    cost: float
    nfev: int
    at_bound: list = field(default_factory=list)


def _residual_index(rows, idx):
    """Row indices whose dense time counts (first of each distinct dense measurement)."""
    seen, first = set(), []
    for i in idx:
        key = rows[i].shape_key()
        if key not in seen:
            seen.add(key)
            first.append(i)
    return first


def fit(surrogate: Surrogate, idx=None, params=PARAMS, x0: dict | None = None) -> FitResult:
    """Least-squares fit of ``params`` on the surrogate's rows ``idx`` (default all)."""
    from scipy.optimize import least_squares

    rows = surrogate.rows
    idx = np.arange(len(rows)) if idx is None else np.asarray(list(idx))
    if len(idx) < 2:
        raise InputError("need at least 2 rows to fit")
    dense_idx = np.asarray(_residual_index(rows, idx))
    meas_d = np.array([rows[i].dense_us for i in range(len(rows))])
    meas_sp = np.array([rows[i].speedup for i in range(len(rows))])

    def to_values(u):
        return {p.key: p.lo + (p.hi - p.lo) * float(min(max(x, 0.0), 1.0)) for p, x in zip(params, u)}

    def fun(u):
        d, s = surrogate.times(to_values(u))
        return np.concatenate([np.log(d[dense_idx] / meas_d[dense_idx]),
                               np.log((d[idx] / s[idx]) / meas_sp[idx])])

    u0 = []
    for p in params:
        v = (x0 or {}).get(p.key, 0.5 * (p.lo + p.hi))
        u0.append(min(max((v - p.lo) / (p.hi - p.lo), 0.0), 1.0))
    sol = least_squares(fun, u0, bounds=(0.0, 1.0), x_scale=1.0, diff_step=1e-3, max_nfev=400)
    values = to_values(sol.x)
    at_bound = [p.key for p, x in zip(params, sol.x) if x <= 1e-3 or x >= 1 - 1e-3]
    return FitResult(values, tuple(params), float(sol.cost), int(sol.nfev), at_bound)


def cross_validate(surrogate: Surrogate, k: int = DEFAULT_FOLDS, params=PARAMS, x0=None):
    """k-fold cross-validation by layer: (RowResults of every row predicted by the fit that
    did not see its fold, the values fitted per fold)."""
    fold = folds_of(surrogate.rows, k)
    out, per_fold = [None] * len(surrogate.rows), []
    for f in range(k):
        test = [i for i, x in enumerate(fold) if x == f]
        train = [i for i, x in enumerate(fold) if x != f]
        res = fit(surrogate, train, params, x0)
        per_fold.append(res.values)
        for i, rr in zip(test, surrogate.results(res.values, test)):
            out[i] = rr
    return out, per_fold


# ---------------------------------------------------------------- override file
def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        s = f"{v:.6g}"
        return s if any(c in s for c in ".en") else s + ".0"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_override(base: str, name: str, description: str, values: dict, header_lines) -> str:
    """TOML text of a config override: ``base``/``name``/``description`` and one table per key prefix."""
    tables: dict = {}
    for key, v in values.items():
        sect, _, leaf = key.rpartition(".")
        if not sect:
            raise InputError(f"override key {key!r}: expected SECTION.KEY")
        tables.setdefault(sect, {})[leaf] = v
    lines = [f"# {ln}" if ln else "#" for ln in header_lines]
    lines += ["", f"base = {_toml_value(base)}", f"name = {_toml_value(name)}", f"description = {_toml_value(description)}"]
    for sect, kv in tables.items():
        lines += ["", f"[{sect}]"]
        for leaf, v in kv.items():
            lines.append(f"{leaf} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


def provenance_lines(measured_files, fit_rows, other_rows, min_mnk, errors: dict | None = None) -> list:
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [f"Calibrated by `sparsesim calibrate` on {now}."]
    for f in measured_files:
        try:
            digest = hashlib.sha256(Path(f).read_bytes()).hexdigest()[:16]
        except OSError:
            digest = "?"
        lines.append(f"measured file: {f} (sha256 {digest}...)")
    lines.append(f"fit rows ({len(fit_rows)}; m*n*k >= {min_mnk}):")
    for r in fit_rows:
        lines.append(f"  {Path(r.file).name}:{r.line} {r.gpu} {r.dtype} {r.m}x{r.n}x{r.k} [{layer_of(r)}]")
    lines.append(f"rows not fitted: {len(other_rows)} (smaller GEMMs)")
    for label, text in (errors or {}).items():
        lines.append(f"{label}: {text}")
    return lines


_FIT_LINE = re.compile(r"^#\s+(\S+):(\d+) ")


def fitted_rows_of(path) -> set:
    """``{(file name, line)}`` of the rows a calibrated override says it was fitted on (empty if none)."""
    out = set()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return out
    in_fit = False
    for ln in text.splitlines():
        if not ln.startswith("#"):
            break
        if ln.startswith("# fit rows"):
            in_fit = True
            continue
        if in_fit:
            m = _FIT_LINE.match(ln)
            if not m:
                in_fit = False
                continue
            out.add((Path(m.group(1)).name, int(m.group(2))))
    return out


def fitted_values_of(path) -> dict:
    """The fitted parameter values an override holds (dotted keys of :data:`PARAMS`)."""
    from .._toml import tomllib
    from ..errors import ConfigError

    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"calibration file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    out = {}
    for p in PARAMS:
        sect, leaf = p.key.split(".")
        if leaf in doc.get(sect, {}):
            out[p.key] = float(doc[sect][leaf])
    if not out:
        raise ConfigError(f"{path}: no fitted parameter ({', '.join(p.key for p in PARAMS)})")
    return out


def write_override(path, text: str, check=None) -> None:
    """Write ``text`` to ``path`` atomically; ``check(tmp_path)`` (e.g. ``load_arch``) runs first.

    If the check raises, ``path`` is left as it was.
    """
    from ..io import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
        if check is not None:
            check(tmp)


def mape(values) -> float | None:
    v = [abs(x) for x in values if x is not None and math.isfinite(x)]
    return sum(v) / len(v) if v else None
