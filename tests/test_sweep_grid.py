"""Parameter grids (``sweep --set``): typing, bad input, derived designs, columns, resume."""

import csv
import json

import pytest

import test_sweep_fakes as fakes
from sparsesim.arch import derive, load_arch
from sparsesim.dse import plan_points, read_results, run_sweep
from sparsesim.dse.grid import expand, parse_values
from sparsesim.dse.store import COLUMNS
from sparsesim.errors import InputError

GRID = ["tensor_core.index_scheme=ordered,crossbar", "dram.bandwidth_gbps=1000:2000:500"]


def grid_plan(params=GRID, **kw):
    args = dict(archs=["a100"], workloads=["bert-base"], patterns="dense,2:4", densities="0.5", params=params)
    args.update(kw)
    return plan_points(**args)


# ---------------------------------------------------------------- values typed by the schema
def test_values_are_typed_by_the_schema_field():
    designs = expand(["a100"], ["dram.bandwidth_gbps=1000:2000:500", "tensor_core.metadata_bits=2,3",
                                "tensor_core.index_scheme=crossbar"])
    vals = [d.params for d in designs]
    assert len(vals) == 3 * 2 * 1
    assert vals[0] == {"dram.bandwidth_gbps": 1000.0, "tensor_core.metadata_bits": 2,
                       "tensor_core.index_scheme": "crossbar"}
    assert {type(v["dram.bandwidth_gbps"]) for v in vals} == {float}
    assert {type(v["tensor_core.metadata_bits"]) for v in vals} == {int}
    # the derived objects carry the values, validated like a file
    assert designs[-1].loaded.dram.bandwidth_gbps == 2000.0 and designs[-1].loaded.tensor_core.metadata_bits == 3
    assert parse_values("0.1:0.3:0.1", float, "f", "k") == [0.1, 0.2, 0.3]  # no 0.30000000000000004
    assert parse_values("32:128:32", int, "f", "k") == [32, 64, 96, 128]
    assert parse_values("true,false,yes", bool, "f", "k") == [True, False]
    assert parse_values([1000, "2000:3000:1000"], float, "f", "k") == [1000.0, 2000.0, 3000.0]


@pytest.mark.parametrize("text, match", [
    ("tensor_core.index_schem=ordered", r"unknown key 'tensor_core.index_schem'.*closest: tensor_core.index_scheme$"),
    ("dram.bandwith_gbps=900", r"unknown key 'dram.bandwith_gbps'.*closest: dram.bandwidth_gbps"),
    ("bandwidth_gbps=900", r"closest: dram.bandwidth_gbps"),
    ("dram.bandwidth_gbps=fast", r"--set dram.bandwidth_gbps=fast: dram.bandwidth_gbps is a float; 'fast' is not a number"),
    ("dram.bandwidth_gbps=nan", r"--set dram.bandwidth_gbps=nan: dram.bandwidth_gbps = nan is not a finite number"),
    ("dram.bandwidth_gbps=900,inf", r"dram.bandwidth_gbps = inf is not a finite number"),
    ("tensor_core.metadata_bits=2.5", r"tensor_core.metadata_bits is an int; '2.5' is not an integer"),
    ("tensor_core.index_scheme=a:b:c", r"expected one of ordered, crossbar, got 'a:b:c'"),
    ("dram.bandwidth_gbps=-5", r"--set dram.bandwidth_gbps=-5: .*key 'dram.bandwidth_gbps': expected a positive.*float"),
    ("efficiency.dram=1.5", r"--set efficiency.dram=1.5: .*key 'efficiency.dram': expected a float fraction in \(0, 1\]"),
    ("dram.bandwidth_gbps=2000:1000:100", r"needs STEP > 0 and STOP >= START"),
    ("dram.bandwidth_gbps=1:1000000:0.01", r"at most 1000 per key"),
    ("tensor_core=3", r"'tensor_core' is a table, not a value"),
    ("tiles.candidates=1", r"'tiles.candidates' is an array of tables"),
    ("dram.bandwidth_gbps=", r"empty value for dram.bandwidth_gbps"),
    ("dram.bandwidth_gbps", r"expected KEY=VALUES"),
])
def test_bad_set_values_name_the_flag_and_the_key(text, match):
    with pytest.raises(InputError, match=match):
        grid_plan([text])


def test_impossible_designs_are_refused_before_any_point_runs(tmp_path, capsys):
    # 1 bit cannot name the 3 positions an ordered 2:4 value may take; on 4:8 a crossbar needs 3
    with pytest.raises(InputError, match=r"metadata_bits=1 is refused: .*1 bits cannot name the 3 positions"):
        grid_plan(["tensor_core.metadata_bits=2,1"])
    with pytest.raises(InputError, match=r"with tensor_core.index_scheme=crossbar, tensor_core.metadata_bits=2 "
                                         r"is refused: .*cannot name the 8 positions"):
        grid_plan(["tensor_core.index_scheme=crossbar", "tensor_core.metadata_bits=2"], archs=["a100-4of8"])
    with pytest.raises(InputError, match="given twice"):
        grid_plan(["dram.bandwidth_gbps=900", "dram.bandwidth_gbps=1000"])
    # the CLI: one line, exit 2, nothing written
    args = ["sweep", "--arch", "a100", "--workload", "bert-base", "--patterns", "dense,2:4",
            "--out", str(tmp_path / "r.csv"), "--set", "dram.bandwidth_gbps=1000,2000",
            "--set", "tensor_core.metadata_bits=1", "--evaluator", "test_sweep_fakes:design_point"]
    assert fakes.cli(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--set tensor_core.metadata_bits=1" in err and "positions" in err
    assert list(tmp_path.iterdir()) == []


def test_a_key_the_other_arch_kind_lacks_names_that_arch():
    with pytest.raises(InputError, match=r"unknown key 'dram.bandwidth_gbps' for xeon-8280 \(kind cpu\)"):
        grid_plan(["dram.bandwidth_gbps=900"], archs=["a100", "xeon-8280"])


# ---------------------------------------------------------------- rows, columns, resume
def test_grid_rows_carry_the_varied_values_as_typed_columns(tmp_path):
    pts = grid_plan()
    assert len({p.params for p in pts}) == 2 * 3
    assert len({p.model for p in pts}) == 6  # one model fingerprint per derived design
    out = tmp_path / "r.csv"
    res = run_sweep(pts, out, fakes.design_point, jobs=1)
    assert res.errors == 0
    with open(out, newline="") as f:
        header = next(csv.reader(f))
    assert tuple(header[:len(COLUMNS)]) == COLUMNS
    assert header[len(COLUMNS):] == ["dram.bandwidth_gbps", "tensor_core.index_scheme"]
    rows = read_results(out)
    assert {(r["dram.bandwidth_gbps"], r["tensor_core.index_scheme"]) for r in rows} == {
        (b, s) for b in (1000.0, 1500.0, 2000.0) for s in ("ordered", "crossbar")}
    assert rows == read_results(tmp_path / "r.sqlite")
    # the speedup is measured against the dense run of the same design
    for r in rows:
        if r["pattern"] == "2:4":
            dense = next(d for d in rows if d["pattern"] == "dense" and d["layer"] == r["layer"]
                         and d["params"] == r["params"])
            assert r["speedup"] == pytest.approx(dense["seconds"] / r["seconds"])
    slow = [r["seconds"] for r in rows if r["pattern"] == "dense" and r["layer"] == "ffn.up"]
    assert max(slow) > min(slow)  # DRAM bandwidth reached the evaluator
    pd = pytest.importorskip("pandas")
    df = res.to_pandas()
    assert str(df["dram.bandwidth_gbps"].dtype) == "float64" and str(df["tensor_core.index_scheme"].dtype) == "string"
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(tmp_path / "r.parquet")
    assert str(table.schema.field("dram.bandwidth_gbps").type) == "double"
    assert read_results(tmp_path / "r.parquet") == rows
    assert isinstance(pd.read_parquet(tmp_path / "r.parquet"), pd.DataFrame)


def test_grid_sweep_resumes_per_design(tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("SPARSESIM_TEST_LOG", str(log))
    out = tmp_path / "r.csv"

    def sweep(params):
        log.write_text("")
        res = run_sweep(grid_plan(params), out, fakes.counting_point, jobs=1)
        return res, len(log.read_text().splitlines())

    res, calls = sweep(["dram.bandwidth_gbps=1000,2000"])
    assert calls == res.computed == res.total
    assert sweep(["dram.bandwidth_gbps=1000,2000"])[1] == 0  # nothing recomputed
    res, calls = sweep(["dram.bandwidth_gbps=1000,2000,3000"])  # one more value: only its points
    assert res.computed == calls == res.total // 3 and res.reused == 2 * res.total // 3
    rows = read_results(out)
    assert len(rows) == res.total
    # a plain named sweep into the same table keeps the grid's rows and adds its own
    res = run_sweep(plan_points(["a100"], ["bert-base"], "dense,2:4", "0.5"), out, fakes.roofline_point, jobs=1)
    assert len(read_results(out)) == len(rows) + res.total and "dram.bandwidth_gbps" in read_results(out)[0]


def test_derived_arch_objects_and_process_pool(tmp_path):
    archs = [derive("a100", {"dram.bandwidth_gbps": bw}) for bw in (1000.0, 3000.0)]
    pts = plan_points(archs, ["bert-base"], "dense,2:4", "0.5")
    assert {p.arch for p in pts} == {"a100+dram.bandwidth_gbps=1000.0", "a100+dram.bandwidth_gbps=3000.0"}
    assert {json.loads(p.params)["dram.bandwidth_gbps"] for p in pts} == {1000.0, 3000.0}
    serial = run_sweep(pts, tmp_path / "s.csv", fakes.design_point, jobs=1)
    pooled = run_sweep(pts, tmp_path / "p.csv", fakes.design_point, jobs=2, chunk_size=2)
    assert (tmp_path / "s.csv").read_bytes() == (tmp_path / "p.csv").read_bytes()
    assert serial.rows[0]["dram.bandwidth_gbps"] == 1000.0
    # --set style overrides on an object, and one arch string is one arch
    pts = plan_points(load_arch("a100-4of8"), ["bert-base"], "dense", "0.5",
                      params={"tensor_core.index_scheme": ["ordered", "crossbar"]})
    assert {p.arch for p in pts} == {"a100-4of8"} and len({p.params for p in pts}) == 2
    assert {p.arch for p in plan_points("a100", ["bert-base"], "dense", "0.5")} == {"a100"}


def test_cli_set_writes_columns_and_a_report(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["sweep", "--arch", "a100", "--arch", "a100-4of8", "--workload", "bert-base", "--patterns",
            "2:4,4:8", "--set", "tensor_core.index_scheme=ordered,crossbar", "--set",
            "dram.bandwidth_gbps=1000:3000:1000", "--out", "r.csv", "--jobs", "1",
            "--evaluator", "test_sweep_fakes:design_point", "--report", "rep", "-q"]
    assert fakes.cli(args) == 0
    rows = read_results(tmp_path / "r.csv")
    assert len({(r["arch"], r["params"]) for r in rows}) == 2 * 2 * 3
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "12 designs" in md and "Designs of the parameter sweep" in md and "Pareto front" in md
    assert "- varied: dram.bandwidth_gbps = 1000, 2000, 3000; tensor_core.index_scheme = ordered, crossbar" in md
    for kind in ("pareto", "params"):
        assert (tmp_path / "rep" / f"{kind}_bert-base.png").is_file()
    assert not (tmp_path / "rep" / "speedup_bert-base.png").exists()  # 12 panels: left out


def test_real_engine_on_a_derived_design():
    """--set values reach the timing engine: a narrower metadata port binds 4:8 int8."""
    from sparsesim.dse import simulate_point

    pts = plan_points(["a100-4of8"], ["bert-base"], "4:8", "0.5", dtype="int8",
                      params=["tensor_core.decoder_bits_per_cycle=24,384"])
    ffn = {p.param_values["tensor_core.decoder_bits_per_cycle"]: p for p in pts
           if p.layer == "ffn.up" and p.pattern == "4:8"}
    narrow, wide = simulate_point(ffn[24]), simulate_point(ffn[384])
    assert narrow["seconds"] > wide["seconds"]
