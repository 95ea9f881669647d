"""Aggregations of a results table that the figures and report.md share.

Rows are typed dicts (see :func:`sparsesim.dse.store.parse_row`).  A *label* names
what was simulated: ``dense``, ``2:4``, ``4:8``... or ``unstructured:csr`` etc.
Network totals weight every layer by its ``repeat`` count and are only formed
when every layer of the workload has a row without error.
"""

from __future__ import annotations

from collections import defaultdict

from ..dse.pareto import pareto_front
from ..dse.store import ENERGY_UNITS, baseline_key, decode_params

UNSTRUCTURED_ORDER = ("unstructured:csr", "unstructured:csb", "unstructured:bitmask")


def label(row) -> str:
    return f"unstructured:{row['format']}" if row["pattern"] == "unstructured" else row["pattern"]


def is_unstructured(lab: str) -> bool:
    return lab.startswith("unstructured")


def label_order(labels):
    def key(lab):
        if lab == "dense":
            return (0, lab)
        if not is_unstructured(lab):
            n, m = (int(x) for x in lab.split(":"))
            return (1, m, n)
        return (2, UNSTRUCTURED_ORDER.index(lab) if lab in UNSTRUCTURED_ORDER else 9, lab)
    return sorted(set(labels), key=key)


def ordered_unique(values):
    return list(dict.fromkeys(values))


def format_value(v) -> str:
    """A varied parameter's value as a figure or table shows it."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def short_keys(keys) -> dict:
    """``{dotted key: name to show}``: the last part of the key unless two keys share it."""
    leaves = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (leaf if leaves.count(leaf) == 1 else k) for k, leaf in zip(keys, leaves)}


def design_label(arch: str, values: dict, names: dict | None = None) -> str:
    """``a100 [index_scheme=crossbar, bandwidth_gbps=1000]``: an arch with varied values."""
    if not values:
        return arch
    names = names or short_keys(list(values))
    return f"{arch} [" + ", ".join(f"{names.get(k, k)}={format_value(v)}" for k, v in sorted(values.items())) + "]"


def label_designs(rows):
    """Give rows of a design with varied parameters a design label in ``arch`` (the arch
    config's name stays in ``arch_name``, the values in ``param_values``)."""
    keys = sorted({k for r in rows for k in decode_params(r.get("params"))})
    names = short_keys(keys)
    for r in rows:
        r.setdefault("arch_name", r["arch"])
        r["param_values"] = decode_params(r.get("params"))
        r["arch"] = design_label(r["arch_name"], r["param_values"], names)
    return rows


def varied_keys(rows) -> list[str]:
    """The design parameters varied in ``rows`` (sorted dotted keys)."""
    return sorted({k for r in rows for k in r.get("param_values") or decode_params(r.get("params"))})


def fill_missing_speedup(rows):
    """Fill ``speedup`` from the dense row where the table lacks it (e.g. an interrupted sweep)."""
    dense = {}
    for r in rows:
        if r["pattern"] == "dense" and not r["error"] and r["seconds"]:
            dense[baseline_key(r)] = r["seconds"]
    for r in rows:
        if r["speedup"] is None and not r["error"] and r["seconds"]:
            base = dense.get(baseline_key(r))
            if base:
                r["speedup"] = base / r["seconds"]
    return rows


def workload_layers(rows, workload) -> list[tuple[int, str, int]]:
    """(layer_index, layer, repeat) of a workload in layer order."""
    seen = {}
    for r in rows:
        if r["workload"] == workload:
            seen[r["layer"]] = (r["layer_index"], r["layer"], r["repeat"])
    return sorted(seen.values())


def _new_total():
    return {"n": 0, "seconds": 0.0, "dram_total": 0.0, "dram_a": 0.0, "dram_a_metadata": 0.0,
            "ops": 0.0, "energy_n": 0, "energy_j": 0.0, "sparse_area_mm2": None,
            "sparse_area_fraction": None, **{f"energy_{u}_j": 0.0 for u in ENERGY_UNITS}}


def network_totals(rows):
    """``{(arch, workload, label): {density: {...}}}`` summed over the layers of each workload
    (repeat-weighted): ``seconds``, ``dram_total``, ``dram_a``, ``dram_a_metadata``, ``speedup``,
    ``ops`` (dense-equivalent operations, 2 per MAC), ``energy_j`` and ``energy_<unit>_j``
    (None unless every layer has its energy), ``avg_power_w``, ``energy_per_op_j`` and the
    design's ``sparse_area_mm2`` / ``sparse_area_fraction``."""
    n_layers = {w: len(workload_layers(rows, w)) for w in {r["workload"] for r in rows}}
    acc = defaultdict(lambda: defaultdict(_new_total))
    for r in rows:
        if r["error"] or r["seconds"] is None:
            continue
        a = acc[(r["arch"], r["workload"], label(r))][r["density"]]
        rep = r["repeat"]
        a["n"] += 1
        a["seconds"] += rep * r["seconds"]
        a["dram_total"] += rep * (r["dram_total"] or 0.0)
        a["dram_a"] += rep * ((r["dram_a_values"] or 0.0) + (r["dram_a_metadata"] or 0.0))
        a["dram_a_metadata"] += rep * (r["dram_a_metadata"] or 0.0)
        a["ops"] += rep * 2.0 * r["m"] * r["n"] * r["k"]
        if r.get("energy_j") is not None:
            a["energy_n"] += 1
            a["energy_j"] += rep * r["energy_j"]
            for u in ENERGY_UNITS:
                a[f"energy_{u}_j"] += rep * (r.get(f"energy_{u}_j") or 0.0)
        for c in ("sparse_area_mm2", "sparse_area_fraction"):
            if r.get(c) is not None:
                a[c] = r[c]
    out = {}
    for (arch, wl, lab), by_d in acc.items():
        full = {d: v for d, v in by_d.items() if v["n"] == n_layers[wl]}
        if full:
            out[(arch, wl, lab)] = dict(sorted(full.items()))
    for (arch, wl, lab), by_d in out.items():
        dense = out.get((arch, wl, "dense"), {}).get(1.0)
        for v in by_d.values():
            v["speedup"] = dense["seconds"] / v["seconds"] if dense and v["seconds"] else None
            if v["energy_n"] != v["n"]:
                for c in ("energy_j", *(f"energy_{u}_j" for u in ENERGY_UNITS)):
                    v[c] = None
            v["avg_power_w"] = v["energy_j"] / v["seconds"] if v["energy_j"] is not None and v["seconds"] else None
            v["energy_per_op_j"] = v["energy_j"] / v["ops"] if v["energy_j"] is not None and v["ops"] else None
    return out


def has_energy(totals, workload=None) -> bool:
    """Whether any network total (of ``workload``) has an energy."""
    return any(v["energy_j"] is not None for (_, w, _), by_d in totals.items()
               if workload is None or w == workload for v in by_d.values())


PARETO_OBJECTIVES = (("seconds", "min"), ("energy_j", "min"), ("sparse_area_mm2", "min"))


def pareto_designs(totals, workload):
    """Every design point of ``workload`` (design x pattern x density, network totals) with
    ``on_front``: whether it is on the Pareto front of time, energy and sparse-datapath area
    (all minimised; :func:`sparsesim.dse.pareto.pareto_front`).  Empty when the energy or
    area of the designs is unknown."""
    entries = []
    for (arch, wl, lab), by_d in totals.items():
        if wl != workload:
            continue
        for d, v in by_d.items():
            entries.append({"arch": arch, "label": lab, "density": d, **v})
    entries = [e for e in entries if all(e.get(k) is not None for k, _ in PARETO_OBJECTIVES)]
    front = set(pareto_front([tuple(e[k] for k, _ in PARETO_OBJECTIVES) for e in entries],
                             [s for _, s in PARETO_OBJECTIVES]))
    for i, e in enumerate(entries):
        e["on_front"] = i in front
    entries.sort(key=lambda e: (not e["on_front"], e["seconds"], e["energy_j"], e["sparse_area_mm2"]))
    return entries


def crossing(densities, values, level=1.0):
    """Highest density at which ``values`` (over increasing ``densities``) crosses
    ``level`` from above to below, by linear interpolation; None if it never does.

    For a speedup curve this is the break-even density: below it the sparse format
    beats the reference."""
    pts = [(d, v) for d, v in zip(densities, values) if v is not None]
    best = None
    for (d0, v0), (d1, v1) in zip(pts, pts[1:]):
        if v0 >= level > v1:
            best = d0 + (v0 - level) * (d1 - d0) / (v0 - v1)
    return best


def describe_crossing(densities, values, level=1.0) -> str:
    """Words for :func:`crossing`, covering curves that never cross."""
    vals = [v for v in values if v is not None]
    if not vals:
        return "n/a"
    c = crossing(densities, values, level)
    if c is not None:
        return f"{c:.3f}"
    if all(v >= level for v in vals):
        return "always (all densities)"
    return "never"


def crossovers(totals, arch, workload):
    """For each unstructured label: break-even density vs dense and vs the best N:M pattern."""
    out = {}
    nm = {lab: v for (a, w, lab), v in totals.items()
          if a == arch and w == workload and lab != "dense" and not is_unstructured(lab)}
    best_nm = None
    for lab, by_d in nm.items():
        s = next(iter(by_d.values()))["speedup"]
        if s and (best_nm is None or s > best_nm[1]):
            best_nm = (lab, s)
    for (a, w, lab), by_d in totals.items():
        if a != arch or w != workload or not is_unstructured(lab):
            continue
        ds = list(by_d)
        sp = [v["speedup"] for v in by_d.values()]
        entry = {"vs_dense": crossing(ds, sp, 1.0), "vs_nm": None, "nm": None,
                 "vs_dense_text": describe_crossing(ds, sp, 1.0), "vs_nm_text": "n/a"}
        if best_nm:
            entry["nm"] = best_nm[0]
            entry["nm_speedup"] = best_nm[1]
            entry["vs_nm"] = crossing(ds, sp, best_nm[1])
            entry["vs_nm_text"] = describe_crossing(ds, sp, best_nm[1])
        out[lab] = entry
    return out


def nearest_density(rows, target=0.5):
    ds = sorted({r["density"] for r in rows if r["pattern"] == "unstructured"})
    if not ds:
        return target
    return min(ds, key=lambda d: (abs(d - target), d))


def at_density(rows, arch, workload, density):
    """``{layer: {label: row}}``: N:M and dense rows at their own density, unstructured at ``density``."""
    out = defaultdict(dict)
    for r in rows:
        if r["arch"] != arch or r["workload"] != workload or r["error"]:
            continue
        if r["pattern"] == "unstructured" and r["density"] != density:
            continue
        out[r["layer"]][label(r)] = r
    return out
