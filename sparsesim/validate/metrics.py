"""Compare predicted and measured GEMM times: per-row errors and summary statistics.

A *predictor* is any callable ``predictor(row) -> Prediction`` (or a
``(dense_us, sparse_us)`` pair) for a :class:`~sparsesim.validate.measured.MeasuredRow`.
Keeping the predictor a plain callable keeps this module independent of the timing
engine: the engine adapter lives in :mod:`sparsesim.validate.engine`, tests inject
small analytic predictors.

Errors are signed percentages ``100 * (predicted - measured) / measured``.  The
summaries report the mean absolute percentage error (MAPE) and the median absolute
percentage error (MdAPE).  Rows that share one dense measurement (the same shape
timed once dense and then with two sparse backends) count once in the dense-time
statistics.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from ..errors import InputError
from .measured import LARGE_GEMM_MNK, MeasuredRow


@dataclass(frozen=True)
class Prediction:
    """Predicted dense and 2:4-sparse times of one GEMM (microseconds)."""

    dense_us: float
    sparse_us: float
    dense_bound: str = ""
    sparse_bound: str = ""
    info: dict = field(default_factory=dict, compare=False)

    @property
    def speedup(self) -> float:
        return self.dense_us / self.sparse_us


@dataclass(frozen=True)
class RowResult:
    row: MeasuredRow
    pred: Prediction

    @staticmethod
    def _pct(pred, meas):
        return 100.0 * (pred - meas) / meas

    @property
    def err_dense_pct(self) -> float:
        return self._pct(self.pred.dense_us, self.row.dense_us)

    @property
    def err_sparse_pct(self) -> float | None:
        if self.row.sparse_us is None:
            return None
        return self._pct(self.pred.sparse_us, self.row.sparse_us)

    @property
    def err_speedup_pct(self) -> float:
        return self._pct(self.pred.speedup, self.row.speedup)

    def to_dict(self) -> dict:
        r = self.row
        return {
            "gpu": r.gpu,
            "dtype": r.dtype,
            "m": r.m,
            "n": r.n,
            "k": r.k,
            "backend": r.backend,
            "source": r.source,
            "line": r.line,
            "large": r.is_large,
            "dense_us": r.dense_us,
            "pred_dense_us": self.pred.dense_us,
            "err_dense_pct": self.err_dense_pct,
            "sparse_us": r.sparse_us,
            "pred_sparse_us": self.pred.sparse_us,
            "err_sparse_pct": self.err_sparse_pct,
            "speedup": r.speedup,
            "pred_speedup": self.pred.speedup,
            "err_speedup_pct": self.err_speedup_pct,
            "dense_bound": self.pred.dense_bound,
            "sparse_bound": self.pred.sparse_bound,
            **{f"info_{k}": v for k, v in self.pred.info.items()},
        }


def _as_prediction(value, row) -> Prediction:
    if isinstance(value, Prediction):
        p = value
    else:
        try:
            dense_us, sparse_us = value
        except (TypeError, ValueError):
            raise InputError(
                f"predictor returned {value!r} for {row.where}; expected a Prediction or a (dense_us, sparse_us) pair"
            ) from None
        p = Prediction(float(dense_us), float(sparse_us))
    for name in ("dense_us", "sparse_us"):
        v = getattr(p, name)
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise InputError(f"predictor gave {name}={v!r} for {row.where}; expected a positive finite time")
    return p


def evaluate(rows, predictor, progress=None) -> list[RowResult]:
    """Predict every row; ``progress(i, n)`` is called after each row if given."""
    rows = list(rows)
    out = []
    for i, row in enumerate(rows):
        out.append(RowResult(row, _as_prediction(predictor(row), row)))
        if progress is not None:
            progress(i + 1, len(rows))
    return out


def error_stats(errors) -> dict:
    """``n``, ``mape``, ``mdape`` and ``max_ape`` (percent) of signed percentage errors."""
    a = [abs(e) for e in errors if e is not None]
    if not a:
        return {"n": 0, "mape": None, "mdape": None, "max_ape": None}
    return {"n": len(a), "mape": sum(a) / len(a), "mdape": statistics.median(a), "max_ape": max(a)}


def correlation(xs, ys) -> float | None:
    """Pearson correlation of two sequences (None below 3 points or without spread)."""
    xs, ys = list(xs), list(ys)
    if len(xs) < 3:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 0 or syy <= 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def group_stats(results) -> dict:
    """Error statistics of dense time, sparse time and speedup over ``results``, and the
    correlation of predicted with measured speedup."""
    seen = {}
    for r in results:
        seen.setdefault(r.row.shape_key(), r)
    return {
        "rows": len(results),
        "dense": error_stats(r.err_dense_pct for r in seen.values()),
        "sparse": error_stats(r.err_sparse_pct for r in results),
        "speedup": error_stats(r.err_speedup_pct for r in results),
        "speedup_corr": correlation([r.row.speedup for r in results], [r.pred.speedup for r in results]),
    }


def noise_floor(rows, arch_of=None) -> dict:
    """The benchmark's own repeatability: shapes measured more than once (in one file or across
    files) on the same GPU and dtype.  ``arch_of(gpu)`` names the board a GPU name stands for
    (two names of one board pool their rows; default the name itself).  Per board: the number
    of shapes, and the mean and largest relative difference between two measurements of one
    shape, ``|a - b| / mean(a, b)``, of the speedup and of the dense time (percent)."""
    arch_of = arch_of or (lambda g: g)
    groups: dict = {}
    for r in rows:
        groups.setdefault((arch_of(r.gpu), r.dtype, r.m, r.n, r.k), []).append(r)
    out: dict = {}
    for (board, *_), rs in groups.items():
        if len(rs) < 2:
            continue
        d = out.setdefault(board, {"shapes": 0, "speedup": [], "dense": [], "large_speedup": []})
        d["shapes"] += 1
        for i in range(len(rs)):
            for j in range(i + 1, len(rs)):
                a, b = rs[i], rs[j]
                sp = 100.0 * abs(a.speedup - b.speedup) / (0.5 * (a.speedup + b.speedup))
                d["speedup"].append(sp)
                d["dense"].append(100.0 * abs(a.dense_us - b.dense_us) / (0.5 * (a.dense_us + b.dense_us)))
                if a.is_large:
                    d["large_speedup"].append(sp)
    for board, d in out.items():
        for key in ("speedup", "dense", "large_speedup"):
            v = d.pop(key)
            d[f"{key}_pct"] = statistics.fmean(v) if v else None
            d[f"{key}_max_pct"] = max(v) if v else None
    return out


def summarize(results, fitted=None) -> dict:
    """Grouped error statistics: overall, GEMMs with m*n*k >= 2^30, per GPU, GPU/dtype and
    GPU/dtype/shape family (large GEMMs), rows the source flags as library outliers left out,
    and per backend.

    Keys are group labels (``all``, ``large``, ``A100 large``, ``A100/fp16 large``,
    ``A100/fp16/square large``, ``A100 large unflagged``, ``backend=CUTLASS large`` ...),
    values are :func:`group_stats` dicts.  Groups with no rows are left out.  ``fitted``
    (a set of ``(file name, line)``) marks rows a calibration was fitted on; the
    ``held-out`` groups leave them out.
    """
    results = list(results)
    groups = {"all": results, f"large (m*n*k >= 2^{int(math.log2(LARGE_GEMM_MNK))})": [r for r in results if r.row.is_large]}
    if fitted:
        held = [r for r in results if not is_fitted(r.row, fitted)]
        groups["held-out"] = held
        groups["held-out large"] = [r for r in held if r.row.is_large]
        groups["held-out large cuSPARSELt"] = [r for r in held if r.row.is_large and _backend_family(r.row.backend) == "cuSPARSELt"]
        groups["held-out large fp16/bf16"] = [r for r in held if r.row.is_large and r.row.dtype in ("fp16", "bf16")]
        groups["held-out large fp16/bf16 cuSPARSELt"] = [
            r for r in groups["held-out large fp16/bf16"] if _backend_family(r.row.backend) == "cuSPARSELt"
        ]
        groups["fitted"] = [r for r in results if is_fitted(r.row, fitted)]
    large = [r for r in results if r.row.is_large]
    for gpu in sorted({r.row.gpu for r in results}):
        mine = [r for r in large if r.row.gpu == gpu]
        groups[f"{gpu} large"] = mine
        groups[f"{gpu} large unflagged"] = [r for r in mine if not r.row.flagged]
    keys = sorted({(r.row.gpu, r.row.dtype) for r in results})
    for gpu, dt in keys:
        sel = [r for r in results if (r.row.gpu, r.row.dtype) == (gpu, dt)]
        groups[f"{gpu}/{dt}"] = sel
        groups[f"{gpu}/{dt} large"] = [r for r in sel if r.row.is_large]
        for fam in sorted({r.row.family for r in sel}):
            groups[f"{gpu}/{dt}/{fam} large"] = [r for r in sel if r.row.is_large and r.row.family == fam]
    backends = sorted({_backend_family(r.row.backend) for r in results})
    if len(backends) > 1:
        for b in backends:
            groups[f"backend={b} large"] = [r for r in results if r.row.is_large and _backend_family(r.row.backend) == b]
    return {name: group_stats(sel) for name, sel in groups.items() if sel}


def is_fitted(row, fitted) -> bool:
    from pathlib import Path

    return bool(fitted) and (Path(row.file).name, row.line) in fitted


def _backend_family(backend: str) -> str:
    b = backend.lower()
    if "cutlass" in b:
        return "CUTLASS"
    if "cusparselt" in b:
        return "cuSPARSELt"
    return backend or "?"
