"""Report figures (matplotlib, Agg backend), each saved as PNG and SVG atomically.

Per workload, one panel per arch:

* ``speedup_<wl>``: network speedup over dense vs density of A. Unstructured
  formats are curves; N:M patterns (fixed density) are single marked points; the
  break-even density of each unstructured curve (speedup 1) is annotated.
* ``traffic_<wl>``: DRAM bytes per inference vs density (top: all operands;
  bottom: the sparse operand A, values + metadata, with the metadata share hatched
  for N:M points).
* ``layers_<wl>``: per-layer speedup of every pattern at one common density
  (0.5 unless the sweep lacks it), layers in network order.
* ``bound_<wl>``: roofline-style view: achieved dense-equivalent throughput
  against arithmetic intensity (dense-equivalent FLOP per DRAM byte), colour =
  the resource that bounds the layer, with the arch's compute and DRAM roofs
  when the arch config can be loaded.
* ``energy_<wl>``, ``pareto_<wl>``, ``params_<wl>``: energy, Pareto front and varied
  parameters (:mod:`.design_plots`).

The per-arch figures draw one panel per design and are left out when a sweep has more than
:data:`MAX_PANELS` designs (a parameter grid).
"""

from __future__ import annotations

from pathlib import Path

from ..dse.store import make_readable
from ..io import atomic_path
from . import data as D

MARKERS = {"1:2": "D", "2:4": "^", "4:8": "s", "2:8": "v", "1:4": "P"}
UNSTRUCT_STYLE = {"unstructured:csr": "-", "unstructured:csb": "--", "unstructured:bitmask": "-."}
ARCH_GREYS = ["0.2", "0.5", "0.75", "0.35", "0.62"]
# the resource that bounds a layer, one colour each in every figure
BOUND_COLORS = {"compute": "#1f77b4", "tensor": "#1f77b4", "dram": "#d62728", "l2": "#2ca02c",
                "smem": "#9467bd", "launch": "#ff7f0e", "decode": "#8c564b", "mux": "#e377c2"}
_PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#17becf", "#bcbd22"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


# One style per pattern in every report: the same colour and marker whatever else was swept.
PATTERN_COLORS = {
    "dense": "#000000", "2:4": "#2ca02c", "4:8": "#1f77b4", "1:2": "#ff7f0e", "2:8": "#9467bd",
    "1:4": "#8c564b", "unstructured:csr": "#d62728", "unstructured:csb": "#e377c2",
    "unstructured:bitmask": "#7f7f7f",
}


def pattern_color(lab: str) -> str:
    """The fixed colour of a pattern label (others: a stable pick from the palette by name)."""
    if lab in PATTERN_COLORS:
        return PATTERN_COLORS[lab]
    return _PALETTE[sum(lab.encode()) % len(_PALETTE)]


def throughput_unit(dtype: str) -> tuple[str, str]:
    """(unit, what) of a throughput axis: TOPS for integer operands, TFLOP/s for floating point."""
    return ("TOPS", "OP") if str(dtype).startswith("int") else ("TFLOP/s", "FLOP")


MAX_PANELS = 4  # designs drawn side by side in one figure


def _colors(labels):
    return {lab: pattern_color(lab) for lab in labels}


def save_figure(fig, out_dir: Path, stem: str) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.svg`` in ``out_dir``, each atomically."""
    paths = []
    for ext in ("png", "svg"):
        path = out_dir / f"{stem}.{ext}"
        # fixed SVG ids and no date: the same figure gives the same bytes (clean diffs)
        with atomic_path(path) as tmp, _plt().rc_context({"svg.hashsalt": "sparsesim"}):
            fig.savefig(tmp, format=ext, dpi=110, bbox_inches="tight",
                        metadata={"Date": None} if ext == "svg" else None)
            make_readable(tmp)
        paths.append(path)
    _plt().close(fig)
    return paths


def _wrap(title: str, width: int = 60) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(title, width))


def _short(lab: str) -> str:
    return lab.replace("unstructured:", "unstr. ")


def _figure_legend(fig, axes_row):
    """One legend for the whole figure, above the panels (no panel content hidden)."""
    handles, labels = {}, []
    for ax in axes_row:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    if not labels:
        return
    fig.legend([handles[lab] for lab in labels], labels, loc="lower center",
               bbox_to_anchor=(0.5, 1.0), ncol=min(len(labels), 8), fontsize=8, frameon=False)


def _textbox(ax, lines):
    """A box of notes placed where it hides the least data (a handle-less legend)."""
    from matplotlib.lines import Line2D

    blank = [Line2D([], [], ls="", marker="") for _ in lines]
    # below the panel (under its x label), clear of the data
    ax.legend(blank, lines, loc="upper center", bbox_to_anchor=(0.5, -0.16), handlelength=0,
              handletextpad=0, fontsize=7.5, frameon=False,
              prop={"family": "monospace", "size": 7.5}, framealpha=0.9)


def speedup_figure(totals, archs, workload, labels, colors):
    plt = _plt()
    fig, axes = plt.subplots(1, len(archs), figsize=(5.2 * len(archs), 4.2), squeeze=False,
                             sharey=True)
    for ax, arch in zip(axes[0], archs):
        ax.axhline(1.0, color="black", lw=1, ls=":", label="dense (1x)")
        notes, nm_notes = [], []
        for lab in labels:
            by_d = totals.get((arch, workload, lab))
            if not by_d or lab == "dense":
                continue
            ds = list(by_d)
            sp = [v["speedup"] for v in by_d.values()]
            if D.is_unstructured(lab):
                ax.plot(ds, sp, UNSTRUCT_STYLE.get(lab, "-"), color=colors[lab], lw=1.8,
                        label=_short(lab))
                c = D.crossing(ds, sp, 1.0)
                if c is not None:
                    ax.plot([c], [1.0], "o", ms=7, mfc="white", mec=colors[lab], mew=1.8, zorder=6)
                notes.append(f"{_short(lab):<14} break-even d = "
                             + (f"{c:.2f}" if c is not None else D.describe_crossing(ds, sp)))
            else:
                ax.plot(ds, sp, MARKERS.get(lab, "o"), color=colors[lab], ms=9,
                        markeredgecolor="black", label=lab, zorder=5)
                if sp and sp[0] is not None:
                    nm_notes.append(f"{lab:<14} {sp[0]:.2f}x at d = {ds[0]:g}")
        if notes or nm_notes:
            _textbox(ax, nm_notes + notes)
        ax.set_title(_wrap(f"{workload} on {arch}"))
        ax.set_xlabel("density of A (fraction of weights kept)")
        ax.set_xlim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("network speedup over dense (x)")
    ax0 = axes[0][0]
    ax0.plot([], [], "o", ms=7, mfc="white", mec="black", label="break-even (speedup 1)")
    _figure_legend(fig, axes[0])
    fig.tight_layout()
    return fig


def density_series(ax, totals, arch, workload, labels, colors, value):
    """Draw each pattern's network ``value(total)`` against density on ``ax``: unstructured
    formats as curves, N:M patterns as marked points.  Returns ``[(label, value, total)]`` of
    the N:M points (for the notes under the panel)."""
    marked = []
    for lab in labels:
        by_d = totals.get((arch, workload, lab))
        if not by_d or lab == "dense":
            continue
        pts = [(d, value(v), v) for d, v in by_d.items() if value(v) is not None]
        if not pts:
            continue
        ds, ys = [p[0] for p in pts], [p[1] for p in pts]
        if D.is_unstructured(lab):
            ax.plot(ds, ys, UNSTRUCT_STYLE.get(lab, "-"), color=colors[lab], lw=1.8, label=_short(lab))
        else:
            ax.plot(ds, ys, MARKERS.get(lab, "o"), color=colors[lab], ms=9, markeredgecolor="black",
                    label=lab, zorder=5)
            marked.append((lab, ys[0], pts[0][2]))
    return marked


def traffic_figure(totals, archs, workload, labels, colors):
    plt = _plt()
    fig, axes = plt.subplots(2, len(archs), figsize=(5.2 * len(archs), 7.4), squeeze=False,
                             sharex=True)
    for col, arch in enumerate(archs):
        for row, (key, what) in enumerate((("dram_total", "all operands (A + B + C)"),
                                           ("dram_a", "sparse operand A (values + metadata)"))):
            ax = axes[row][col]
            dense = totals.get((arch, workload, "dense"), {}).get(1.0)
            notes = []
            if dense:
                ax.axhline(dense[key] / 1e6, color="black", lw=1, ls=":", label="dense")
                notes.append(f"{'dense':<6} {dense[key] / 1e6:8.1f} MB")
            for lab, y, v in density_series(ax, totals, arch, workload, labels, colors,
                                            lambda v, k=key: v[k] / 1e6):
                meta = f" (meta {v['dram_a_metadata'] / 1e6:.1f})" if key == "dram_a" else ""
                notes.append(f"{lab:<6} {y:8.1f} MB{meta}")
            if notes:
                _textbox(ax, notes)
            ax.set_title(_wrap(f"{workload} on {arch}: {what}"), fontsize=9)
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            if col == 0:
                ax.set_ylabel("DRAM traffic per inference (MB)")
            if row == 1:
                ax.set_xlabel("density of A (fraction of weights kept)")
    _figure_legend(fig, axes[1])
    fig.tight_layout()
    return fig


def layers_figure(rows, archs, workload, labels, colors, density):
    """Top: each layer's share of the dense network time (repeat-weighted) per arch.
    Below, one panel per arch: each pattern's layer speedup, bars drawn from 1x."""
    import numpy as np

    plt = _plt()
    layers = D.workload_layers(rows, workload)
    names = [f"{name} x{rep}" if rep > 1 else name for _, name, rep in layers]
    shown = [lab for lab in labels if lab != "dense"]
    width = min(16.0, max(7.0, 0.11 * len(layers) * max(1, len(shown)) + 2))
    fig, axes = plt.subplots(len(archs) + 1, 1, figsize=(width, 2.6 * (len(archs) + 1) + 1.4),
                             squeeze=False, sharex=True,
                             gridspec_kw={"height_ratios": [0.7] + [1.0] * len(archs)})
    x = np.arange(len(layers))
    ax = axes[0, 0]
    aw = 0.8 / max(1, len(archs))
    for i, arch in enumerate(archs):
        at = D.at_density(rows, arch, workload, density)
        t = [((at.get(name, {}).get("dense") or {}).get("seconds") or 0.0) * rep
             for _, name, rep in layers]
        total = sum(t) or 1.0
        ax.bar(x - 0.4 + aw * (i + 0.5), [100 * v / total for v in t], aw,
               color=ARCH_GREYS[i % len(ARCH_GREYS)], label=arch)
    ax.set_ylabel("share of dense\nnetwork time (%)")
    ax.set_title(f"{workload}: where the dense time goes (layer time x repeat)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    bw = 0.8 / max(1, len(shown))
    for ax, arch in zip(axes[1:, 0], archs):
        at = D.at_density(rows, arch, workload, density)
        for i, lab in enumerate(shown):
            ys = [(at.get(name, {}).get(lab) or {}).get("speedup") for _, name, _ in layers]
            hs = [(y - 1.0) if y else 0.0 for y in ys]
            tag = lab if not D.is_unstructured(lab) else f"{_short(lab)} @ d={density:g}"
            ax.bar(x - 0.4 + bw * (i + 0.5), hs, bw, bottom=1.0, color=colors[lab], label=tag,
                   hatch="" if not D.is_unstructured(lab) else "..", edgecolor="white", lw=0.3)
        ax.axhline(1.0, color="black", lw=0.8)
        ax.set_ylabel("layer speedup\nover dense (x)")
        ax.set_title(f"{workload} on {arch}: per-layer speedup, N:M at its density, "
                     f"unstructured at d={density:g} (bars start at 1x)", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[-1, 0].set_xticks(x)
    axes[-1, 0].set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    axes[-1, 0].set_xlabel("layer (x repeat count)")
    _figure_legend(fig, [axes[1, 0]])
    fig.tight_layout()
    return fig


def _roofs(arch_name, dtype, params=None):
    """(peak dense FLOP/s, DRAM bytes/s, (native N:M, its dense-equivalent peak)) of an
    arch config (with the varied ``params`` applied) at its sustained clock, or None if the
    config lacks these fields."""
    try:
        from ..arch import derive, load_arch

        a = derive(arch_name, params) if params else load_arch(arch_name)
        macs = a.tensor_core.dense_macs_per_cycle[dtype]
        flops = 2.0 * macs * a.sm.count * a.sm.tensor_cores_per_sm * a.clock.sustained_mhz * 1e6
        tc = a.tensor_core
        sparse = (f"{tc.sparse_n}:{tc.sparse_m}", flops * tc.sparse_speedup)
        return flops, a.dram.bandwidth_gbps * 1e9, sparse
    except Exception:  # any arch kind without these fields: draw no roofs
        return None


def bound_figure(rows, archs, workload, labels):
    plt = _plt()
    shown = [lab for lab in labels if lab == "dense" or not D.is_unstructured(lab)]
    fig, axes = plt.subplots(1, len(archs), figsize=(5.2 * len(archs), 4.4), squeeze=False,
                             sharey=True)
    bounds = sorted({r["bound"] for r in rows if r["workload"] == workload and r["bound"]})
    extra = [b for b in bounds if b not in BOUND_COLORS]
    bcol = {**BOUND_COLORS, **{b: _PALETTE[(i + 7) % len(_PALETTE)] for i, b in enumerate(extra)}}
    for ax, arch in zip(axes[0], archs):
        xs_all = []
        for lab in shown:
            sel = [r for r in rows if r["arch"] == arch and r["workload"] == workload
                   and D.label(r) == lab and not r["error"] and r["seconds"] and r["dram_total"]]
            flops = [2.0 * r["m"] * r["n"] * r["k"] for r in sel]
            xs = [f / r["dram_total"] for f, r in zip(flops, sel)]
            ys = [f / r["seconds"] / 1e12 for f, r in zip(flops, sel)]
            xs_all += xs
            if sel:
                ax.scatter(xs, ys, marker=MARKERS.get(lab, "o"), s=34,
                           c=[bcol.get(r["bound"], "grey") for r in sel], edgecolors="black",
                           linewidths=0.4, zorder=4)
        first = next((r for r in rows if r["arch"] == arch), {})
        dtype = first.get("dtype", "fp16")
        unit, what = throughput_unit(dtype)
        roofs = _roofs(first.get("arch_name", arch), dtype, first.get("param_values"))
        if roofs and xs_all:
            import numpy as np

            peak, bw, (sp_name, sp_peak) = roofs
            xs = np.geomspace(min(xs_all) / 2, max(xs_all) * 2, 200)
            ax.plot(xs, np.minimum(peak, bw * xs) / 1e12, color="black", lw=1,
                    label=f"dense roof: {peak / 1e12:.0f} {unit}, {bw / 1e12:.2f} TB/s")
            ax.plot(xs, np.minimum(sp_peak, bw * xs) / 1e12, color="black", lw=1, ls="--",
                    label=f"{sp_name} sparse roof: {sp_peak / 1e12:.0f} {unit} (dense-equivalent)")
            # below the panel, clear of the data
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(_wrap(f"{workload} on {arch}"), fontsize=10)
        ax.set_xlabel(f"arithmetic intensity (dense-equivalent {what} / DRAM byte)")
        ax.grid(alpha=0.3, which="both")
    dtypes = {r["dtype"] for r in rows if r["workload"] == workload}
    unit = throughput_unit(next(iter(dtypes)))[0] if len(dtypes) == 1 else "T(FL)OP/s"
    axes[0][0].set_ylabel(f"dense-equivalent throughput ({unit})")
    # legends: marker = pattern, colour = bound
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker=MARKERS.get(lab, "o"), ls="", color="white",
                      markeredgecolor="black", label=lab) for lab in shown]
    handles += [Line2D([], [], marker="o", ls="", color=bcol[b], label=f"bound: {b}") for b in bounds]
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=8,
               bbox_to_anchor=(0.5, 1.06))
    fig.tight_layout()
    return fig


def write_figures(rows, out_dir, totals=None, progress=False) -> dict:
    """Draw every figure for every workload in ``rows``; returns ``{(kind, workload): [paths]}``."""
    out_dir = Path(out_dir)
    totals = totals if totals is not None else D.network_totals(rows)
    archs = D.ordered_unique(r["arch"] for r in rows)
    labels = D.label_order(D.label(r) for r in rows)
    colors = _colors(labels)
    density = D.nearest_density(rows, 0.5)
    from ..progress import steps
    from . import design_plots as DP

    jobs = []
    for wl in D.ordered_unique(r["workload"] for r in rows):
        wl_rows = [r for r in rows if r["workload"] == wl]
        wl_archs = [a for a in archs if any(r["arch"] == a for r in wl_rows)]
        dtype = wl_rows[0]["dtype"]
        if len(wl_archs) <= MAX_PANELS:
            jobs += [
                ("speedup", wl, lambda a=wl_archs, w=wl: speedup_figure(totals, a, w, labels, colors)),
                ("traffic", wl, lambda a=wl_archs, w=wl: traffic_figure(totals, a, w, labels, colors)),
                ("layers", wl, lambda a=wl_archs, w=wl: layers_figure(rows, a, w, labels, colors, density)),
                ("bound", wl, lambda a=wl_archs, w=wl: bound_figure(rows, a, w, labels)),
            ]
            if D.has_energy(totals, wl):
                jobs.append(("energy", wl, lambda a=wl_archs, w=wl, dt=dtype:
                             DP.energy_figure(totals, a, w, labels, colors, dt)))
        entries = D.pareto_designs(totals, wl)
        if len(entries) > 1:
            jobs.append(("pareto", wl, lambda e=entries, w=wl: DP.pareto_figure(e, w)))
        if D.varied_keys(wl_rows):
            jobs.append(("params", wl, lambda w=wl, wr=wl_rows: DP.params_figure(totals, wr, w, labels, colors,
                                                                                   density)))
    figs = {}
    for kind, wl, make in steps(jobs, "figures", enabled=progress):
        figs[(kind, wl)] = save_figure(make(), out_dir, f"{kind}_{wl}")
    return figs
