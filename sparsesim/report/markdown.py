"""report.md: the sweep's contents, a generated summary and the embedded figures."""

from __future__ import annotations

from . import data as D


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
        f"- archs: {', '.join(archs)}",
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
        out += _findings(rows, totals, archs, wl) + [""]
        # total network speedup table
        body = []
        for lab in labels:
            if lab == "dense":
                continue
            cells = [lab if not D.is_unstructured(lab) else f"{lab} @ d={density:g}"]
            for arch in archs:
                by_d = totals.get((arch, wl, lab), {})
                if D.is_unstructured(lab):
                    v = by_d.get(density)
                else:
                    v = next(iter(by_d.values()), None)
                cells.append(_fmt_speedup(v and v["speedup"]))
            body.append(cells)
        out += ["Total network speedup over dense (all GEMM layers, repeat-weighted):", ""]
        out += _table(["pattern"] + archs, body) + [""]
        dense_line = []
        for arch in archs:
            d = totals.get((arch, wl, "dense"), {}).get(1.0)
            if d:
                dense_line.append(f"{arch} {d['seconds'] * 1e3:.3f} ms, {d['dram_total'] / 1e6:.1f} MB DRAM")
        if dense_line:
            out += ["Dense baseline per inference: " + "; ".join(dense_line) + ".", ""]

        # crossovers
        body = []
        for arch in archs:
            for lab, c in sorted(D.crossovers(totals, arch, wl).items()):
                body.append([arch, lab, c["vs_dense_text"],
                             f"{c['vs_nm_text']} (vs {c['nm']} {_fmt_speedup(c.get('nm_speedup'))})"
                             if c["nm"] else "n/a"])
        if body:
            out += ["Crossover densities (linear interpolation on the density grid): below the "
                    "first, the unstructured format beats dense; below the second, it beats the "
                    "fastest N:M pattern.", ""]
            out += _table(["arch", "format", "beats dense below d =", "beats best N:M below d ="],
                          body) + [""]

        # best pattern per layer at the common density
        layers = D.workload_layers(rows, wl)
        body = []
        for _, name, rep in layers:
            cells = [name, rep]
            for arch in archs:
                at = D.at_density(rows, arch, wl, density).get(name, {})
                best = max(((r["speedup"], lab) for lab, r in at.items() if r["speedup"]),
                           default=None)
                bound = (at.get("dense") or {}).get("bound") or "?"
                cells.append(f"{best[1]} {best[0]:.2f}x ({bound})" if best else "n/a")
            body.append(cells)
        out += [f"Best pattern per layer at density {density:g} (N:M at its own density, "
                "unstructured formats at this density; in brackets the resource that bounds "
                "the dense layer):", ""]
        out += _table(["layer", "repeat"] + archs, body) + [""]

        # figures
        for kind, caption in (
            ("speedup", "Network speedup vs density (N:M points marked, break-even densities annotated)"),
            ("traffic", "DRAM traffic per inference vs density"),
            ("layers", f"Per-layer speedup at density {density:g}"),
            ("bound", "Roofline-style view: what bounds each layer (dense and N:M)"),
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
