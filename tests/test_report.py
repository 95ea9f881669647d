"""Reports: aggregation arithmetic, crossover detection, files written."""

import stat
import xml.etree.ElementTree as ET

import pytest

import test_sweep_fakes as fakes
from sparsesim.dse import ResultStore, make_row, plan_points, read_results, run_sweep
from sparsesim.report import write_report
from sparsesim.report import data as D


def test_crossing_interpolates_and_describes():
    assert D.crossing([0.1, 0.2, 0.3], [2.0, 1.5, 0.5]) == pytest.approx(0.25)
    # the highest crossing wins when a curve wiggles
    assert D.crossing([0.1, 0.2, 0.3, 0.4, 0.5], [2, 0.9, 1.2, 1.1, 0.8]) == pytest.approx(
        0.4 + 0.1 * (1.1 - 1.0) / (1.1 - 0.8))
    assert D.crossing([0.1, 0.2], [0.5, 0.4]) is None
    assert D.describe_crossing([0.1, 0.2], [3.0, 2.0]) == "always (all densities)"
    assert D.describe_crossing([0.1, 0.2], [0.5, 0.4]) == "never"
    assert D.describe_crossing([0.1, 0.2], [None, None]) == "n/a"
    assert D.crossing([0.1, 0.2, 0.3], [4.0, 2.0, 1.0], level=3.0) == pytest.approx(0.15)


def _rows(points, seconds, error_layer=None):
    rows = []
    for p in points:
        if p.layer == error_layer and p.pattern == "2:4":
            rows.append(make_row(p, None, "ValueError: boom"))
            continue
        rows.append(make_row(p, {"cycles": 1, "seconds": seconds(p), "bound": "dram",
                                 "utilization": 0.5,
                                 "dram_bytes": {"a_values": 10, "a_metadata": 2, "b": 3, "c": 4,
                                                "total": 19}}))
    return rows


def test_network_totals_weight_layers_by_repeat():
    pts = plan_points(["a100"], ["resnet-18"], "dense,2:4", "0.5")
    wl_layers = {p.layer: p.repeat for p in pts}
    secs = {"dense": 3.0, "2:4": 2.0}
    from sparsesim.report import _typed

    rows = _typed(_rows(pts, lambda p: secs[p.pattern] * (1 + p.layer_index)))
    tot = D.network_totals(rows)
    layer_idx = {p.layer: p.layer_index for p in pts}
    expect_dense = sum(3.0 * (1 + layer_idx[l]) * r for l, r in wl_layers.items())
    expect_24 = sum(2.0 * (1 + layer_idx[l]) * r for l, r in wl_layers.items())
    d = tot[("a100", "resnet-18", "dense")][1.0]
    s = tot[("a100", "resnet-18", "2:4")][0.5]
    assert d["seconds"] == pytest.approx(expect_dense)
    assert s["seconds"] == pytest.approx(expect_24)
    assert s["speedup"] == pytest.approx(1.5)
    assert d["dram_total"] == 19 * sum(wl_layers.values())
    assert s["dram_a"] == 12 * sum(wl_layers.values())
    # a failed layer leaves that pattern out of the network totals
    rows = _typed(_rows(pts, lambda p: 1.0, error_layer="fc"))
    tot = D.network_totals(rows)
    assert ("a100", "resnet-18", "2:4") not in tot and ("a100", "resnet-18", "dense") in tot


@pytest.fixture(scope="module")
def small_report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rep")
    pts = plan_points(["a100", "h100"], ["bert-base"],
                      "dense,2:4,4:8,unstructured:csr,unstructured:bitmask", "0.1:1.0:0.1")
    run_sweep(pts, tmp / "r.csv", fakes.bitmask_flaky_point, jobs=1)
    files = write_report(read_results(tmp / "r.csv"), tmp / "out", source="r.csv")
    return tmp, files


def test_report_files_are_complete(small_report):
    tmp, files = small_report
    out = tmp / "out"
    md = (out / "report.md").read_text()
    assert files[0] == out / "report.md"
    for kind in ("speedup", "traffic", "layers", "bound"):
        png, svg = out / f"{kind}_bert-base.png", out / f"{kind}_bert-base.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert ET.parse(svg).getroot().tag.endswith("svg")
        assert f"]({png.name})" in md and f"({svg.name})" in md
    for name in ("a100", "h100", "Crossover densities", "Best pattern per layer",
                 "Total network speedup", "bert-base (1)"):
        assert name in md
    assert not list(out.glob(".*.tmp"))
    mode = stat.S_IMODE((out / "report.md").stat().st_mode)
    assert mode & stat.S_IRGRP  # not left 0600 like a temp file


def test_report_lists_failed_points_and_skips_their_totals(small_report):
    tmp, _ = small_report
    md = (tmp / "out" / "report.md").read_text()
    # bitmask at d=0.5 failed on every layer: no network total there, others intact
    assert "**8 points failed**" in md and "## Failed points" in md
    assert "ValueError: cannot model ffn.down bitmask at 0.5" in md
    assert "| unstructured:bitmask @ d=0.5 | n/a | n/a |" in md
    assert "| unstructured:csr @ d=0.5 | n/a |" not in md


@pytest.fixture
def no_figures(monkeypatch):
    """Skip drawing (covered by the tests above) where only report.md is checked."""
    from sparsesim.report import plots

    monkeypatch.setattr(plots, "write_figures", lambda rows, out_dir, totals=None, progress=False: {})


def test_report_from_interrupted_sweep_fills_speedup(tmp_path, no_figures):
    pts = plan_points(["a100"], ["bert-base"], "dense,2:4,unstructured:csr", "0.25:1.0:0.25")
    rows = [make_row(p, fakes.roofline_point(p)) for p in pts]
    with ResultStore(tmp_path / "r.sqlite") as store:  # the store of a sweep that never finished
        store.open()
        for r in rows:
            store.append(r)
    with ResultStore(tmp_path / "r.sqlite") as store:
        back = list(store.open().values())
    assert all(r["speedup"] is None for r in back)
    write_report(back, tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    tot = D.network_totals(D.fill_missing_speedup(back))
    s24 = tot[("a100", "bert-base", "2:4")][0.5]["speedup"]
    assert f"| 2:4 | {s24:.2f}x |" in md


def test_batches_of_one_workload_are_told_apart(tmp_path, no_figures):
    pts = (plan_points(["a100"], ["bert-base"], "dense,2:4", "0.5", batch=1)
           + plan_points(["a100"], ["bert-base"], "dense,2:4", "0.5", batch=4)
           + plan_points(["a100"], ["bert-base"], "dense,2:4", "0.5", batch=4, dtype="int8"))
    res = run_sweep(pts, tmp_path / "r.csv", fakes.roofline_point, jobs=1)
    assert len(res.rows) == len(pts) == 24
    write_report(read_results(tmp_path / "r.csv"), tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    for name in ("bert-base-b1-fp16", "bert-base-b4-fp16", "bert-base-b4-int8"):
        assert f"### {name}\n" in md


def test_network_energy_totals_and_pareto_designs():
    from sparsesim.report import _typed

    pts = plan_points(["a100", "a100-4of8"], ["bert-base"], "dense,2:4,4:8", "0.5")
    rows = _typed([make_row(p, fakes.design_point(p)) for p in pts])
    tot = D.network_totals(rows)
    d = tot[("a100", "bert-base", "2:4")][0.5]
    layer = [r for r in rows if r["arch"] == "a100" and r["pattern"] == "2:4"]
    assert d["energy_j"] == pytest.approx(sum(r["energy_j"] * r["repeat"] for r in layer))
    assert d["energy_dram_j"] == pytest.approx(sum(r["energy_dram_j"] * r["repeat"] for r in layer))
    assert d["ops"] == sum(2 * r["m"] * r["n"] * r["k"] * r["repeat"] for r in layer)
    assert d["energy_per_op_j"] == pytest.approx(d["energy_j"] / d["ops"])
    assert d["avg_power_w"] == pytest.approx(d["energy_j"] / d["seconds"])
    assert d["sparse_area_mm2"] == pytest.approx(0.4)  # design_point: 0.1 mm^2 per M
    entries = D.pareto_designs(tot, "bert-base")
    assert len(entries) == 6
    front = {(e["arch"], e["label"]) for e in entries if e["on_front"]}
    # a100 (M=4, smaller area) with its native 2:4 is fastest there; a100-4of8's 4:8 is as fast
    # but larger, so only its speed could keep it; the fake makes both equally fast -> not on front
    assert ("a100", "2:4") in front and ("a100-4of8", "dense") not in front
    for e in entries:
        beaten = any(o["seconds"] <= e["seconds"] and o["energy_j"] <= e["energy_j"]
                     and o["sparse_area_mm2"] <= e["sparse_area_mm2"]
                     and (o["seconds"], o["energy_j"], o["sparse_area_mm2"])
                     != (e["seconds"], e["energy_j"], e["sparse_area_mm2"]) for o in entries)
        assert e["on_front"] == (not beaten)
    # a layer without energy leaves the network energy unknown (not a partial sum)
    rows[0]["energy_j"] = None
    key = (rows[0]["arch"], "bert-base", D.label(rows[0]))
    assert D.network_totals(rows)[key][rows[0]["density"]]["energy_j"] is None


def test_report_draws_energy_and_lists_the_pareto_front(tmp_path):
    pts = plan_points(["a100", "a100-4of8"], ["bert-base"], "dense,2:4,4:8,unstructured:csr", "0.25:1.0:0.25",
                      dtype="int8")
    run_sweep(pts, tmp_path / "r.csv", fakes.design_point, jobs=1)
    write_report(read_results(tmp_path / "r.csv"), tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    for kind in ("energy", "pareto"):
        assert (tmp_path / "out" / f"{kind}_bert-base.png").read_bytes()[:4] == b"\x89PNG"
        assert f"]({kind}_bert-base.png)" in md
    assert "pJ/OP" in md  # int8: operations, not FLOP
    assert "Pareto front of time, energy and sparse-datapath area" in md
    assert "| a100 | 2:4 |" in md.split("Pareto front", 1)[1]
    assert "Sparse-datapath area" in md and "a100 0.4 mm²" in md
