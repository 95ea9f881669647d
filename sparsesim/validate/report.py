"""Validation outputs: text tables, CSV/JSON error tables, plots and a Markdown page.

Nothing here prints; the CLI decides what goes to the terminal.  All files are
written atomically.  Plots use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from ..io import atomic_path, write_text_atomic
from .measured import LARGE_GEMM_MNK


def _f(x, spec=".1f"):
    return "-" if x is None else format(x, spec)


def _us(x):
    if x is None:
        return "-"
    if x >= 1e5:
        return f"{x:.3g}"
    return f"{x:.4g}"


ROW_HEADER = (
    "gpu", "dtype", "m x n x k", "backend", "src",
    "dense meas", "dense pred", "err%",
    "sparse meas", "sparse pred", "err%",
    "speedup meas", "pred", "err%",
)


def row_table(results, fitted=None) -> list[tuple]:
    from .metrics import is_fitted

    out = []
    for r in results:
        w = r.row
        out.append(
            (
                w.gpu + ("*" if is_fitted(w, fitted) else ""),
                w.dtype,
                f"{w.m}x{w.n}x{w.k}",
                _short_backend(w.backend),
                w.source,
                _us(w.dense_us),
                _us(r.pred.dense_us),
                f"{r.err_dense_pct:+.1f}",
                _us(w.sparse_us),
                _us(r.pred.sparse_us),
                "-" if r.err_sparse_pct is None else f"{r.err_sparse_pct:+.1f}",
                f"{w.speedup:.2f}",
                f"{r.pred.speedup:.2f}",
                f"{r.err_speedup_pct:+.1f}",
            )
        )
    return out


def _short_backend(b: str) -> str:
    lb = b.lower()
    if "cutlass" in lb:
        return "CUTLASS"
    if "cusparselt" in lb:
        return "cuSPARSELt"
    return b[:12]


def format_text_table(header, rows) -> str:
    rows = [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in rows)) if rows else len(str(h)) for i, h in enumerate(header)]
    lines = ["  ".join(str(h).rjust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    return "\n".join(lines)


SUMMARY_HEADER = ("group", "rows", "dense MAPE", "dense MdAPE", "sparse MAPE", "sparse MdAPE", "speedup MAPE", "speedup MdAPE")


def summary_table(summary: dict) -> list[tuple]:
    out = []
    for name, g in summary.items():
        out.append(
            (
                name,
                g["rows"],
                _f(g["dense"]["mape"]),
                _f(g["dense"]["mdape"]),
                _f(g["sparse"]["mape"]),
                _f(g["sparse"]["mdape"]),
                _f(g["speedup"]["mape"]),
                _f(g["speedup"]["mdape"]),
            )
        )
    return out


def markdown_table(header, rows) -> str:
    lines = ["| " + " | ".join(str(h) for h in header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(lines)


def errors_csv(results, fitted=None) -> str:
    from .metrics import is_fitted

    dicts = [{**r.to_dict(), "fitted": is_fitted(r.row, fitted)} for r in results]
    keys = []
    for d in dicts:
        for k in d:
            if k not in keys:
                keys.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    w.writeheader()
    for d in dicts:
        w.writerow({k: ("" if d.get(k) is None else d.get(k)) for k in keys})
    return buf.getvalue()


# ---------------------------------------------------------------- plots
def _label(r):
    return f"{r.row.gpu} {r.row.dtype} {r.row.source} {_short_backend(r.row.backend)}"


def _save(fig, path):
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)


def plot_scatter(results, path, title="Predicted vs measured GEMM time"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    groups = sorted({_label(r) for r in results})
    markers = "osD^v<>ph*"
    for ax, what in zip(axes, ("dense", "sparse")):
        lo, hi = math.inf, 0.0
        for gi, g in enumerate(groups):
            sel = [r for r in results if _label(r) == g]
            if what == "dense":
                xs = [r.row.dense_us for r in sel]
                ys = [r.pred.dense_us for r in sel]
            else:
                sel = [r for r in sel if r.row.sparse_us is not None]
                xs = [r.row.sparse_us for r in sel]
                ys = [r.pred.sparse_us for r in sel]
            if not xs:
                continue
            ax.scatter(xs, ys, marker=markers[gi % len(markers)], color=f"C{gi % 10}", label=g, alpha=0.8)
            lo = min(lo, *xs, *ys)
            hi = max(hi, *xs, *ys)
        if hi > 0:
            line = [lo / 1.5, hi * 1.5]
            ax.plot(line, line, "k-", lw=0.8, label="y = x")
            ax.plot(line, [v * 1.15 for v in line], "k:", lw=0.8, label="±15 %")
            ax.plot(line, [v / 1.15 for v in line], "k:", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"measured {what} time (µs)")
        ax.set_ylabel(f"predicted {what} time (µs)")
        ax.set_title(f"{what} GEMM" + (" (rows with a published sparse time)" if what == "sparse" else ""))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_error_vs_size(results, path, title="Prediction error vs GEMM size"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.5), sharex=True)
    groups = sorted({_label(r) for r in results})
    markers = "osD^v<>ph*"
    specs = (("dense time", lambda r: r.err_dense_pct), ("sparse time", lambda r: r.err_sparse_pct),
             ("2:4 speedup", lambda r: r.err_speedup_pct))
    for ax, (what, fn) in zip(axes, specs):
        for gi, g in enumerate(groups):
            pts = [(r.row.mnk, fn(r)) for r in results if _label(r) == g and fn(r) is not None]
            if pts:
                ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=markers[gi % len(markers)],
                           color=f"C{gi % 10}", label=g, alpha=0.8)
        ax.axhline(0, color="k", lw=0.8)
        ax.axvline(LARGE_GEMM_MNK, color="grey", ls="--", lw=0.8)
        ax.axhspan(-10, 10, color="green", alpha=0.08)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("m·n·k (dashed: 1024³)")
        ax.set_ylabel("error % (pred - meas) / meas")
        ax.set_title(what)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_speedup_vs_size(results, path, title="2:4 speedup: measured vs predicted"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    groups = sorted({_label(r) for r in results})
    for gi, g in enumerate(groups):
        sel = sorted((r for r in results if _label(r) == g), key=lambda r: r.row.mnk)
        color = f"C{gi % 10}"
        ax.plot([r.row.mnk for r in sel], [r.row.speedup for r in sel], "o", color=color, label=f"{g} measured")
        square = all(r.row.m == r.row.n == r.row.k for r in sel)  # join only a size sweep with a line
        ax.plot([r.row.mnk for r in sel], [r.pred.speedup for r in sel], "x--" if square else "x", color=color, lw=0.8,
                label=f"{g} predicted")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.axhline(2.0, color="grey", ls=":", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("m·n·k")
    ax.set_ylabel("dense time / 2:4 time")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


# ---------------------------------------------------------------- the page
def write_report(out_dir, results, summary, meta: dict, extra_sections=(), fitted=None) -> dict:
    """Write report.md, errors.csv, summary.json and the plots into ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "report": out / "report.md",
        "errors": out / "errors.csv",
        "summary": out / "summary.json",
        "scatter": out / "pred_vs_measured.png",
        "error_vs_size": out / "error_vs_size.png",
        "speedup_vs_size": out / "speedup_vs_size.png",
    }
    write_text_atomic(paths["errors"], errors_csv(results, fitted))
    write_text_atomic(paths["summary"], json.dumps({"meta": meta, "summary": summary}, indent=2, default=str) + "\n")
    plot_scatter(results, paths["scatter"])
    plot_error_vs_size(results, paths["error_vs_size"])
    plot_speedup_vs_size(results, paths["speedup_vs_size"])

    md = ["# Validation against measured GPU timings", ""]
    md.append("Generated by:")
    md.append("")
    md.append("```")
    md.append(meta.get("command", "sparsesim validate ..."))
    md.append("```")
    md.append("")
    for k in ("date", "measured", "arch_map", "power", "fitted"):
        if k in meta:
            md.append(f"- **{k}**: {meta[k]}")
    md.append("")
    md.append(
        "Errors are `(predicted - measured) / measured` in percent; MAPE = mean absolute percentage "
        "error, MdAPE = median.  Dense statistics count each distinct dense measurement once.  "
        f"'large' means m·n·k >= 2^{int(math.log2(LARGE_GEMM_MNK))} (1024³)."
    )
    md.append("")
    md.append(
        "Why the model and the measurements disagree where they do (power limit, library and tile "
        "effects, what is not explained) is discussed in `docs/validation.md`."
    )
    md.append("")
    md.append("## Summary")
    md.append("")
    md.append(markdown_table(SUMMARY_HEADER, summary_table(summary)))
    md.append("")
    md.append("## Plots")
    md.append("")
    md.append("![predicted vs measured](pred_vs_measured.png)")
    md.append("")
    md.append("![error vs size](error_vs_size.png)")
    md.append("")
    md.append("![speedup vs size](speedup_vs_size.png)")
    md.append("")
    for title, body in extra_sections:
        md.append(f"## {title}")
        md.append("")
        md.append(body)
        md.append("")
    md.append("## Per-row results (times in µs)")
    md.append("")
    md.append(markdown_table(ROW_HEADER, row_table(results, fitted)))
    md.append("")
    write_text_atomic(paths["report"], "\n".join(md))
    return {k: str(v) for k, v in paths.items()}
