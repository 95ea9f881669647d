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
* ``technology.array_energy_factor`` (where the GPU has a board power limit): the energy of a
  tensor-core lane per multiply over its bare multiply-add, the energy table's one entry without
  a published value (:mod:`sparsesim.cost`); it sets the power a kernel draws and so where the
  board's limit lowers the clock.

Every other number (peaks, bandwidths, latencies, tiles, the power model's table) keeps its
cited or assumed config value.  Only rows of the GPU being calibrated are used; the fitted
values are written as a config override whose header records the measured file and its hash,
the rows used, the date, the fit and the cross-validated errors.

Protocol:

1. **Surrogate.**  Each row's dense kernel is simulated at every point of a grid of
   (``tensor_dense``, ``dram``) and its 2:4 kernel on a grid of (``tensor_sparse``,
   ``dram``), at the clock ceiling; each result is re-clocked to the board's power limit at
   every point of a grid of the power parameter.  Between grid points the kernel time is
   interpolated linearly in the reciprocals of the efficiencies (exact where one unit binds)
   and in the power parameter, and the launch overhead adds.  The fit, the cross-validation
   folds and the final fit all reuse these simulations.
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
POWER_KEY = "technology.array_energy_factor"
POWER_PARAM = FitParam(POWER_KEY, 1.0, 16.0, "tensor-core lane energy per multiply over the bare multiply-add "
                       "(the power a kernel draws, so where the board limit lowers the clock)")
EFF_GRID = (0.4, 0.55, 0.7, 0.85, 1.0)
DRAM_GRID = (0.55, 0.7, 0.85, 1.0)
POWER_GRID = (1.0, 2.5, 4.0, 6.0, 9.0, 12.0, 16.0)
DEFAULT_FOLDS = 5
FLAT_COST = 0.01  # a parameter whose whole range moves the objective by less than 1 % is not determined


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
def _no_board(arch):
    """``arch`` without its board power limit: kernels run at the clock ceiling."""
    from ..arch import build_arch
    from ..arch.load import arch_to_dict

    doc = arch_to_dict(arch)
    doc.pop("board", None)
    doc.pop("source", None)
    return build_arch(doc, f"{arch.name} without its board limit")


class Surrogate:
    """Kernel times of every row on the parameter grids, interpolated: ``times(values)``.

    Axes: the tensor efficiency (dense or 2:4) and the DRAM efficiency (each grid point one
    simulation), and, where the arch has a board power limit and an energy table, the power
    parameter ``technology.array_energy_factor``: each simulation at the clock ceiling is
    re-clocked to the limit at every point of :data:`POWER_GRID`
    (:func:`sparsesim.cost.power.operating_point`: a clock change does not re-run the engine).
    """

    def __init__(self, rows, arch, simulate=None, power=None, progress=None):
        from ..arch import derive, load_arch
        from .engine import EnginePredictor, out_dtypes

        self.rows = list(rows)
        arch = load_arch(arch)
        has_power = getattr(arch, "board", None) is not None and getattr(arch, "technology", None) is not None
        self.power = has_power and simulate is None if power is None else (power and has_power)
        if simulate is None:
            from ..timing import simulate as real

            def simulate(a, row, pattern, out):
                return real(a, row.m, row.n, row.k, row.dtype, pattern, warm_l2=True, out_dtype=out)
        else:
            inject = simulate

            def simulate(a, row, pattern, out):
                return inject(a, row.m, row.n, row.k, row.dtype, pattern)
        self.axes = [np.array(sorted(1.0 / e for e in EFF_GRID)), np.array(sorted(1.0 / e for e in DRAM_GRID))]
        if self.power:
            self.axes.append(np.array(POWER_GRID, dtype=float))
        shape = (len(self.rows), *(len(a) for a in self.axes))
        self.dense, self.sparse = np.zeros(shape), np.zeros(shape)
        base = _no_board(arch) if self.power else arch
        f_grid = POWER_GRID if self.power else (None,)
        total, done = len(EFF_GRID) * len(DRAM_GRID), 0
        for i, xe in enumerate(self.axes[0]):
            for j, xd in enumerate(self.axes[1]):
                for tag, key, table in (("dense", "efficiency.tensor_dense", self.dense),
                                        ("sparse", "efficiency.tensor_sparse", self.sparse)):
                    ov = {key: 1.0 / xe, "efficiency.dram": 1.0 / xd}
                    sim_arch = derive(base, ov)
                    capped = [derive(arch, {**ov, POWER_KEY: f}) for f in f_grid] if self.power else []
                    for r, row in enumerate(self.rows):
                        pat = "dense" if tag == "dense" else EnginePredictor.sparse_pattern(sim_arch, row.dtype)
                        res = simulate(sim_arch, row, pat, out_dtypes(row.notes)[0 if tag == "dense" else 1])
                        if self.power:
                            from ..cost.power import operating_point

                            for q, a in enumerate(capped):
                                table[r, i, j, q] = operating_point(a, res).kernel_seconds * 1e6
                        else:
                            d = res.to_dict() if hasattr(res, "to_dict") else res
                            table[r, i, j] = (d["seconds"] - d.get("launch_seconds", 0.0)) * 1e6
                done += 1
                if progress is not None:
                    progress(done, total)

    @property
    def params(self) -> tuple:
        return PARAMS + ((POWER_PARAM,) if self.power else ())

    def _interp(self, table, coords):
        """Multilinear interpolation of ``table`` (rows x axes) at ``coords`` (one per axis)."""
        corners = [(table, 1.0)]
        for ax, (grid, x) in enumerate(zip(self.axes, coords)):
            x = float(np.clip(x, grid[0], grid[-1]))
            i = int(np.clip(np.searchsorted(grid, x) - 1, 0, len(grid) - 2))
            u = (x - grid[i]) / (grid[i + 1] - grid[i])
            corners = [(t.take(i + b, axis=1), w * (u if b else 1.0 - u)) for t, w in corners for b in (0, 1)]
        return sum(t * w for t, w in corners)

    def times(self, values: dict, idx=None):
        """(dense_us, sparse_us) arrays at the parameter ``values`` (rows ``idx``, default all)."""
        launch = values["launch.overhead_us"]
        extra = [values[POWER_KEY]] if self.power else []
        x_dram = 1.0 / values["efficiency.dram"]
        d = self._interp(self.dense, [1.0 / values["efficiency.tensor_dense"], x_dram, *extra]) + launch
        s = self._interp(self.sparse, [1.0 / values["efficiency.tensor_sparse"], x_dram, *extra]) + launch
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
    undetermined: list = field(default_factory=list)  # the config value fits as well: kept
    band: dict = field(default_factory=dict)  # key -> (lo, hi) where the objective is within FLAT_COST of its best


def _residual_index(rows, idx):
    """Row indices whose dense time counts (first of each distinct dense measurement)."""
    seen, first = set(), []
    for i in idx:
        key = rows[i].shape_key()
        if key not in seen:
            seen.add(key)
            first.append(i)
    return first


def fit(surrogate: Surrogate, idx=None, params=None, x0: dict | None = None) -> FitResult:
    """Least-squares fit of ``params`` (default the surrogate's) on its rows ``idx`` (default all)."""
    from scipy.optimize import least_squares

    params = surrogate.params if params is None else params
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

    def unit(values):
        return [min(max((values.get(p.key, 0.5 * (p.lo + p.hi)) - p.lo) / (p.hi - p.lo), 0.0), 1.0) for p in params]

    # several starts: the power parameter leaves the objective flat until the board limit binds
    starts = [unit(x0 or {})]
    for eff in (0.6, 0.8):
        for power in ((3.0, 7.0, 11.0, 15.0) if any(p.key == POWER_KEY for p in params) else (None,)):
            v = {"efficiency.tensor_dense": eff + 0.1, "efficiency.tensor_sparse": eff}
            if power is not None:
                v[POWER_KEY] = power
            starts.append(unit({**(x0 or {}), **v}))
    best, nfev = None, 0
    for u0 in starts:
        sol = least_squares(fun, u0, bounds=(0.0, 1.0), x_scale=1.0, diff_step=1e-3, max_nfev=400)
        nfev += int(sol.nfev)
        if best is None or sol.cost < best.cost:
            best = sol
    values = to_values(best.x)
    at_bound = [p.key for p, x in zip(params, best.x) if x <= 1e-3 or x >= 1 - 1e-3]
    # how well the rows determine each parameter: the range over which the objective stays within
    # FLAT_COST of its best (the others at their best); a config value inside it fits as well and
    # is kept (the power parameter where the board limit barely binds)
    band, kept = {}, []
    for i, p in enumerate(params):
        inside = []
        for x in np.linspace(0.0, 1.0, 41):
            u = list(best.x)
            u[i] = x
            if 0.5 * float(np.sum(fun(u) ** 2)) <= best.cost * (1 + FLAT_COST) + 1e-12:
                inside.append(p.lo + (p.hi - p.lo) * x)
        lo, hi = (min(inside), max(inside)) if inside else (values[p.key], values[p.key])
        band[p.key] = (float(lo), float(hi))
        start = (x0 or {}).get(p.key)
        if start is not None and lo <= start <= hi and hi - lo > 0.25 * (p.hi - p.lo):
            values[p.key] = start
            kept.append(p.key)
    at_bound = [k for k in at_bound if k not in kept]
    return FitResult(values, tuple(params), float(best.cost), nfev, at_bound, kept, band)


def cross_validate(surrogate: Surrogate, k: int = DEFAULT_FOLDS, params=None, x0=None):
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
    """The fitted parameter values an override holds (dotted keys of :data:`PARAMS` and the power one)."""
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
    for p in PARAMS + (POWER_PARAM,):
        sect, leaf = p.key.split(".")
        if leaf in doc.get(sect, {}):
            out[p.key] = float(doc[sect][leaf])
    if not out:
        raise ConfigError(f"{path}: no fitted parameter ({', '.join(p.key for p in PARAMS + (POWER_PARAM,))})")
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
