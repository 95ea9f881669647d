"""Fit a few physically meaningful efficiency parameters on measured rows, honestly.

What is fitted (each one a quantity a datasheet or microbenchmark could measure):

* ``efficiency.tensor_dense`` / ``efficiency.tensor_sparse``: the fraction of the
  dense / 2:4 tensor-core peak the GEMM library's main loop reaches at a fixed clock.
* optionally (:data:`POWER_PARAMS`) ``technology.array_energy_factor``: the energy of a
  tensor-core lane per multiply over its bare multiply-add, the one power parameter of
  the energy table (:mod:`sparsesim.cost`) without a published value; it sets how much
  power a kernel draws and so where the board's power limit lowers the clock.

Everything else (peaks, bandwidths, the board power limit, the static power, the rest of
the energy table) stays at its cited or assumed config value.

How honesty is kept:

* The rows are split: a *fit* set (by default the GPU's fp16 rows of one benchmark,
  GEMMs of at least 1024^3) and a *held-out* set (everything else for that GPU:
  other dtypes, other shapes, other harnesses).  Errors are reported on both, and
  optionally by leave-one-out over the fit set (each fit row predicted by a fit that
  did not see it).
* Only rows measured on the GPU being calibrated are used: another GPU's rows can
  never move this GPU's parameters.
* The result is written as a config override (``base = "<arch>"`` plus the fitted
  keys) whose header records the measured file, the rows used, the date and the
  held-out error.

The fitting objective is least squares on log ratios: ``log(pred/meas)`` of each
distinct dense time and of each speedup, so that a 10 % miss on a 20 us GEMM
weighs as much as one on a 2 s GEMM.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from .measured import LARGE_GEMM_MNK, MeasuredRow
from .metrics import evaluate, summarize


@dataclass(frozen=True)
class FitParam:
    key: str
    lo: float
    hi: float
    meaning: str


DEFAULT_PARAMS = (
    FitParam("efficiency.tensor_dense", 0.3, 1.0, "achievable fraction of the dense tensor-core peak"),
    FitParam("efficiency.tensor_sparse", 0.3, 1.0, "achievable fraction of the 2:4 tensor-core peak"),
)
# The power parameter (calibrate --fit-power): only the A100 PCIe calibration set may set it; every
# other GPU keeps the cited default (sparsesim.cost.DEFAULT_ARRAY_ENERGY_FACTOR).
POWER_PARAMS = (
    FitParam("technology.array_energy_factor", 1.0, 20.0,
             "tensor-core lane energy per multiply over the bare multiply-add (sets the power a kernel draws)"),
)


# ---------------------------------------------------------------- row selection
def parse_filter(text: str | None) -> dict:
    """``"dtype=fp16|bf16,source=S1"`` -> ``{"dtype": {"fp16", "bf16"}, "source": {"S1"}}``."""
    out: dict = {}
    if not text:
        return out
    allowed = ("gpu", "dtype", "source", "backend", "m", "n", "k")
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise InputError(f"filter entry {part!r}: expected COLUMN=VALUE[|VALUE...]")
        col, vals = (s.strip() for s in part.split("=", 1))
        if col not in allowed:
            raise InputError(f"filter entry {part!r}: column must be one of {', '.join(allowed)}")
        out.setdefault(col, set()).update(v.strip().lower() for v in vals.split("|") if v.strip())
    return out


def matches(row: MeasuredRow, flt: dict) -> bool:
    for col, vals in flt.items():
        v = str(getattr(row, col)).lower()
        if col == "backend":
            if not any(x in v for x in vals):
                return False
        elif v not in vals:
            return False
    return True


def split_rows(rows, gpu: str, fit_filter: dict, min_mnk: int = LARGE_GEMM_MNK):
    """(fit, held_out) rows of ``gpu``; rows of other GPUs are in neither."""
    mine = [r for r in rows if r.gpu.upper() == gpu.upper()]
    if not mine:
        have = ", ".join(sorted({r.gpu for r in rows})) or "none"
        raise InputError(
            f"no measured rows for GPU {gpu!r} (rows are for: {have}); a GPU is only calibrated on its own measurements"
        )
    fit = [r for r in mine if matches(r, fit_filter) and r.mnk >= min_mnk]
    held = [r for r in mine if r not in fit]
    if len(fit) < 2:
        raise InputError(
            f"only {len(fit)} fit row(s) for GPU {gpu!r} with the filter and m*n*k >= {min_mnk}; need at least 2"
        )
    return fit, held


# ---------------------------------------------------------------- fitting
@dataclass
class FitResult:
    values: dict
    params: tuple
    fit_rows: list
    cost: float
    nfev: int
    at_bound: list = field(default_factory=list)


def residuals(results) -> list:
    out = []
    seen = set()
    for r in results:
        key = r.row.shape_key()
        if key not in seen:
            seen.add(key)
            out.append(math.log(r.pred.dense_us / r.row.dense_us))
        out.append(math.log(r.pred.speedup / r.row.speedup))
    return out


def fit(rows, factory, params=DEFAULT_PARAMS, x0: dict | None = None) -> FitResult:
    """Least-squares fit of ``params`` so that ``factory(values)`` predicts ``rows``.

    ``factory(values: dict) -> predictor`` builds a predictor from parameter values
    keyed by :attr:`FitParam.key`.  The search runs in a unit box (each parameter
    scaled to its bounds) from ``x0`` (default: the middle of each range).
    """
    from scipy.optimize import least_squares

    rows = list(rows)
    params = tuple(params)
    if not rows:
        raise InputError("no rows to fit")
    if not params:
        raise InputError("no parameters to fit")

    def to_values(u):
        return {p.key: p.lo + (p.hi - p.lo) * float(min(max(x, 0.0), 1.0)) for p, x in zip(params, u)}

    u0 = []
    for p in params:
        v = (x0 or {}).get(p.key, 0.5 * (p.lo + p.hi))
        u0.append(min(max((v - p.lo) / (p.hi - p.lo), 0.0), 1.0))

    def fun(u):
        return residuals(evaluate(rows, factory(to_values(u))))

    sol = least_squares(fun, u0, bounds=(0.0, 1.0), x_scale=1.0, diff_step=1e-2, max_nfev=200)
    values = to_values(sol.x)
    at_bound = [p.key for p, x in zip(params, sol.x) if x <= 1e-3 or x >= 1 - 1e-3]
    return FitResult(values, params, rows, float(sol.cost), int(sol.nfev), at_bound)


def leave_one_out(rows, factory, params=DEFAULT_PARAMS, x0=None, progress=None):
    """Predict each row with a fit on all the others; returns the list of RowResults."""
    rows = list(rows)
    out = []
    for i, row in enumerate(rows):
        rest = rows[:i] + rows[i + 1 :]
        f = fit(rest, factory, params, x0)
        out.extend(evaluate([row], factory(f.values)))
        if progress is not None:
            progress(i + 1, len(rows))
    return out


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


def provenance_lines(measured_files, fit_rows, held_rows, filter_text, min_mnk, errors: dict | None = None) -> list:
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [f"Calibrated by `sparsesim calibrate` on {now}."]
    for f in measured_files:
        try:
            digest = hashlib.sha256(Path(f).read_bytes()).hexdigest()[:16]
        except OSError:
            digest = "?"
        lines.append(f"measured file: {f} (sha256 {digest}...)")
    lines.append(f"fit rows ({len(fit_rows)}; filter '{filter_text}', m*n*k >= {min_mnk}):")
    for r in fit_rows:
        lines.append(f"  {r.file}:{r.line} {r.gpu} {r.dtype} {r.m}x{r.n}x{r.k} {r.backend} [{r.source}]")
    lines.append(f"held-out rows: {len(held_rows)} (never seen by the fit)")
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


def write_override(path, text: str, check=None) -> None:
    """Write ``text`` to ``path`` atomically; ``check(tmp_path)`` (e.g. ``load_arch``) runs first.

    If the check raises, ``path`` is left as it was.
    """
    from ..io import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
        if check is not None:
            check(tmp)


def summarize_errors(results) -> dict:
    """Compact MAPE summary used in provenance headers and reports."""
    s = summarize(results)
    return s
