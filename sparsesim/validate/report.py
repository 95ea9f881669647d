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


SUMMARY_HEADER = ("group", "rows", "speedup MAPE", "speedup MdAPE", "speedup corr", "dense MAPE", "sparse MAPE",
                  "noise floor")


def summary_rows(summary: dict, noise: dict, board_of=None, groups=None):
    """(header, rows) of the summary table; ``noise`` (from :func:`noise_floor`) fills the
    noise-floor column of the groups of a GPU whose board has repeated shapes."""
    out = []
    for name, g in summary.items():
        if groups is not None and name not in groups:
            continue
        floor = "-"
        gpu = name.split("/")[0].split(" ")[0]
        if board_of is not None and noise:
            nf = noise.get(board_of(gpu))
            if nf and nf.get("speedup_pct") is not None:
                floor = f"{nf['speedup_pct']:.1f}"
        corr = g.get("speedup_corr")
        out.append((name, g["rows"], _f(g["speedup"]["mape"]), _f(g["speedup"]["mdape"]),
                    "-" if corr is None else f"{corr:.2f}", _f(g["dense"]["mape"]), _f(g["sparse"]["mape"]), floor))
    return SUMMARY_HEADER, out


def summary_table(summary: dict) -> list[tuple]:
    return summary_rows(summary, {}, None)[1]


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
    return f"{r.row.gpu} {r.row.dtype}"


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


def plot_speedup_vs_size(results, path, title="2:4 speedup, GEMMs >= 1024³: predicted vs measured"):
    """One panel per GPU: predicted against measured speedup (the correlation the tables give)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    large = [r for r in results if r.row.is_large]
    gpus = sorted({r.row.gpu for r in large}) or ["-"]
    cols = min(3, len(gpus))
    rows_n = -(-len(gpus) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.6 * cols, 4.2 * rows_n), squeeze=False)
    for ax, gpu in zip(axes.flat, gpus):
        sel = [r for r in large if r.row.gpu == gpu]
        for di, dt in enumerate(sorted({r.row.dtype for r in sel})):
            pts = [r for r in sel if r.row.dtype == dt]
            ax.scatter([r.row.speedup for r in pts], [r.pred.speedup for r in pts], s=10, color=f"C{di}",
                       label=dt, alpha=0.7)
        ax.plot([0.3, 3.0], [0.3, 3.0], "k-", lw=0.8)
        ax.plot([0.3, 3.0], [0.33, 3.3], "k:", lw=0.8)
        ax.plot([0.3, 3.0], [0.27, 2.7], "k:", lw=0.8)
        ax.set_xlim(0.3, 3.0)
        ax.set_ylim(0.3, 3.0)
        ax.set_xlabel("measured speedup")
        ax.set_ylabel("predicted speedup")
        ax.set_title(gpu, fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(gpus):]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


# ---------------------------------------------------------------- the page
def _goal_groups(summary):
    """The headline groups: each GPU's GEMMs >= 1024^3, then by dtype, then by family."""
    per_gpu = [k for k in summary if k.endswith(" large") and "/" not in k and not k.startswith(("large", "held-out"))
               and not k.startswith("backend")]
    unflagged = [k for k in summary if k.endswith(" large unflagged")]
    per_dtype = [k for k in summary if k.count("/") == 1 and k.endswith(" large") and not k.startswith("held-out")]
    per_family = [k for k in summary if k.count("/") == 2 and k.endswith(" large")]
    return per_gpu + unflagged, per_dtype, per_family


def kernel_table(results, limit_per_gpu=4):
    """Which library kernel won, for a few GEMMs of each GPU (the largest square, the largest
    and the smallest token count of one layer)."""
    rows = []
    by_gpu: dict = {}
    for r in results:
        if r.row.is_large and r.pred.info.get("dense_kernel"):
            by_gpu.setdefault(r.row.gpu, []).append(r)
    for gpu, rs in sorted(by_gpu.items()):
        rs = sorted(rs, key=lambda r: r.row.mnk)
        pick = []
        for r in (rs[0], rs[len(rs) // 2], rs[-1], min(rs, key=lambda r: r.row.n)):
            if r not in pick:
                pick.append(r)
        for r in pick[:limit_per_gpu]:
            w = r.row
            rows.append((gpu, w.dtype, f"{w.m}x{w.n}x{w.k}", r.pred.info.get("dense_kernel", "-"), r.pred.dense_bound,
                         r.pred.info.get("sparse_kernel", "-"), r.pred.sparse_bound,
                         f"{w.speedup:.2f}", f"{r.pred.speedup:.2f}"))
    return ("gpu", "dtype", "m x n x k", "dense kernel (cuBLASLt)", "bound", "2:4 kernel (cuSPARSELt)", "bound",
            "speedup meas", "pred"), rows


def schedule_counts(results):
    """How often each work decomposition won, per GPU and library (GEMMs >= 1024^3)."""
    counts: dict = {}
    for r in results:
        if not r.row.is_large:
            continue
        for tag in ("dense", "sparse"):
            name = r.pred.info.get(f"{tag}_kernel", "")
            sched = "split-K" if "split-K" in name else "stream-K" if "stream-K" in name else "data-parallel"
            c = counts.setdefault((r.row.gpu, tag), {})
            c[sched] = c.get(sched, 0) + 1
    rows = [(g, t, *(c.get(s, 0) for s in ("data-parallel", "split-K", "stream-K"))) for (g, t), c in sorted(counts.items())]
    return ("gpu", "library", "data-parallel", "split-K", "stream-K"), rows


def write_report(out_dir, results, summary, meta: dict, noise=None, board_of=None, fitted=None,
                 cross_validation=None) -> dict:
    """Write report.md, errors.csv, summary.json and the plots into ``out_dir``; returns the paths."""
    noise = noise or {}
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
    write_text_atomic(paths["summary"], json.dumps({"meta": meta, "summary": summary, "noise_floor": noise},
                                                   indent=2, default=str) + "\n")
    plot_scatter(results, paths["scatter"])
    plot_error_vs_size(results, paths["error_vs_size"])
    plot_speedup_vs_size(results, paths["speedup_vs_size"])

    md = ["# Validation against measured GPU timings", "", "Generated by:", "", "```",
          meta.get("command", "sparsesim validate ..."), "```", ""]
    for k in ("date", "measured", "arch_map", "calibration", "noise_reference", "fitted"):
        if k in meta:
            md.append(f"- **{k}**: {meta[k]}")
    md += ["", "Errors are `(predicted - measured) / measured` in percent; MAPE = mean absolute percentage "
           "error, MdAPE = median; corr = Pearson correlation of predicted and measured 2:4 speedup.  Dense "
           "statistics count each distinct dense measurement once.  'large' means m·n·k >= "
           f"2^{int(math.log2(LARGE_GEMM_MNK))} (1024³); 'unflagged' leaves out the rows the source flags as "
           "library outliers (`SUSPICIOUS` in notes).  The noise floor is the benchmark's own repeatability: "
           "the mean relative difference of the speedups of shapes it measured twice.  Why the model and the "
           "measurements disagree where they do is discussed in `docs/validation.md`.", ""]
    per_gpu, per_dtype, per_family = _goal_groups(summary)
    for title, groups in (("Per GPU (GEMMs >= 1024³)", per_gpu), ("Per GPU and dtype", per_dtype),
                          ("Per GPU, dtype and shape family", per_family)):
        header, table = summary_rows(summary, noise, board_of, set(groups))
        if table:
            md += [f"## {title}", "", markdown_table(header, table), ""]
    if cross_validation:
        cv = cross_validation
        _, fit_groups, _ = _goal_groups(cv["cross_validated"])
        groups = [k for k in cv["cross_validated"] if k.endswith(" large") and "/" not in k] + fit_groups
        header, table = summary_rows(cv["cross_validated"], noise, board_of, set(groups + [
            k for k in cv["cross_validated"] if k.count("/") == 2 and k.endswith(" large")]))
        values = ", ".join(f"{k} = {v:.4g}" for k, v in cv["values"].items())
        md += [f"## {cv['gpu']} under {cv['folds']}-fold cross-validation (the fitted GPU)", "",
               f"Each row predicted by a fit that did not see its layer (`{cv['command']}`; surrogate of the "
               f"simulated parameter grid).  Fitted on all rows: {values}.", "", markdown_table(header, table), ""]
    others = [k for k in summary if k.startswith(("all", "large", "held-out", "fitted", "backend"))]
    header, table = summary_rows(summary, noise, board_of, set(others))
    if table:
        md += ["## All rows", "", markdown_table(header, table), ""]
    if noise:
        rows = [(b, d["shapes"], _f(d["speedup_pct"]), _f(d["speedup_max_pct"]), _f(d["dense_pct"]),
                 _f(d["large_speedup_pct"])) for b, d in sorted(noise.items())]
        md += ["## Noise floor (shapes measured more than once)", "",
               markdown_table(("board", "shapes", "speedup diff %", "max %", "dense time diff %",
                               "speedup diff %, GEMMs >= 1024³"), rows), ""]
    header, table = kernel_table(results)
    if table:
        md += ["## Which library kernel won (examples)", "",
               "The fastest candidate of the arch's `[library]` table (`sparsesim.timing.library`); "
               "`sparsesim simulate --json` gives the reasons (`kernel.why`).", "", markdown_table(header, table), ""]
        header, table = schedule_counts(results)
        md += ["Work decompositions that won (GEMMs >= 1024³):", "", markdown_table(header, table), ""]
    md += ["## Plots", "", "![predicted vs measured](pred_vs_measured.png)", "",
           "![error vs size](error_vs_size.png)", "", "![speedup vs size](speedup_vs_size.png)", "",
           "Per-row predictions, errors and the winning kernels: `errors.csv`.", ""]
    write_text_atomic(paths["report"], "\n".join(md))
    return {k: str(v) for k, v in paths.items()}
