"""report.md and figures of the sparse-datapath study (:mod:`.datapath_study`)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ..dse.store import typed_row
from . import data as D
from .plots import _plt, save_figure

DATAPATH_COLORS = {"a100": "#2ca02c", "a100-4of8": "#1f77b4", "a100-4of8-crossbar": "#9467bd"}


def totals_by_dtype(rows) -> dict:
    """``{(dtype, design, workload, label): network total}`` (designs labelled with their values)."""
    rows = D.label_designs([typed_row(r) for r in rows])
    out = {}
    for dtype in D.ordered_unique(r["dtype"] for r in rows):
        for (arch, wl, lab), by_d in D.network_totals([r for r in rows if r["dtype"] == dtype]).items():
            out[(dtype, arch, wl, lab)] = next(iter(by_d.values()))
    return out


def _mean(accuracy, col):
    return sum(r[col] for r in accuracy) / len(accuracy)


def datapath_facts(res) -> list[dict]:
    """Per datapath: its structure (sparse_datapath), area and accuracy proxy."""
    from ..arch import load_arch
    from ..arch.datapath import sparse_datapath
    from .datapath_study import DATAPATHS

    tot = totals_by_dtype(res.rows)
    facts = []
    for arch, pattern in DATAPATHS:
        sd = sparse_datapath(load_arch(arch))
        v = next(t for (dt, a, _, lab), t in tot.items() if a == arch and lab == pattern)
        facts.append({
            "arch": arch, "pattern": pattern, "scheme": sd.index_scheme, "fan_in": sd.mux_fan_in,
            "levels": sd.mux_levels, "select_cycles": sd.select_latency_cycles, "bits": sd.metadata_bits,
            "decoder_width": sd.decoder_width, "area_mm2": v["sparse_area_mm2"],
            "area_fraction": v["sparse_area_fraction"], "masks": res.masks[arch],
            "kept": _mean(res.accuracy, pattern), "kept_perm": _mean(res.accuracy, f"{pattern} +perm"),
        })
    return facts


def comparison(res, workloads, dtypes) -> dict:
    """``{(workload, dtype): {arch: {"speedup", "dram", "dram_rel", "meta", "energy", "energy_rel",
    "seconds", "power"}}}``: each datapath at its own pattern, relative to its own dense run."""
    from .datapath_study import DATAPATHS

    tot = totals_by_dtype(res.rows)
    out = defaultdict(dict)
    for wl, dtype in ((w, d) for w in workloads for d in dtypes):
        for arch, pattern in DATAPATHS:
            s, dense = tot.get((dtype, arch, wl, pattern)), tot.get((dtype, arch, wl, "dense"))
            if not s or not dense:
                continue
            out[(wl, dtype)][arch] = {
                "speedup": s["speedup"], "seconds": s["seconds"], "dram": s["dram_total"],
                "dram_rel": s["dram_total"] / dense["dram_total"], "meta": s["dram_a_metadata"],
                "energy": s["energy_j"], "energy_rel": s["energy_j"] / dense["energy_j"],
                "power": s["avg_power_w"]}
    return dict(out)


def sensitivity(res) -> dict:
    """``{key: {"values": [...], "ratio": {(wl, dtype): [T(2:4) / T(4:8) per value]}, "swing",
    "area_4of8": {value: sparse-datapath mm² of the 4:8 chip}}}``: how fast 4:8 on a100-4of8 runs
    relative to 2:4 on a100 as each candidate parameter moves."""
    from .datapath_study import COMPARED

    (a24, p24), (a48, p48) = COMPARED
    out = {}
    for key, rows in res.sensitivity.items():
        tot = totals_by_dtype(rows)
        typed = D.label_designs([typed_row(r) for r in rows])
        design = {(r["arch_name"], r["param_values"][key]): r["arch"] for r in typed}
        values = sorted({v for (_, v) in design})
        ratio = {}
        for (dtype, arch, wl, lab) in tot:
            if arch != design.get((a24, values[0])) or lab != p24:
                continue
            series = []
            for v in values:
                t24 = tot.get((dtype, design.get((a24, v)), wl, p24))
                t48 = tot.get((dtype, design.get((a48, v)), wl, p48))
                series.append(t24["seconds"] / t48["seconds"] if t24 and t48 else None)
            ratio[(wl, dtype)] = series
        swing = max((max(s) - min(s) for s in ratio.values() if None not in s), default=0.0)
        area = {v: next((t["sparse_area_mm2"] for (_, a, _, _), t in tot.items() if a == design.get((a48, v))), None)
                for v in values}
        out[key] = {"values": values, "ratio": ratio, "swing": swing, "area_4of8": area}
    return out


FRONT_OBJECTIVES = (("seconds", "min"), ("energy_j", "min"), ("sparse_area_mm2", "min"), ("kept", "max"))


def fronts(res, workloads, dtypes) -> dict:
    """``{(workload, dtype): [entry]}``: every datapath dense and at its own pattern (network totals
    plus ``kept``, the accuracy proxy; dense keeps everything), with ``on_front``: its place on the
    Pareto front of time, energy, sparse-datapath area (minimised) and kept magnitude (maximised)."""
    from ..dse.pareto import pareto_front
    from .datapath_study import DATAPATHS

    tot = totals_by_dtype(res.rows)
    out = {}
    for wl, dtype in ((w, d) for d in dtypes for w in workloads):
        entries = []
        for arch, pattern in DATAPATHS:
            for lab, kept in (("dense", 1.0), (pattern, _mean(res.accuracy, pattern))):
                t = tot.get((dtype, arch, wl, lab))
                if t:
                    entries.append({"arch": arch, "label": lab, "kept": kept, **t})
        front = set(pareto_front([tuple(e[k] for k, _ in FRONT_OBJECTIVES) for e in entries],
                                 [sense for _, sense in FRONT_OBJECTIVES]))
        for i, e in enumerate(entries):
            e["on_front"] = i in front
        if entries:
            out[(wl, dtype)] = entries
    return out


def pareto_figure(front):
    plt = _plt()
    cases = list(front)
    cols = min(4, len(cases))
    rows_n = -(-len(cases) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(3.6 * cols, 3.2 * rows_n), squeeze=False)
    for ax, case in zip(axes.flat, cases):
        for e in sorted(front[case], key=lambda e: -e["sparse_area_mm2"]):  # the smallest on top
            ax.scatter(e["seconds"] * 1e3, e["energy_j"] * 1e3, s=30 * e["sparse_area_mm2"] ** 2 + 10,
                       color=DATAPATH_COLORS.get(e["arch"], "grey"), marker="o" if e["label"] == "dense" else "^",
                       edgecolors="#d62728" if e["on_front"] else "none", linewidths=1.5, zorder=3)
        ax.set_title(f"{case[0]} {case[1]}", fontsize=9)
        ax.set_xlabel("time per inference (ms)", fontsize=8)
        ax.set_ylabel("energy (mJ)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(cases):]:
        ax.axis("off")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", ls="", color=c, label=a) for a, c in DATAPATH_COLORS.items()]
    handles += [Line2D([], [], marker="o", ls="", color="grey", label="dense"),
                Line2D([], [], marker="^", ls="", color="grey", label="sparse (own pattern)"),
                Line2D([], [], marker="o", ls="", mfc="none", mec="#d62728",
                       label="on the front of time, energy, area, kept magnitude (marker size: area)")]
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=6, fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def deciding_key(sens) -> str:
    return max(sens, key=lambda k: sens[k]["swing"])


def _pct(x):
    return f"{100 * (x - 1):+.1f} %"


def comparison_figure(comp, facts, workloads, dtypes):
    plt = _plt()
    import numpy as np

    archs = [f["arch"] for f in facts]
    cases = [(w, d) for w in workloads for d in dtypes if (w, d) in comp]
    fig, axes = plt.subplots(2, 2, figsize=(13.5, 8.4))
    x = np.arange(len(cases))
    bw = 0.8 / len(archs)
    panels = (("speedup", "network speedup over its own dense (x)", 1.0),
              ("dram_rel", "DRAM traffic relative to dense", 1.0),
              ("energy_rel", "energy per inference relative to dense", 1.0))
    for ax, (key, what, ref) in zip(axes.flat, panels):
        for i, arch in enumerate(archs):
            ys = [comp[c].get(arch, {}).get(key) or 0.0 for c in cases]
            ax.bar(x - 0.4 + bw * (i + 0.5), ys, bw, color=DATAPATH_COLORS.get(arch, "grey"),
                   label=f"{arch} ({facts[i]['pattern']}, {facts[i]['fan_in']}:1 {facts[i]['scheme']})")
        ax.axhline(ref, color="black", lw=0.8, ls=":")
        ax.set_xticks(x)
        ax.set_xticklabels([f"{w}\n{d}" for w, d in cases], fontsize=7, rotation=25, ha="right")
        ax.set_ylabel(what)
        ax.grid(axis="y", alpha=0.3)
    ax = axes.flat[3]
    areas = [f["area_mm2"] for f in facts]
    ax.bar(range(len(facts)), areas, color=[DATAPATH_COLORS.get(a, "grey") for a in archs])
    for i, f in enumerate(facts):
        ax.annotate(f"{100 * f['area_fraction']:.2f} % of TC\nkept L1 {100 * f['kept']:.2f} %",
                    (i, areas[i]), ha="center", va="bottom", fontsize=8, xytext=(0, 3), textcoords="offset points")
    ax.set_xticks(range(len(facts)))
    ax.set_xticklabels([f"{f['arch']}\n{f['pattern']} {f['fan_in']}:1" for f in facts], fontsize=8)
    ax.set_ylabel("sparse-datapath area, chip (mm²)")
    ax.set_ylim(0, max(areas) * 1.35)
    ax.grid(axis="y", alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def deciding_figure(sens, key, base_value):
    plt = _plt()
    s = sens[key]
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for (wl, dtype), series in sorted(s["ratio"].items()):
        pts = [(v, r) for v, r in zip(s["values"], series) if r is not None]
        ax.plot(*zip(*pts), marker="o", ms=4, ls="-" if dtype == "fp16" else "--", label=f"{wl} {dtype}")
    ax.axhline(1.0, color="black", lw=0.8, ls=":")
    ax.axvline(base_value, color="grey", lw=0.8, ls="--")
    ax.annotate("a100 config", (base_value, ax.get_ylim()[0]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(key)
    ax.set_ylabel("4:8 (a100-4of8) speed / 2:4 (a100) speed")
    ax.set_title(f"--set {key}: where 4:8 keeps up with 2:4", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def render_study(res, out_dir, command) -> tuple[str, list[Path]]:
    """report.md text and the figure files (written) of a study result."""
    from ..arch import load_arch
    from .datapath_md import study_markdown
    from .datapath_study import DTYPES, WORKLOADS

    out_dir = Path(out_dir)
    facts = datapath_facts(res)
    workloads = [w for w in WORKLOADS if any(r["workload"] == w for r in res.rows)]
    comp = comparison(res, workloads, DTYPES)
    sens = sensitivity(res)
    key = deciding_key(sens)
    table, _, leaf = key.rpartition(".")
    base_value = getattr(getattr(load_arch("a100"), table), leaf)
    front = fronts(res, workloads, DTYPES)
    figures = save_figure(comparison_figure(comp, facts, workloads, DTYPES), out_dir, "comparison")
    figures += save_figure(pareto_figure(front), out_dir, "pareto")
    figures += save_figure(deciding_figure(sens, key, base_value), out_dir, "deciding")
    md = study_markdown(res, facts, comp, sens, key, base_value, workloads, command, front)
    return md, figures
