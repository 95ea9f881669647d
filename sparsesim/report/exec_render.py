"""The exec-mode report: tables (markdown), figures and CSV from :mod:`.exec_study` rows."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ..io import atomic_path, write_text_atomic

KEY = ("dtype", "pattern", "density", "format")


def _groups(rows, arch):
    out = {}
    for r in rows:
        if r["arch"] == arch:
            out.setdefault(tuple(r[k] for k in KEY), []).append(r)
    return out


def _sum(rs, col):
    return float(sum(r[col] for r in rs))


def _pct(a, b):
    return 100.0 * (a / b - 1.0) if b else 0.0


def aggregate(rows, arch="a100") -> list:
    """One line per GPU config: sums over the layers and the exec-vs-statistical differences."""
    out = []
    for key, rs in _groups(rows, arch).items():
        d = dict(zip(KEY, key))
        for col in ("a_bytes", "dram", "l2", "smem", "multiplies", "kernel_us"):
            e, s = _sum(rs, f"{col}_exec" if col != "kernel_us" else "exec_kernel_us"), \
                _sum(rs, f"{col}_stat" if col != "kernel_us" else "stat_kernel_us")
            d[f"{col}_exec"], d[f"{col}_stat"], d[f"{col}_diff_pct"] = e, s, _pct(e, s)
        d["full_kernel_us"] = _sum(rs, "full_kernel_us")
        d["exec_vs_full_pct"] = _pct(d["kernel_us_exec"], d["full_kernel_us"])
        d["exec_us"], d["stat_us"] = _sum(rs, "exec_us"), _sum(rs, "stat_us")
        d["layers"] = len(rs)
        d["datapath_changed"] = sum(r["datapath"] != r["datapath_stat"] for r in rs)
        d["tile_changed"] = sum(r["tile"] != r["stat_tile"] for r in rs)
        d["skipped_pct"] = 100.0 * _sum(rs, "skipped_iterations") / _sum(rs, "iterations")
        d["empty_ctas"] = int(_sum(rs, "empty_ctas"))
        d["tile_row_a_max"] = float(max(r["tile_row_a_max_over_mean"] for r in rs))
        d["tile_row_a_cv"] = float(np.mean([r["tile_row_a_cv"] for r in rs]))
        d["tile_row_mac_max"] = float(max(r["tile_row_mac_max_over_mean"] for r in rs))
        d["passes_exec"] = float(np.mean([r["passes_exec"] for r in rs]))
        d["passes_stat"] = float(np.mean([r["passes_stat"] for r in rs]))
        d["real_density"] = float(np.mean([r["real_density"] for r in rs]))
        d["rel_err_mean"] = float(np.mean([r["rel_err"] for r in rs]))
        d["rel_err_max"] = float(max(r["rel_err"] for r in rs))
        d["prune_err_mean"] = float(np.mean([r["prune_rel_err"] for r in rs]))
        d["exec_wall_s"] = _sum(rs, "exec_wall_s")
        d["stat_wall_s"] = _sum(rs, "stat_wall_s")
        out.append(d)
    return out


def _label(d):
    if d["pattern"] == "unstructured":
        return f"{d['density']:g} {d['format']}"
    return d["pattern"]


def _fmt_bytes(x):
    return f"{x / 2**20:.2f} MiB"


def traffic_table(agg) -> str:
    head = ("| dtype | A | real density | A encoded (exec / stat) | DRAM | L2 | smem | MMA multiplies | passes per step "
            "(exec / stat) | tile-row A bytes: max / mean (CV) | tile-row MMAs: max / mean | skipped iterations "
            "| datapath / autotuned tile differ |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
    lines = []
    for d in agg:
        lines.append(
            f"| {d['dtype']} | {_label(d)} | {d['real_density']:.4f} | {_fmt_bytes(d['a_bytes_exec'])} / "
            f"{_fmt_bytes(d['a_bytes_stat'])} ({d['a_bytes_diff_pct']:+.2f} %) | {d['dram_diff_pct']:+.2f} % | "
            f"{d['l2_diff_pct']:+.2f} % | {d['smem_diff_pct']:+.2f} % | {d['multiplies_diff_pct']:+.1f} % | "
            f"{d['passes_exec']:.3f} / {d['passes_stat']:.3f} | {d['tile_row_a_max']:.2f} ({d['tile_row_a_cv']:.2f}) | "
            f"{d['tile_row_mac_max']:.2f} | {d['skipped_pct']:.2f} % "
            f"({d['empty_ctas']} empty CTAs) | {d['datapath_changed']} / {d['tile_changed']} of {d['layers']} |")
    return head + "\n".join(lines) + "\n"


def time_table(agg) -> str:
    head = ("| dtype | A | kernel time exec (us) | statistical | full (exec's tile) | exec vs stat | exec vs full "
            "| with launch: exec / stat (us) |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
    lines = [f"| {d['dtype']} | {_label(d)} | {d['kernel_us_exec']:.1f} | {d['kernel_us_stat']:.1f} | "
             f"{d['full_kernel_us']:.1f} | {d['kernel_us_diff_pct']:+.2f} % | {d['exec_vs_full_pct']:+.2f} % | "
             f"{d['exec_us']:.1f} / {d['stat_us']:.1f} |" for d in agg]
    return head + "\n".join(lines) + "\n"


def error_table(agg, cpu) -> str:
    head = ("| arch | dtype | A | output error vs dense fp32 (mean / worst layer) | of which pruning alone |\n"
            "| --- | --- | --- | --- | --- |\n")
    lines = [f"| a100 | {d['dtype']} | {_label(d)} | {100 * d['rel_err_mean']:.3f} % / {100 * d['rel_err_max']:.3f} % | "
             f"{100 * d['prune_err_mean']:.3f} % |" for d in agg]
    lines += [f"| {c['arch']} | int8 | {c['pattern']} | {100 * c['rel_err_mean']:.3f} % / {100 * c['rel_err_max']:.3f} % "
              f"| {100 * c['prune_err_mean']:.3f} % |" for c in cpu]
    return head + "\n".join(lines) + "\n"


def cpu_aggregate(rows) -> list:
    out = []
    for arch in sorted({r["arch"] for r in rows if r["arch"] != "a100"}):
        for pat in ("dense", "2:4"):
            rs = [r for r in rows if r["arch"] == arch and r["pattern"] == pat]
            if rs:
                out.append({"arch": arch, "pattern": pat, "exec_us": _sum(rs, "exec_us"), "stat_us": _sum(rs, "stat_us"),
                            "kernel": rs[0]["datapath"], "rel_err_mean": float(np.mean([r["rel_err"] for r in rs])),
                            "rel_err_max": float(max(r["rel_err"] for r in rs)),
                            "prune_err_mean": float(np.mean([r["prune_rel_err"] for r in rs])),
                            "dram_exec": _sum(rs, "dram_exec"), "dram_stat": _sum(rs, "dram_stat"),
                            "exec_wall_s": _sum(rs, "exec_wall_s"), "layers": len(rs)})
    return out


def cpu_table(cpu) -> str:
    head = ("| arch | int8 A | kernel | time exec = statistical (us, 36 layers) | DRAM bytes exec / stat | "
            "exec wall (s) |\n| --- | --- | --- | --- | --- | --- |\n")
    lines = [f"| {c['arch']} | {c['pattern']} | {c['kernel']} | {c['exec_us']:.1f} ({c['stat_us']:.1f}) | "
             f"{_fmt_bytes(c['dram_exec'])} / {_fmt_bytes(c['dram_stat'])} | {c['exec_wall_s']:.1f} |" for c in cpu]
    return head + "\n".join(lines) + "\n"


def occupancy_table(occ) -> str:
    head = ("| density | 2:4 passes per MMA step: real / binomial model | row-density CV: real / binomial | "
            "empty MMA steps: real / model | empty rows | empty 64x64 regions |\n"
            "| --- | --- | --- | --- | --- | --- |\n")
    lines = []
    for d in sorted({o["density"] for o in occ}, reverse=True):
        os_ = [o for o in occ if o["density"] == d]
        pr, pm = np.mean([o["passes_real"] for o in os_]), np.mean([o["passes_model"] for o in os_])
        lines.append(
            f"| {d:g} | {pr:.3f} / {pm:.3f} ({100 * (pr / pm - 1):+.1f} %; layers {min(o['passes_real'] / o['passes_model'] for o in os_):.2f}"
            f"-{max(o['passes_real'] / o['passes_model'] for o in os_):.2f}x) | "
            f"{np.mean([o['row_cv_real'] for o in os_]):.2f} / {np.mean([o['row_cv_binomial'] for o in os_]):.2f} | "
            f"{100 * np.mean([o['empty_steps_real'] for o in os_]):.2f} % / {100 * np.mean([o['empty_steps_model'] for o in os_]):.2g} % | "
            f"{sum(o['empty_rows'] for o in os_)} of {sum(o['rows'] for o in os_)} | "
            f"{sum(o['empty_64x64'] for o in os_)} of {sum(o['regions_64x64'] for o in os_)} |")
    return head + "\n".join(lines) + "\n"


def timing_table(timing) -> str:
    head = ("| layer (m x n x k) | dtype | A | exec (s) | statistical (s) | exec / statistical | of exec: tile search "
            "/ run (s) | CTA-iterations |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
    lines = [f"| {t['layer'].replace('encoder.layer.', '')} ({t['gemm']}) | {t['dtype']} | {_label(t)} | "
             f"{t['exec_s']:.3f} | {t['stat_s']:.4f} | {t['ratio']:.0f}x | {t['tile_search_s']:.2f} / {t['run_s']:.2f} "
             f"({t['candidates']} tiles) | {t['items']} |" for t in timing]
    return head + "\n".join(lines) + "\n"


def write_csv(path, rows) -> None:
    if not rows:
        return
    cols = list(rows[0])
    for r in rows[1:]:
        cols += [c for c in r if c not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: (f"{v:.6g}" if isinstance(v, float) else v) for c, v in r.items()})
    write_text_atomic(path, buf.getvalue())


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def figure_passes(occ, agg, path) -> None:
    plt = _plt()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.2))
    dens = sorted({o["density"] for o in occ})
    for lin in dict.fromkeys(o["linear"] for o in occ):
        ys = [np.mean([o["passes_real"] for o in occ if o["linear"] == lin and o["density"] == d]) for d in dens]
        ax0.plot(dens, ys, marker="o", label=f"real, {lin}")
    model = [occ[[o["density"] for o in occ].index(d)]["passes_model"] for d in dens]
    ax0.plot(dens, model, "k--", lw=2, label="binomial model")
    ax0.set(xscale="log", xlabel="density (unstructured, magnitude-pruned)", ylabel="2:4 passes per 16x32 MMA step",
            title="per-step occupancy: real weights vs the model")
    ax0.legend(fontsize=7)
    for fmt, ls in (("csr", "-"), ("csb", "--"), ("bitmask", "-.")):
        pts = sorted((d["density"], d) for d in agg if d["dtype"] == "fp16" and d["format"] == fmt)
        if not pts:
            continue
        xs = [p[0] for p in pts]
        ax1.plot(xs, [p[1]["multiplies_diff_pct"] for p in pts], ls, marker="o", color="C0",
                 label=f"MMA multiplies, {fmt}")
        ax1.plot(xs, [p[1]["kernel_us_diff_pct"] for p in pts], ls, marker="s", color="C3", label=f"kernel time, {fmt}")
        ax1.plot(xs, [p[1]["l2_diff_pct"] for p in pts], ls, marker="^", color="C2", label=f"L2 bytes, {fmt}")
    ax1.axhline(0, color="k", lw=0.8)
    ax1.set(xscale="log", xlabel="density", ylabel="exec vs statistical (%)", title="fp16 on a100, sum of 36 layers")
    ax1.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def figure_error(agg, cpu, path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for dt, color in (("fp16", "C0"), ("int8", "C3")):
        pts = sorted((d["density"], d["rel_err_mean"], d["prune_err_mean"]) for d in agg
                     if d["dtype"] == dt and d["pattern"] == "unstructured" and d["format"] in ("csr", "bitmask"))
        pts = sorted({p[0]: p for p in pts}.values())
        ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], marker="o", color=color, label=f"a100 {dt} unstructured")
        for d in agg:
            if d["dtype"] == dt and d["pattern"] in ("dense", "2:4", "4:8"):
                ax.plot([d["density"]], [100 * d["rel_err_mean"]], marker={"dense": "*", "2:4": "^", "4:8": "s"}[d["pattern"]],
                        color=color, ls="", ms=9, label=f"a100 {dt} {d['pattern']}")
    for c in cpu:
        ax.plot([1.0 if c["pattern"] == "dense" else 0.5], [100 * c["rel_err_mean"]], marker="x", color="C2", ls="", ms=9)
    pts = sorted({d["density"]: d["prune_err_mean"] for d in agg if d["pattern"] == "unstructured"}.items())
    ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], "k:", label="pruning alone (fp32)")
    ax.set(xscale="log", yscale="log", xlabel="density of the weights", ylabel="relative error of C vs dense fp32 (%)",
           title="all-MiniLM-L6-v2, mean over 36 linear layers (x: CPU int8)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _value(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


# What --render-only reads back: the columns the tables, figures and prose use, and which of
# them are text; the rest are numbers (finite; "pos": also > 0, they divide).  Columns only GPU
# rows have may be empty in CPU rows.
_TEXT = {"arch", "layer", "linear", "dtype", "pattern", "format", "tile", "datapath", "stat_tile",
         "datapath_stat", "gemm"}
_RESULT_COLS = ("arch", "layer", "linear", "dtype", "pattern", "density", "format", "real_density", "exec_us",
                "stat_us", "exec_kernel_us", "stat_kernel_us", "tile", "datapath", "a_bytes_exec", "a_bytes_stat",
                "dram_exec", "dram_stat", "rel_err", "prune_rel_err", "exec_wall_s", "stat_wall_s")
_GPU_COLS = ("full_kernel_us", "stat_tile", "l2_exec", "l2_stat", "smem_exec", "smem_stat", "multiplies_exec",
             "multiplies_stat", "passes_stat", "passes_exec", "datapath_stat", "tile_row_a_max_over_mean",
             "tile_row_a_cv", "tile_row_mac_max_over_mean", "iterations", "skipped_iterations", "empty_ctas")
_OCC_COLS = ("layer", "linear", "density", "passes_real", "passes_model", "row_cv_real", "row_cv_binomial",
             "empty_steps_real", "empty_steps_model", "empty_rows", "rows", "empty_64x64", "regions_64x64")
_TIMING_COLS = ("layer", "gemm", "dtype", "pattern", "density", "format", "exec_s", "stat_s", "ratio",
                "tile_search_s", "run_s", "items", "candidates")
_POSITIVE = {"density", "passes_model", "iterations", "rows", "regions_64x64"}


def read_csv(path) -> list:
    """Rows of a CSV file this module wrote (numbers parsed); a malformed file is an
    :class:`~sparsesim.errors.InputError` naming the file and the line."""
    from ..errors import InputError
    from ..io import read_text

    text = read_text(path, "report table")
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    rows = []
    try:
        for r in reader:
            if None in r or None in r.values():
                raise InputError(f"{path}, line {reader.line_num}: {len(r) - (None in r)} fields where the header "
                                 f"has {len(reader.fieldnames)}")
            rows.append({k: (v if k in _TEXT else _value(v)) for k, v in r.items()})  # text stays text
    except csv.Error as exc:
        raise InputError(f"{path}, line {reader.line_num}: not a valid CSV line: {exc}") from None
    return rows


def _check_table(path, rows, cols, optional=()) -> None:
    """Every column the report reads is there, text or a finite number as it should be."""
    from ..errors import InputError

    if not rows:
        raise InputError(f"{path}: no rows")
    for line, r in enumerate(rows, start=2):
        needed = cols + (optional if r.get("arch", "a100") == "a100" else ())
        for c in needed:
            if c not in r:
                raise InputError(f"{path}: no column {c!r}")
            v = r[c]
            if c in _TEXT or (c in ("density", "format") and r.get("pattern") != "unstructured" and v == ""):
                continue
            ok = isinstance(v, (int, float)) and v == v and abs(v) != float("inf") and v >= 0
            if c in ("rel_err", "prune_rel_err", "row_cv_real") and isinstance(v, float) and v != v:
                ok = True  # an all-zero layer has no relative error
            if not ok or (c in _POSITIVE and not v > 0):
                kind = "a positive number" if c in _POSITIVE else "a finite number >= 0"
                raise InputError(f"{path}, line {line}: column {c!r} is {v!r}; expected {kind}")


def read_back(out_dir):
    """The rows, occupancy, timing and notes of a report already in ``out_dir`` (to re-render it)."""
    import json

    from ..errors import InputError
    from ..io import is_file, read_text

    out = Path(out_dir)
    files = [out / n for n in ("results.csv", "occupancy.csv", "timing.csv", "meta.json")]
    missing = [str(p) for p in files if not is_file(p)]
    if missing:
        raise InputError(f"--render-only needs a report in {str(out)!r}; missing {', '.join(missing)}")
    rows, occ, timing = (read_csv(p) for p in files[:3])
    _check_table(files[0], rows, _RESULT_COLS, _GPU_COLS)
    if not any(r["arch"] == "a100" for r in rows):
        raise InputError(f"{files[0]}: no a100 rows")
    _check_table(files[1], occ, _OCC_COLS)
    if timing:
        _check_table(files[2], timing, _TIMING_COLS)
    for r in rows:
        r["density"] = float(r["density"])
    try:
        meta = json.loads(read_text(files[3], "report notes"))
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{files[3]}: not valid JSON: {str(exc)[:100]}") from None
    if not isinstance(meta, dict) or not all(isinstance(meta.get(k, 0), (int, float)) and not isinstance(
            meta.get(k, 0), bool) for k in ("seconds", "tokens")):
        raise InputError(f"{files[3]}: expected an object with numbers 'seconds' and 'tokens'")
    return rows, occ, timing, meta


def write_report(rows, occ, timing, out_dir, command, meta) -> dict:
    import json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "meta.json", json.dumps(meta, indent=1) + "\n")
    write_csv(out / "results.csv", rows)
    write_csv(out / "occupancy.csv", occ)
    write_csv(out / "timing.csv", timing)
    rows, occ, timing, meta = read_back(out)  # render what the files hold, so --render-only gives the same
    agg = aggregate(rows)
    cpu = cpu_aggregate(rows)
    write_csv(out / "summary.csv", agg + cpu)
    figure_passes(occ, agg, out / "occupancy.png")
    figure_error(agg, cpu, out / "error.png")
    from .exec_text import render

    write_text_atomic(out / "report.md", render(agg, cpu, occ, timing, command, meta, {
        "traffic": traffic_table(agg), "time": time_table(agg), "error": error_table(agg, cpu),
        "cpu": cpu_table(cpu), "occupancy": occupancy_table(occ), "timing": timing_table(timing)}))
    return {"report": out / "report.md", "results": out / "results.csv"}
