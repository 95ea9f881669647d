"""report.md of the sparse-datapath study: tables and a conclusion generated from the numbers."""

from __future__ import annotations

from .markdown import _table



def _ratio_range(comp, a, b, key):
    """(min, max, case of the min) of comp[case][a][key] / comp[case][b][key] over the cases."""
    vals = [(c[a][key] / c[b][key], case) for case, c in comp.items() if a in c and b in c]
    lo = min(vals)
    return lo[0], max(v for v, _ in vals), lo[1]


def _speed(comp, a, b):
    """Speed of datapath ``a`` relative to ``b`` (time of b / time of a) per case."""
    return {case: c[b]["seconds"] / c[a]["seconds"] for case, c in comp.items() if a in c and b in c}


PLATEAU = 0.01  # a wider setting that gains no workload more than 1 point changes nothing


def plateau(sens, key):
    """(value, worst ratio there, its case): the smallest value of ``key`` from which, up to the
    largest value swept, no case's 4:8 / 2:4 speed ratio moves by more than :data:`PLATEAU`."""
    s = sens[key]
    series = {c: r for c, r in s["ratio"].items() if None not in r}
    for i, v in enumerate(s["values"]):
        if all(abs(x - r[-1]) <= PLATEAU for r in series.values() for x in r[i:]):
            worst = min(series, key=lambda c: series[c][i])
            return v, series[worst][i], worst
    return None, None, None


def conclusion(facts, comp, sens, key, base_value) -> list[str]:
    f24, f48, fx = facts
    a24, a48, ax = f24["arch"], f48["arch"], fx["arch"]
    speed = _speed(comp, a48, a24)
    (lo_case, lo), hi = min(speed.items(), key=lambda kv: kv[1]), max(speed.values())
    dram_lo, dram_hi, _ = _ratio_range(comp, a48, a24, "dram")
    en_lo, en_hi, _ = _ratio_range(comp, a48, a24, "energy")
    xen_lo, xen_hi, _ = _ratio_range(comp, ax, a48, "energy")
    acc = 100 * (f48["kept"] - f24["kept"])
    perm = 100 * (f24["kept_perm"] - f24["kept"])
    flat, flat_ratio, flat_case = plateau(sens, key)
    base_ratio = min(r[sens[key]["values"].index(base_value)] for r in sens[key]["ratio"].values()
                     if base_value in sens[key]["values"])
    same_masks = f48["masks"][0] == fx["masks"][0]
    out = [
        f"- **Accuracy proxy.** 4:8 keeps {100 * f48['kept']:.2f} % of the L1 weight magnitude of "
        f"all-MiniLM-L6-v2, 2:4 {100 * f24['kept']:.2f} % ({acc:+.2f} points for 4:8); an input-channel "
        f"permutation, with no hardware change, lifts 2:4 to {100 * f24['kept_perm']:.2f} % ({perm:+.2f} points) "
        f"and 4:8 to {100 * f48['kept_perm']:.2f} %.",
        f"- **Area.** The sparse additions take {f24['area_mm2']:.3g} mm² on the 2:4 chip "
        f"({100 * f24['area_fraction']:.2f} % of the dense tensor-core datapath), {f48['area_mm2']:.3g} mm² "
        f"({100 * f48['area_fraction']:.2f} %) with 4:8 and {f48['fan_in']}:1 muxes, {fx['area_mm2']:.3g} mm² "
        f"({100 * fx['area_fraction']:.2f} %) with the {fx['fan_in']}:1 crossbar.",
        f"- **Speed.** 4:8 runs at {100 * lo:.1f} % ({lo_case[0]} {lo_case[1]}) to {100 * hi:.1f} % of 2:4's "
        f"speed; it moves {100 * (dram_lo - 1):+.1f} % to {100 * (dram_hi - 1):+.1f} % DRAM bytes "
        f"({f48['bits']}-bit instead of {f24['bits']}-bit indices) and spends {100 * (en_lo - 1):+.1f} % to "
        f"{100 * (en_hi - 1):+.1f} % energy per inference.",
        f"- **Crossbar.** " + (
            f"Ordered {f48['fan_in']}:1 muxes already execute all {f48['masks'][1]} masks of a 4:8 group, so "
            f"the crossbar keeps exactly the same weights" if same_masks else
            f"The crossbar executes {fx['masks'][0]} masks per group where the ordered muxes execute "
            f"{f48['masks'][0]}") + f"; it costs {fx['area_mm2'] - f48['area_mm2']:.3g} mm² more and "
        f"{100 * (xen_lo - 1):+.2f} % to {100 * (xen_hi - 1):+.2f} % energy, at the same speed "
        f"({fx['select_cycles']} vs {f48['select_cycles']} select cycles).",
        f"- **The parameter that decides it: `{key}`** (it moves 4:8's speed relative to 2:4 by "
        f"{100 * sens[key]['swing']:.1f} points, more than any other candidate). At the a100 value "
        f"({base_value:g}) 4:8 reaches {100 * base_ratio:.1f} % of 2:4's speed in the worst case; " + (
            f"from {flat:g} on a larger value moves no workload by more than {100 * PLATEAU:.0f} point, and 4:8 "
            f"runs at >= {100 * flat_ratio:.1f} % of 2:4's speed (least: {flat_case[0]} {flat_case[1]}; "
            "what is left there does not depend on this parameter)."
            if flat is not None else "4:8's speed keeps moving with it over the whole range swept."),
    ]
    cost = f"{f48['area_mm2'] - f24['area_mm2']:.3g} mm²"
    if flat is not None and flat != base_value:
        area = sens[key]["area_4of8"]
        extra = (f" ({area[flat] - area[base_value]:+.3g} mm² on the 4:8 chip)"
                 if area.get(flat) is not None and area.get(base_value) is not None else "")
        cost += f" and a `{key}` of {flat:g} instead of {base_value:g}{extra}"
    buys = (f"4:8 with ordered {f48['fan_in']}:1 muxes buys {acc:+.2f} points of kept magnitude (a channel "
            f"permutation gives 2:4 {perm:+.2f} of them for free) for {cost}")
    speed_then = (f"; then it runs at >= {100 * flat_ratio:.1f} % of 2:4's speed (with {base_value:g}: "
                  f">= {100 * base_ratio:.1f} %)." if flat is not None else
                  f", and loses up to {100 * (1 - lo):.1f} % of the speed.")
    crossbar = " The full crossbar is never worth it" + (
        " (it reaches no mask the ordered muxes miss)." if same_masks else ".")
    return out + ["", "**Verdict.** " + buys + speed_then + crossbar]


def datapath_table(facts) -> list[str]:
    body = [[f["arch"], f["pattern"], f["scheme"], f"{f['fan_in']}:1, {f['levels']} levels", f["select_cycles"],
             f["bits"], f["decoder_width"], f"{f['masks'][0]} of {f['masks'][1]}",
             f"{f['area_mm2']:.3g} ({100 * f['area_fraction']:.2f} %)", f"{100 * f['kept']:.2f}",
             f"{100 * f['kept_perm']:.2f}"] for f in facts]
    return _table(["datapath", "pattern", "indices", "operand mux", "select cycles", "bits/index",
                   "decoder indices/cycle", "masks per group", "sparse area mm² (of TC)", "kept L1 %",
                   "kept L1 % +perm"], body)


def side_by_side(comp, facts) -> list[str]:
    archs = [f["arch"] for f in facts]
    out = []
    for title, cell in (
        ("Network speedup over the same chip's dense run", lambda v: f"{v['speedup']:.3f}x"),
        ("DRAM traffic per inference, MB (relative to dense; metadata)",
         lambda v: f"{v['dram'] / 1e6:.1f} ({100 * (v['dram_rel'] - 1):+.1f} %; {v['meta'] / 1e6:.1f})"),
        ("Energy per inference, mJ (relative to dense; average power)",
         lambda v: f"{v['energy'] * 1e3:.1f} ({100 * (v['energy_rel'] - 1):+.1f} %; {v['power']:.0f} W)"),
    ):
        body = [[wl, dt, *(cell(c[a]) if a in c else "n/a" for a in archs)] for (wl, dt), c in comp.items()]
        out += [f"{title}:", ""] + _table(["workload", "dtype", *archs], body) + [""]
    return out


def sensitivity_tables(sens, key) -> list[str]:
    body = [[f"`{k}`", ", ".join(f"{v:g}" for v in s["values"]), f"{100 * s['swing']:.1f} points",
             max(s["ratio"], key=lambda c: max(s["ratio"][c]) - min(s["ratio"][c]), default=("-", "-"))[0]]
            for k, s in sorted(sens.items(), key=lambda kv: -kv[1]["swing"])]
    out = _table(["parameter (on both chips)", "values", "swing of 4:8 / 2:4 speed", "moves most on"], body)
    s = sens[key]
    body = [[wl, dt, *(f"{100 * r:.1f} %" if r is not None else "n/a" for r in series)]
            for (wl, dt), series in sorted(s["ratio"].items())]
    out += ["", f"4:8 speed relative to 2:4 as `{key}` moves (both chips):", ""]
    out += _table(["workload", "dtype", *(f"{v:g}" for v in s["values"])], body)
    return out


def pareto_table(front) -> list[str]:
    body = []
    for (wl, dt), entries in front.items():
        on = [e for e in entries if e["on_front"]]
        body.append([wl, dt, "; ".join(f"{e['arch']} {e['label']}" for e in on),
                     "; ".join(f"{e['arch']} {e['label']}" for e in entries if not e["on_front"])])
    return _table(["workload", "dtype", "on the front", "dominated"], body)


def study_markdown(res, facts, comp, sens, key, base_value, workloads, command, front) -> str:
    values = ",".join(f"{v:g}" for v in sens[key]["values"])
    acc_layers = len(res.accuracy)
    out = [
        "# Sparse tensor-core datapaths: 2:4 + 3:1 muxes, 4:8 + 5:1 muxes, 4:8 + crossbar",
        "",
        f"Regenerate with `{command}` (statistical timing mode; every number below comes from the "
        "results tables in this folder).",
        "",
        "A100-class chips that differ only in the sparse additions of their tensor cores (`a100`, "
        "`a100-4of8`, `a100-4of8-crossbar`; mux fan-in, levels, select latency and decoder width are "
        "derived from the pattern and the index scheme by `sparsesim.arch.datapath`, area and energy "
        "by `sparsesim.cost`). Each runs its own pattern; speedups are against the same chip's dense run. "
        f"Workloads: {', '.join(workloads)} (their own batch and sequence length), fp16 and int8.",
        "",
        "## Conclusion",
        "",
        *conclusion(facts, comp, sens, key, base_value),
        "",
        "## The datapaths",
        "",
        *datapath_table(facts),
        "",
        f"Masks per group: the keep-masks of one group the index scheme can route (of C(M, N)). Kept L1 %: "
        f"mean over the {acc_layers} linear layers of all-MiniLM-L6-v2 of the share of the L1 weight "
        "magnitude that magnitude pruning keeps (`accuracy.csv`; the wider mask study is in `reports/masks`); +perm: after the "
        "input-channel permutation `sparsesim.masks.search_permutation` finds.",
        "",
        "## Side by side",
        "",
        *side_by_side(comp, facts),
        "![Speedup, DRAM traffic and energy relative to dense; sparse-datapath area](comparison.png)",
        "",
        "*Speedup, DRAM traffic and energy relative to dense per workload and dtype; sparse-datapath area "
        "and kept magnitude per datapath* ([SVG](comparison.svg))",
        "",
        "## Pareto fronts",
        "",
        "Design points per workload: each datapath dense and at its own pattern, with four objectives: "
        "time, energy and sparse-datapath area per inference (minimised) and the kept-magnitude accuracy "
        "proxy (maximised; dense keeps 100 %). A point is on the front when no other is at least as good "
        "in all four and better in one (`sparsesim.dse.pareto.pareto_front`):",
        "",
        *pareto_table(front),
        "",
        "![Pareto fronts per workload](pareto.png)",
        "",
        "*Time vs energy per workload and dtype; colour: datapath, marker size: sparse-datapath area, "
        "ringed: on the front* ([SVG](pareto.svg))",
        "",
        "## The parameter that decides it",
        "",
        "Each candidate parameter is swept with `--set` on the 2:4 and the 4:8 chip alike; the one whose "
        "range moves 4:8's speed relative to 2:4 most decides the choice:",
        "",
        *sensitivity_tables(sens, key),
        "",
        "The same sweep from the command line:",
        "",
        "```sh",
        f"sparsesim sweep --arch a100 --arch a100-4of8 --workload llama-7b-prefill --dtype int8 "
        f"--patterns dense,2:4,4:8 --set {key}={values} --out decide.csv --report decide",
        "```",
        "",
        f"![4:8 speed relative to 2:4 against {key}](deciding.png)",
        "",
        f"*4:8 speed relative to 2:4 against `{key}`* ([SVG](deciding.svg))",
        "",
        "## Files",
        "",
        "- `results.csv` (+ `.parquet`): every layer of the comparison (`sparsesim report "
        "reports/datapath/results.csv --out DIR` draws its per-workload speedup, traffic, energy and Pareto "
        "figures);",
        "- `sweep_<parameter>.parquet`: the `--set` sweeps of the candidate parameters;",
        "- `accuracy.csv`: kept magnitude per layer and pattern.",
    ]
    return "\n".join(out).rstrip() + "\n"
