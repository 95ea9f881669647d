"""Figures of energy and of the design space (matplotlib, Agg backend; saved by :mod:`.plots`).

* ``energy_<wl>``: energy per inference (top) and per dense-equivalent operation
  (bottom: pJ/FLOP for floating-point operands, pJ/OP for integer ones) vs density,
  one panel per design;
* ``pareto_<wl>``: every design point (design x pattern x density) in time vs energy
  (colour: sparse-datapath area) and time vs area, the Pareto front of the three ringed;
* ``params_<wl>`` (sweeps with ``--set``): network speedup and energy per inference
  against each varied parameter, one line per pattern and combination of the others.
"""

from __future__ import annotations

from . import data as D
from .plots import (MARKERS, UNSTRUCT_STYLE, _figure_legend, _plt, _short, _textbox, _wrap, density_series,
                    pattern_color, throughput_unit)


def energy_unit(dtype: str) -> str:
    """Energy per dense-equivalent operation: pJ/OP for integer operands, pJ/FLOP otherwise."""
    return f"pJ/{throughput_unit(dtype)[1]}"


def energy_figure(totals, archs, workload, labels, colors, dtype):
    plt = _plt()
    fig, axes = plt.subplots(2, len(archs), figsize=(5.2 * len(archs), 7.4), squeeze=False, sharex=True)
    unit = energy_unit(dtype)
    for col, arch in enumerate(archs):
        for row, (key, scale, what) in enumerate((("energy_j", 1e3, "energy per inference (mJ)"),
                                                  ("energy_per_op_j", 1e12, f"energy per operation ({unit})"))):
            ax = axes[row][col]
            dense = totals.get((arch, workload, "dense"), {}).get(1.0)
            notes = []
            if dense and dense[key] is not None:
                ax.axhline(dense[key] * scale, color="black", lw=1, ls=":", label="dense")
                notes.append(f"{'dense':<6} {dense[key] * scale:8.3g}")
            for lab, y, _ in density_series(ax, totals, arch, workload, labels, colors,
                                            lambda v, k=key, s=scale: None if v[k] is None else v[k] * s):
                notes.append(f"{lab:<6} {y:8.3g}")
            if notes:
                _textbox(ax, notes)
            ax.set_title(_wrap(f"{workload} on {arch}"), fontsize=9)
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            if col == 0:
                ax.set_ylabel(what)
            if row == 1:
                ax.set_xlabel("density of A (fraction of weights kept)")
    _figure_legend(fig, axes[1])
    fig.tight_layout()
    return fig


def _point_name(e) -> str:
    lab = e["label"] if not D.is_unstructured(e["label"]) else f"{_short(e['label'])} d={e['density']:g}"
    return f"{e['arch']} {lab}"


def pareto_figure(entries, workload):
    """Time vs energy (colour: sparse area) and time vs area of every design point; the
    Pareto front of the three objectives ringed and named."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.8), squeeze=False)
    ax1, ax2 = axes[0]
    t = [e["seconds"] * 1e3 for e in entries]
    en = [e["energy_j"] * 1e3 for e in entries]
    area = [e["sparse_area_mm2"] for e in entries]
    front = [i for i, e in enumerate(entries) if e["on_front"]]
    sc = ax1.scatter(t, en, c=area, cmap="viridis", s=22, alpha=0.75, edgecolors="none", zorder=3)
    fig.colorbar(sc, ax=ax1, label="sparse-datapath area (mm$^2$, chip)")
    ax2.scatter(t, area, c=[pattern_color(e["label"]) for e in entries], s=22, alpha=0.75,
                edgecolors="none", zorder=3)
    for ax, ys in ((ax1, en), (ax2, area)):
        ax.scatter([t[i] for i in front], [ys[i] for i in front], s=90, facecolors="none",
                   edgecolors="#d62728", linewidths=1.6, zorder=4, label="Pareto front (time, energy, area)")
        ax.set_xlabel("time per inference (ms)")
        ax.grid(alpha=0.3)
    named = front if len(front) <= 12 else []
    for i in named:
        ax1.annotate(_point_name(entries[i]), (t[i], en[i]), fontsize=6.5, xytext=(4, 3),
                     textcoords="offset points")
    ax1.set_ylabel("energy per inference (mJ)")
    ax1.set_title(f"{workload}: time vs energy ({len(entries)} design points, {len(front)} on the front)",
                  fontsize=9)
    ax2.set_ylabel("sparse-datapath area (mm$^2$, chip)")
    ax2.set_title(f"{workload}: time vs area (colour: pattern)", fontsize=9)
    ax1.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def params_figure(totals, rows, workload, labels, colors, density):
    """Network speedup (top) and energy per inference (bottom) against each varied parameter:
    one line per pattern and combination of the other parameters (N:M at their density,
    unstructured formats at ``density``)."""
    plt = _plt()
    keys = D.varied_keys([r for r in rows if r["workload"] == workload])
    designs = {}
    for r in rows:
        if r["workload"] == workload:
            designs[r["arch"]] = (r["arch_name"], r["param_values"])
    fig, axes = plt.subplots(2, len(keys), figsize=(5.4 * len(keys), 7.2), squeeze=False)
    names = D.short_keys(keys)
    for col, key in enumerate(keys):
        values = [v for _, vals in designs.values() for k, v in vals.items() if k == key]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        cats = D.ordered_unique(D.format_value(v) for v in values)
        for row, (metric, scale, what) in enumerate((("speedup", 1.0, "network speedup over dense (x)"),
                                                     ("energy_j", 1e3, "energy per inference (mJ)"))):
            ax = axes[row][col]
            for lab in labels:
                if lab == "dense" and metric == "speedup":
                    continue
                d = 1.0 if lab == "dense" else (density if D.is_unstructured(lab) else None)
                lines = {}
                for design, (arch, vals) in designs.items():
                    if key not in vals:
                        continue
                    by_d = totals.get((design, workload, lab))
                    if not by_d:
                        continue
                    v = by_d.get(d) if d is not None else next(iter(by_d.values()))
                    if not v or v.get(metric) is None:
                        continue
                    others = (arch, tuple(sorted((k, D.format_value(x)) for k, x in vals.items() if k != key)))
                    x = vals[key] if numeric else cats.index(D.format_value(vals[key]))
                    lines.setdefault(others, []).append((x, v[metric] * scale))
                for i, pts in enumerate(lines.values()):
                    pts.sort()
                    tag = lab if not D.is_unstructured(lab) else f"{_short(lab)} @ d={density:g}"
                    ax.plot(*zip(*pts), UNSTRUCT_STYLE.get(lab, "-"), marker=MARKERS.get(lab, "o"), ms=4,
                            color=colors[lab], lw=1.2, alpha=0.85 if len(lines) == 1 else 0.5,
                            label=tag if i == 0 else None)
            if not numeric:
                ax.set_xticks(range(len(cats)))
                ax.set_xticklabels(cats)
            ax.set_xlabel(key)
            ax.set_ylabel(what)
            ax.set_title(f"{workload}: {what.split(' (')[0]} vs {names[key]}", fontsize=9)
            ax.grid(alpha=0.3)
    _figure_legend(fig, [*axes[0], *axes[1]])
    fig.tight_layout()
    return fig
