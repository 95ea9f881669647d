"""report.md: the sweep's contents, a generated summary and the embedded figures."""

from __future__ import annotations

from . import data as D
from .design_plots import energy_unit
from .plots import MAX_PANELS

MAX_FRONT_ROWS = 30


def _fmt_speedup(v):
    return f"{v:.2f}x" if v else "n/a"


def _table(header, body) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return lines


def _findings(rows, totals, archs, wl) -> list[str]:
    """A few generated sentences: best pattern, break-even densities, what bounds."""
    lines = []
    for arch in archs:
        parts = []
        if not totals.get((arch, wl, "dense")):
            lines.append(f"- **{arch}**: no complete dense baseline in the table, so no speedups.")
            continue
        nm = [(next(iter(v.values()))["speedup"], lab) for (a, w, lab), v in totals.items()
              if a == arch and w == wl and lab != "dense" and not D.is_unstructured(lab)]
        nm = [x for x in nm if x[0]]
        if nm:
            s, lab = max(nm)
            parts.append(f"fastest N:M pattern {lab} at {s:.2f}x the dense network speed")
        cross = D.crossovers(totals, arch, wl)
        beats = [(c["vs_dense"], lab) for lab, c in cross.items() if c["vs_dense"] is not None]
        if beats:
            d, lab = max(beats)
            parts.append(f"unstructured sparsity pays off below density {d:.2f} at best "
                         f"({lab.split(':', 1)[1]})")
        elif cross:
            parts.append("no unstructured format reaches dense speed at any density swept")
        time_by_bound = {}
        for r in rows:
            if (r["arch"] == arch and r["workload"] == wl and r["pattern"] == "dense"
                    and not r["error"] and r["seconds"]):
                b = r["bound"] or "?"
                time_by_bound[b] = time_by_bound.get(b, 0.0) + r["seconds"] * r["repeat"]
        if time_by_bound:
            total = sum(time_by_bound.values())
            b, t = max(time_by_bound.items(), key=lambda kv: kv[1])
            parts.append(f"{100 * t / total:.0f}% of the dense time is in layers bound by {b}")
        clock = _clock_part(rows, arch, wl)
        if clock:
            parts.append(clock)
        if parts:
            lines.append(f"- **{arch}**: " + "; ".join(parts) + ".")
    return lines


def _fmt(v, fmt, scale=1.0):
    return "n/a" if v is None else format(v * scale, fmt)


def _nm_or_at(by_d, lab, density):
    """The network total of a pattern: N:M and dense at their own density, unstructured at ``density``."""
    return by_d.get(density) if D.is_unstructured(lab) else next(iter(by_d.values()), None)


def _energy_section(totals, archs, wl, labels, density, dtype) -> list[str]:
    """Energy per inference and per operation, average power, and the sparse-datapath area."""
    if not D.has_energy(totals, wl):
        return []
    unit = energy_unit(dtype)
    body = []
    for lab in labels:
        cells = [lab if not D.is_unstructured(lab) else f"{lab} @ d={density:g}"]
        for arch in archs:
            v = _nm_or_at(totals.get((arch, wl, lab), {}), lab, density)
            cells.append("n/a" if not v or v["energy_j"] is None else
                         f"{v['energy_j'] * 1e3:.3g} mJ, {v['energy_per_op_j'] * 1e12:.3g} {unit}, "
                         f"{v['avg_power_w']:.0f} W")
        body.append(cells)
    out = [f"Energy per inference, per dense-equivalent operation ({unit}) and average power "
           "(static power included; sparsesim.cost):", ""]
    out += _table(["pattern"] + archs, body) + [""]
    area = []
    for arch in archs:
        v = next((x for (a, w, _), by_d in totals.items() if a == arch and w == wl for x in by_d.values()
                  if x["sparse_area_mm2"] is not None), None)
        if v:
            area.append(f"{arch} {v['sparse_area_mm2']:.3g} mm² ({100 * v['sparse_area_fraction']:.2f} %)")
    if area:
        out += ["Sparse-datapath area (muxes, index decoder, metadata staging; chip total and share of "
                "the dense tensor-core datapath): " + "; ".join(area) + ".", ""]
    return out


def _design_section(totals, rows, wl, labels, density, dtype) -> list[str]:
    """One row per design x pattern of a parameter sweep, with the varied values as columns."""
    keys = D.varied_keys([r for r in rows if r["workload"] == wl])
    if not keys:
        return []
    designs = D.ordered_unique((r["arch"], r["arch_name"], r["params"]) for r in rows if r["workload"] == wl)
    names = D.short_keys(keys)
    unit = energy_unit(dtype)
    body = []
    for design, arch, params in designs:
        vals = next(r["param_values"] for r in rows if r["arch"] == design)
        for lab in labels:
            v = _nm_or_at(totals.get((design, wl, lab), {}), lab, density)
            if not v:
                continue
            body.append([arch, *(D.format_value(vals[k]) if k in vals else "" for k in keys),
                         lab if not D.is_unstructured(lab) else f"{lab} @ d={density:g}",
                         _fmt(v["seconds"], ".4g", 1e3), _fmt_speedup(v["speedup"]),
                         _fmt(v["dram_total"], ".1f", 1e-6), _fmt(v["energy_j"], ".1f", 1e3),
                         _fmt(v["energy_per_op_j"], ".3g", 1e12), _fmt(v["avg_power_w"], ".0f"),
                         _fmt(v["sparse_area_mm2"], ".3g")])
    out = ["Designs of the parameter sweep (network totals per inference):", ""]
    out += _table(["arch", *(names[k] for k in keys), "pattern", "time (ms)", "speedup", "DRAM (MB)",
                   "energy (mJ)", unit, "power (W)", "sparse area (mm²)"], body) + [""]
    return out


def _pareto_section(totals, wl, density) -> list[str]:
    entries = D.pareto_designs(totals, wl)
    front = [e for e in entries if e["on_front"]]
    if len(entries) < 2:
        return []
    out = [f"Pareto front of time, energy and sparse-datapath area per inference (all minimised): "
           f"{len(front)} of {len(entries)} design points (design x pattern x density) are not beaten "
           "on all three by any other; equal points are all kept. What pruning costs in accuracy is not "
           "an objective here: read the density beside each point.", ""]
    body = [[e["arch"], e["label"] if not D.is_unstructured(e["label"]) else f"{e['label']} @ d={e['density']:g}",
             _fmt(e["seconds"], ".4g", 1e3), _fmt_speedup(e["speedup"]), _fmt(e["energy_j"], ".1f", 1e3),
             _fmt(e["sparse_area_mm2"], ".3g")] for e in front[:MAX_FRONT_ROWS]]
    out += _table(["design", "pattern", "time (ms)", "speedup", "energy (mJ)", "sparse area (mm²)"], body)
    if len(front) > MAX_FRONT_ROWS:
        out += ["", f"... and {len(front) - MAX_FRONT_ROWS} more (fastest first)."]
    return out + [""]

def _clock_part(rows, arch, wl) -> str:
    """The SM clocks the board's power limit allowed over the layers, and the highest power."""
    pts = [(r["clock_mhz"], r["power_w"]) for r in rows
           if r["arch"] == arch and r["workload"] == wl and not r["error"] and r.get("clock_mhz")]
    if not pts:
        return ""
    lo, hi = min(c for c, _ in pts), max(c for c, _ in pts)
    watts = max((p for _, p in pts if p), default=None)
    power = f", up to {watts:.0f} W" if watts else ""
    if hi - lo < 0.5:
        return f"every layer runs at {hi:.0f} MHz{power} (the board's power limit does not bind)"
    return f"the board's power limit holds the clock at {lo:.0f}-{hi:.0f} MHz{power}"


def render(rows, totals, figures, title=None, source=None, out_dir=None) -> str:
    archs = D.ordered_unique(r["arch"] for r in rows)
    workloads = D.ordered_unique(r["workload"] for r in rows)
    labels = D.label_order(D.label(r) for r in rows)
    dtypes = D.ordered_unique(r["dtype"] for r in rows)
    modes = D.ordered_unique(r["mode"] for r in rows)
    ud = sorted({r["density"] for r in rows if r["pattern"] == "unstructured"})
    density = D.nearest_density(rows, 0.5)
    errors = [r for r in rows if r["error"]]

    out = [f"# {title or 'Sparse tensor-core sweep: ' + ', '.join(workloads)}", ""]
    out += [
        (f"Results: `{source}` ({len(rows)} points); redraw with "
         f"`sparsesim report {source} --out {out_dir or 'DIR'}`." if source
         else f"{len(rows)} points."),
        "",
        (f"- archs: {', '.join(archs)}" if len(archs) <= MAX_PANELS else
         f"- archs: {', '.join(D.ordered_unique(r['arch_name'] for r in rows))} ({len(archs)} designs)"),
        *([f"- varied: " + "; ".join(
            f"{k} = " + ", ".join(D.format_value(v) for v in D.ordered_unique(
                r["param_values"][k] for r in rows if k in r["param_values"])) for k in D.varied_keys(rows))]
          if D.varied_keys(rows) else []),
        "- workloads (batch): " + ", ".join(
            f"{w} ({'/'.join(str(b) for b in sorted({r['batch'] for r in rows if r['workload'] == w}))})"
            for w in workloads),
        f"- patterns: {', '.join(labels)}",
        (f"- densities of unstructured A: {ud[0]:g} to {ud[-1]:g} ({len(ud)} values)" if ud
         else "- densities: N:M and dense only"),
        f"- dtype: {', '.join(dtypes)}; timing mode: {', '.join(modes)}",
        "",
        "GEMM convention: C[m x n] = A[m x k] . B[k x n], A the pruned weight compressed "
        "along k. Network totals sum every layer times its repeat count; speedups are "
        "dense time / sparse time on the same arch.",
        "",
    ]
    if errors:
        out += [f"**{len(errors)} points failed** (their rows hold the error text); "
                "totals below leave out any workload/pattern with a failed layer.", ""]

    out += ["## Summary", ""]
    for wl in workloads:
        out += [f"### {wl}", ""]
        dtype = next(r["dtype"] for r in rows if r["workload"] == wl)
        out += _design_section(totals, rows, wl, labels, density, dtype)
        wl_archs = [a for a in archs if any(r["arch"] == a and r["workload"] == wl for r in rows)]
        if len(wl_archs) <= MAX_PANELS:
            out += _per_arch_sections(rows, totals, wl_archs, wl, labels, density, dtype)
        else:
            out += [f"{len(wl_archs)} designs: the per-design tables and figures are left out; see the "
                    "table above, the parameter and Pareto figures.", ""]
        out += _pareto_section(totals, wl, density)

        # figures
        for kind, caption in (
            ("speedup", "Network speedup vs density (N:M points marked, break-even densities annotated)"),
            ("traffic", "DRAM traffic per inference vs density"),
            ("energy", "Energy per inference and per operation vs density"),
            ("layers", f"Per-layer speedup at density {density:g}"),
            ("bound", "Roofline-style view: what bounds each layer (dense and N:M)"),
            ("pareto", "Design points in time, energy and sparse-datapath area; Pareto front ringed"),
            ("params", "Network speedup and energy against each varied parameter"),
        ):
            paths = figures.get((kind, wl))
            if paths:
                png = paths[0].name
                svg = paths[1].name if len(paths) > 1 else png
                out += [f"![{caption}]({png})", "", f"*{caption}* ([SVG]({svg}))", ""]

    if errors:
        out += ["## Failed points", ""]
        body = [[r["arch"], r["workload"], r["layer"], D.label(r), f"{r['density']:g}",
                 r["error"].replace("|", "/")[:160]] for r in errors[:30]]
        out += _table(["arch", "workload", "layer", "pattern", "density", "error"], body)
        if len(errors) > 30:
            out += ["", f"... and {len(errors) - 30} more (see the results table)."]
        out += [""]
    return "\n".join(out).rstrip() + "\n"


def _per_arch_sections(rows, totals, archs, wl, labels, density, dtype) -> list[str]:
    """The tables with one column per arch: speedups, crossovers, best pattern per layer, energy."""
    return (_findings(rows, totals, archs, wl) + [""]
            + _speedup_table(totals, archs, wl, labels, density)
            + _crossover_table(totals, archs, wl)
            + _best_layer_table(rows, archs, wl, density)
            + _energy_section(totals, archs, wl, labels, density, dtype))


def _speedup_table(totals, archs, wl, labels, density) -> list[str]:
    body = []
    for lab in labels:
        if lab == "dense":
            continue
        cells = [lab if not D.is_unstructured(lab) else f"{lab} @ d={density:g}"]
        for arch in archs:
            v = _nm_or_at(totals.get((arch, wl, lab), {}), lab, density)
            cells.append(_fmt_speedup(v and v["speedup"]))
        body.append(cells)
    out = ["Total network speedup over dense (all GEMM layers, repeat-weighted):", ""]
    out += _table(["pattern"] + archs, body) + [""]
    dense_line = []
    for arch in archs:
        d = totals.get((arch, wl, "dense"), {}).get(1.0)
        if d:
            dense_line.append(f"{arch} {d['seconds'] * 1e3:.3f} ms, {d['dram_total'] / 1e6:.1f} MB DRAM")
    if dense_line:
        out += ["Dense baseline per inference: " + "; ".join(dense_line) + ".", ""]
    return out


def _crossover_table(totals, archs, wl) -> list[str]:
    body = []
    for arch in archs:
        for lab, c in sorted(D.crossovers(totals, arch, wl).items()):
            body.append([arch, lab, c["vs_dense_text"],
                         f"{c['vs_nm_text']} (vs {c['nm']} {_fmt_speedup(c.get('nm_speedup'))})"
                         if c["nm"] else "n/a"])
    if not body:
        return []
    out = ["Crossover densities (linear interpolation on the density grid): below the "
           "first, the unstructured format beats dense; below the second, it beats the "
           "fastest N:M pattern.", ""]
    return out + _table(["arch", "format", "beats dense below d =", "beats best N:M below d ="], body) + [""]


def _best_layer_table(rows, archs, wl, density) -> list[str]:
    body = []
    for _, name, rep in D.workload_layers(rows, wl):
        cells = [name, rep]
        for arch in archs:
            at = D.at_density(rows, arch, wl, density).get(name, {})
            best = max(((r["speedup"], lab) for lab, r in at.items() if r["speedup"]), default=None)
            bound = (at.get("dense") or {}).get("bound") or "?"
            cells.append(f"{best[1]} {best[0]:.2f}x ({bound})" if best else "n/a")
        body.append(cells)
    out = [f"Best pattern per layer at density {density:g} (N:M at its own density, "
           "unstructured formats at this density; in brackets the resource that bounds "
           "the dense layer):", ""]
    return out + _table(["layer", "repeat"] + archs, body) + [""]
