"""Sweep driver: planning, crash safety, resume, errors, process pool and Dask.

The point model is a small roofline stand-in (tests/test_sweep_fakes.py) so these
tests are fast and independent of the timing engine; one test runs the real engine
when it is available.
"""

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import test_sweep_fakes as fakes
from sparsesim.dse import (
    COLUMNS,
    parse_densities,
    parse_pattern_list,
    plan_points,
    read_results,
    run_sweep,
)
from sparsesim.dse.executors import open_executor
from sparsesim.errors import InputError, PatternError

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def small_plan(**kw):
    args = dict(archs=["a100", "h100"], workloads=["bert-base"],
                patterns="dense,2:4,4:8,unstructured:csr,unstructured:bitmask",
                densities="0.1:1.0:0.3")
    args.update(kw)
    return plan_points(**args)


def reference(tmp_path, points, name="ref.csv"):
    out = tmp_path / name
    run_sweep(points, out, fakes.roofline_point, jobs=1)
    return out.read_bytes()


# ---------------------------------------------------------------- parsing / planning
def test_parse_densities():
    g = parse_densities("0.05:1.0:0.05")
    assert len(g) == 20 and g[0] == 0.05 and g[-1] == 1.0
    assert 0.15 in g and 0.3 in g and 0.7 in g  # no 0.15000000000000002 drift
    assert parse_densities("0.5, 0.1,0.5") == (0.1, 0.5)
    for bad in ("0:1:0.1", "0.1:1.0:0", "a:b:c", "0.5,2", "1:0.5:0.1", ""):
        with pytest.raises(InputError):
            parse_densities(bad)


def test_parse_pattern_list():
    specs = parse_pattern_list("dense,2:4,4:8,1:2,unstructured:csr,unstructured:csb,unstructured:bitmask")
    assert [s.label for s in specs] == ["dense", "2:4", "4:8", "1:2", "unstructured:csr",
                                        "unstructured:csb", "unstructured:bitmask"]
    assert [s.fixed_density for s in specs[:4]] == [1.0, 0.5, 0.5, 0.5]
    assert parse_pattern_list("unstructured")[0].format == "csr"
    with pytest.raises(PatternError, match="coo"):
        parse_pattern_list("unstructured:coo")
    with pytest.raises(PatternError):
        parse_pattern_list("2:3")
    with pytest.raises(PatternError):
        parse_pattern_list(" , ")


def test_plan_points_counts_and_dense_baseline():
    pts = plan_points(["a100"], ["bert-base"], "2:4,unstructured:csb", "0.05:1.0:0.05")
    # dense is added for the speedup baseline; N:M at its own density only
    per_layer = 1 + 1 + 20
    assert len(pts) == 4 * per_layer
    assert {p.pattern for p in pts} == {"dense", "2:4", "unstructured"}
    assert {p.density for p in pts if p.pattern == "2:4"} == {0.5}
    with pytest.raises(InputError, match="dtype"):
        plan_points(["a100"], ["bert-base"], "dense", "0.5", dtype="fp64")
    with pytest.raises(InputError):
        plan_points([], ["bert-base"])


# ---------------------------------------------------------------- results table
def test_sweep_table_contents(tmp_path):
    pts = small_plan()
    progress = []
    res = run_sweep(pts, tmp_path / "r.csv", fakes.roofline_point, jobs=1,
                    progress=lambda d, t: progress.append((d, t)))
    assert res.total == len(pts) == res.computed and res.errors == 0
    assert progress[0] == (0, len(pts)) and progress[-1] == (len(pts), len(pts))
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    rows = read_results(tmp_path / "r.csv")
    assert len(rows) == len(pts)
    with open(tmp_path / "r.csv", newline="") as f:
        assert tuple(next(csv.reader(f))) == COLUMNS
    by = {(r["arch"], r["layer"], r["pattern"], r["format"], r["density"]): r for r in rows}
    for r in rows:
        dense = by[(r["arch"], r["layer"], "dense", "dense", 1.0)]
        assert r["speedup"] == pytest.approx(dense["seconds"] / r["seconds"])
        assert r["dram_total"] == r["dram_a_values"] + r["dram_a_metadata"] + r["dram_b"] + r["dram_c"]
    assert by[("a100", "ffn.up", "dense", "dense", 1.0)]["speedup"] == 1.0
    # on the stand-in model 2:4 halves A and its metadata is small: it must win;
    # CSR at density 1 carries values plus 4-byte indices: it must lose
    assert by[("a100", "attn.qkv", "2:4", "index", 0.5)]["speedup"] > 1.0
    assert by[("a100", "attn.qkv", "unstructured", "csr", 1.0)]["speedup"] < 1.0


def test_parquet_copy_matches_csv(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    pts = small_plan(archs=["a100"])
    res = run_sweep(pts, tmp_path / "r.csv", fakes.roofline_point, jobs=1)
    assert tmp_path / "r.parquet" in res.files
    table = pq.read_table(tmp_path / "r.parquet").to_pylist()
    rows = read_results(tmp_path / "r.csv")
    assert len(table) == len(rows)
    for a, b in zip(table, rows):
        assert a["seconds"] == b["seconds"] and a["layer"] == b["layer"] and a["m"] == b["m"]
        assert (a["error"] or "") == b["error"]


def test_identical_shapes_are_simulated_once(tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("SPARSESIM_TEST_LOG", str(log))
    pts = plan_points(["a100"], ["resnet-50"], "dense", "1.0")
    res = run_sweep(pts, tmp_path / "r.csv", fakes.counting_point, jobs=1)
    shapes = {(p.m, p.n, p.k) for p in pts}
    assert len(shapes) < len(pts)  # layer1.x.conv3 and layer1.0.downsample share a shape
    assert len(log.read_text().splitlines()) == len(shapes) == res.simulations
    assert len(read_results(tmp_path / "r.csv")) == len(pts)


# ---------------------------------------------------------------- never lose work
def test_rerun_resumes_and_computes_only_missing(tmp_path, monkeypatch):
    pts = small_plan()
    ref = reference(tmp_path, pts)
    out = tmp_path / "r.csv"
    log = tmp_path / "calls.log"
    monkeypatch.setenv("SPARSESIM_TEST_LOG", str(log))
    run_sweep(pts, out, fakes.counting_point, jobs=1)
    first = len(log.read_text().splitlines())
    run_sweep(pts, out, fakes.counting_point, jobs=1)
    assert len(log.read_text().splitlines()) == first  # nothing recomputed
    assert out.read_bytes() == ref
    # drop 5 rows from the store, as a crash before they were committed would leave it
    with sqlite3.connect(tmp_path / "r.sqlite") as db:
        db.execute("DELETE FROM results WHERE rowid IN (SELECT rowid FROM results ORDER BY rowid DESC LIMIT 5)")
    db.close()
    out.write_text("a stale table is not read while the store exists\n")
    log.write_text("")
    res = run_sweep(pts, out, fakes.counting_point, jobs=1)
    assert res.computed == 5 and res.reused == len(pts) - 5
    assert len(log.read_text().splitlines()) == 5
    assert out.read_bytes() == ref
    assert not list(tmp_path.glob(".*.tmp"))


def _stored(path):
    """Rows committed to a sweep's SQLite store, read by another connection (as after a crash)."""
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:  # created, table not yet
        return 0
    finally:
        db.close()


def test_each_row_is_on_disk_before_the_next_point_starts(tmp_path):
    out = tmp_path / "r.csv"
    seen = []

    def watching_point(p):
        # when point i starts, the rows of points 0..i-1 are committed to the store
        seen.append((len(seen), _stored(tmp_path / "r.sqlite")))
        return fakes.roofline_point(p)

    pts = small_plan(archs=["a100"], patterns="dense,2:4", densities="0.5")
    run_sweep(pts, out, watching_point, jobs=1)
    assert seen == [(i, i) for i in range(len(pts))]


def test_store_is_durable_and_typed(tmp_path):
    """WAL journal: a committed row survives a killed process (synchronous=NORMAL: the
    operating system holds it when append returns; SQLite syncs the journal at checkpoints)."""
    pts = small_plan(archs=["a100"], patterns="dense,2:4", densities="0.5")
    res = run_sweep(pts, tmp_path / "r.csv", fakes.roofline_point, jobs=1)
    db = sqlite3.connect(tmp_path / "r.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    from sparsesim.dse.store import ResultStore

    with ResultStore(tmp_path / "x.sqlite") as store:
        store.open()
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    types = dict(db.execute("SELECT typeof(seconds), typeof(m) FROM results LIMIT 1").fetchall())
    db.close()
    assert types == {"real": "integer"}
    r = res.rows[0]
    assert isinstance(r["seconds"], float) and isinstance(r["m"], int) and r["prunable"] is True
    assert r["seconds"] * r["repeat"] > 0


def test_progress_bar_draws_only_on_request(capsys):
    from sparsesim.progress import Progress

    bar = Progress("sweep", enabled=True, unit="pt")
    bar(0, 4)
    bar(4, 4)
    err = capsys.readouterr().err
    assert "sweep: 100%" in err and "4/4" in err and err.endswith("\n")  # tqdm's line, not a terminal
    quiet = Progress("sweep", enabled=False)
    quiet(2, 4)
    assert capsys.readouterr().err == ""


def test_a_failing_point_is_recorded_and_the_sweep_goes_on(tmp_path):
    pts = small_plan(archs=["a100"])
    out = tmp_path / "r.csv"
    res = run_sweep(pts, out, fakes.flaky_point, jobs=1)
    rows = read_results(out)
    bad = [r for r in rows if r["error"]]
    assert res.errors == len(bad) > 0
    assert all("ValueError: cannot model" in r["error"] for r in bad)
    assert all(r["seconds"] is None and r["speedup"] is None for r in bad)
    assert all(r["layer"] == "ffn.down" or (r["format"] == "bitmask" and r["density"] == 0.5)
               or r["layer"] == "ffn.down" for r in bad)
    good = [r for r in rows if not r["error"]]
    assert len(good) + len(bad) == len(pts) and all(r["seconds"] > 0 for r in good)
    # errors count as done on a plain rerun, and are recomputed with retry_errors
    assert run_sweep(pts, out, fakes.flaky_point, jobs=1).computed == 0
    res = run_sweep(pts, out, fakes.roofline_point, jobs=1, retry_errors=True)
    assert res.computed == len(bad) and res.errors == 0
    assert out.read_bytes() == reference(tmp_path, pts)


def test_bad_evaluator_result_becomes_an_error_row(tmp_path):
    pts = small_plan(archs=["a100"], workloads=["bert-base"], patterns="dense", densities="1")
    res = run_sweep(pts, tmp_path / "r.csv", lambda p: {"seconds": 1.0}, jobs=1)
    assert res.errors == len(pts)
    assert all("bad evaluator result" in r["error"] for r in read_results(tmp_path / "r.csv"))


def test_foreign_file_is_not_overwritten(tmp_path):
    out = tmp_path / "r.csv"
    out.write_text("name,value\nx,1\n")
    with pytest.raises(InputError, match="not a sparsesim results table"):
        run_sweep(small_plan(), out, fakes.roofline_point, jobs=1)
    assert out.read_text() == "name,value\nx,1\n"


def _complete_rows(path):
    """Rows in the store of results table ``path`` (a half-written one is rolled back by SQLite)."""
    return _stored(path.with_suffix(".sqlite"))


def test_sigkill_mid_sweep_loses_only_points_in_flight(tmp_path):
    out = tmp_path / "r.csv"
    log = tmp_path / "calls.log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), str(ROOT)]),
               SPARSESIM_TEST_SLEEP="0.01", SPARSESIM_TEST_LOG=str(log))
    args = ["sweep", "--arch", "a100", "--arch", "h100", "--workload", "bert-base",
            "--patterns", "dense,2:4,unstructured:csr", "--densities", "0.05:1.0:0.05",
            "--out", str(out), "--jobs", "1", "--evaluator", "test_sweep_fakes:slow_point"]
    cmd = [sys.executable, "-c", "import sys, test_sweep_fakes as f; sys.exit(f.cli(sys.argv[1:]))"]
    proc = subprocess.Popen(cmd + args, env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    store = out.with_suffix(".sqlite")
    while time.time() < deadline:
        if store.exists() and _stored(store) > 30:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()  # the table is written only when the sweep ends
    stored = _complete_rows(out)
    calls = len(log.read_text().splitlines())
    total = 2 * 4 * (1 + 1 + 20)
    assert 30 <= stored < total
    # at most the point in flight (jobs=1) is lost: every call but one was stored
    assert calls - stored <= 1
    log.write_text("")
    rc = subprocess.run(cmd + args, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert rc.returncode == 0, rc.stderr
    assert f"{total} points" in rc.stdout
    assert len(log.read_text().splitlines()) == total - stored
    pts = plan_points(["a100", "h100"], ["bert-base"], "dense,2:4,unstructured:csr", "0.05:1.0:0.05")
    assert out.read_bytes() == reference(tmp_path, pts)


# ---------------------------------------------------------------- parallel / distributed
def test_process_pool_matches_serial_bit_for_bit(tmp_path):
    pts = small_plan()
    out = tmp_path / "pool.csv"
    res = run_sweep(pts, out, fakes.roofline_point, jobs=2, chunk_size=3)
    assert res.computed == len(pts)
    assert out.read_bytes() == reference(tmp_path, pts)


def test_dask_local_cluster_matches_local_run_bit_for_bit(tmp_path):
    distributed = pytest.importorskip("distributed")
    pts = small_plan()
    out = tmp_path / "dask.csv"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        res = run_sweep(pts, out, fakes.roofline_point, scheduler=cluster.scheduler_address)
        assert res.computed == len(pts)
        # resume through the same path: nothing left to do
        assert run_sweep(pts, out, fakes.roofline_point,
                         scheduler=cluster.scheduler_address).computed == 0
    assert out.read_bytes() == reference(tmp_path, pts)


def test_a_dying_worker_stops_the_sweep_and_keeps_finished_rows(tmp_path):
    from sparsesim.dse.sweep import SweepAborted

    pts = small_plan(archs=["a100"])
    out = tmp_path / "r.csv"
    with pytest.raises(SweepAborted, match="rerun the same command"):
        run_sweep(pts, out, fakes.dying_point, jobs=2, chunk_size=1)
    stored = _complete_rows(out)
    assert stored < len(pts)
    assert all(r["layer"] != "ffn.down" for r in read_results(out.with_suffix(".sqlite")))
    res = run_sweep(pts, out, fakes.roofline_point, jobs=1)
    assert res.computed == len(pts) - stored
    assert out.read_bytes() == reference(tmp_path, pts)


def test_executor_errors():
    with pytest.raises(InputError, match="--jobs"):
        with open_executor(jobs=0):
            pass
    with pytest.raises(InputError, match="Dask scheduler"):
        with open_executor(scheduler="tcp://127.0.0.1:9", connect_timeout="1s"):
            pass


# ---------------------------------------------------------------- CLI
def test_cli_sweep_and_report(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["sweep", "--arch", "a100", "--workload", "bert-base", "--patterns", "2:4,unstructured:csr",
            "--densities", "0.25:1.0:0.25", "--out", "r.csv", "--jobs", "1",
            "--evaluator", "test_sweep_fakes:roofline_point"]
    assert fakes.cli(args) == 0
    out = capsys.readouterr()
    assert "24 points: 24 computed" in out.out
    assert "sweep: 100%" in out.err  # the progress bar's last line, also when not on a terminal
    assert fakes.cli(args + ["-q"]) == 0
    out = capsys.readouterr()
    assert out.err == "" and out.out == ""  # -q: no bar, no summary
    assert fakes.cli(args) == 0
    assert "24 points: 0 computed" in capsys.readouterr().out
    rows = read_results(tmp_path / "r.csv")
    assert rows == read_results(tmp_path / "r.sqlite") == read_results(tmp_path / "r.parquet")
    assert fakes.cli(["sweep", "--arch", "a100", "--workload", "bert-base", "--out", "r.txt"]) == 2
    assert ".csv" in capsys.readouterr().err
    assert fakes.cli(["sweep", "--arch", "a100", "--out", "r.csv"]) == 2
    assert "--workload" in capsys.readouterr().err
    assert fakes.cli(args[:-2] + ["--evaluator", "nope:fn"]) == 2
    assert fakes.cli(["report", "r.csv", "--out", "rep"]) == 0
    assert (tmp_path / "rep" / "report.md").is_file()
    assert fakes.cli(["report", "missing.csv", "--out", "rep"]) == 2


def test_cli_default_study(tmp_path, monkeypatch, capsys):
    import sparsesim.report

    monkeypatch.chdir(tmp_path)
    reports = []
    # drawing is tested in test_report.py; here only where the report goes matters
    monkeypatch.setattr(sparsesim.report, "write_report",
                        lambda rows, out, **kw: reports.append((len(rows), str(out))) or [Path(out)])
    assert fakes.cli(["sweep", "--default", "--densities", "0.5,1.0", "--jobs", "1",
                      "--evaluator", "test_sweep_fakes:roofline_point"]) == 0
    rows = read_results(tmp_path / "reports/default/results.csv")
    assert {r["arch"] for r in rows} == {"a100", "a100-4of8", "h100"}
    assert {r["workload"] for r in rows} == {"bert-base", "resnet-50"}
    assert {f"{r['pattern']}/{r['format']}" for r in rows} == {
        "dense/dense", "2:4/index", "4:8/index", "1:2/index", "unstructured/csr",
        "unstructured/csb", "unstructured/bitmask"}
    assert {r["batch"] for r in rows} == {8}
    assert reports == [(len(rows), "reports/default")]


def test_real_engine_rows_carry_energy_power_and_area(tmp_path):
    from sparsesim.dse.store import ENERGY_UNITS

    pts = plan_points(["a100", "a100-4of8-crossbar"], ["bert-base"], "dense,2:4", "0.5")
    pts += plan_points(["xeon-8280"], ["bert-base"], "dense", "0.5", dtype="int8")
    rows = run_sweep([p for p in pts if p.layer == "ffn.up"], None, jobs=1).rows
    gpu = [r for r in rows if r["arch"] != "xeon-8280" and not r["error"]]
    assert len(gpu) == 4
    for r in gpu:
        parts = [r[f"energy_{u}_j"] for u in ENERGY_UNITS]
        assert all(v is not None and v >= 0 for v in parts)
        assert sum(parts) == pytest.approx(r["energy_j"], rel=1e-12)
        assert r["avg_power_w"] == pytest.approx(r["energy_j"] / r["seconds"])
        assert 0 < r["sparse_area_fraction"] < 1 and r["sparse_area_mm2"] > 0
    by = {(r["arch"], r["pattern"]): r for r in gpu}
    # 2:4 on 2:4 hardware drives the muxes and decoders, dense does not; the 8:1 crossbar is larger
    assert by[("a100", "2:4")]["energy_mux_j"] > 0 == by[("a100", "dense")]["energy_mux_j"]
    assert by[("a100-4of8-crossbar", "dense")]["sparse_area_mm2"] > by[("a100", "dense")]["sparse_area_mm2"]
    # an arch without a [technology] table: no energy, and no error either
    cpu = [r for r in rows if r["arch"] == "xeon-8280"]
    assert cpu and all(not r["error"] and r["seconds"] > 0 for r in cpu)
    assert all(r["energy_j"] is None and r["sparse_area_mm2"] is None for r in cpu)


def test_model_fingerprint_covers_the_cost_model_and_its_tables(tmp_path, monkeypatch):
    from sparsesim.dse import fingerprint

    files = {f.as_posix().split("sparsesim/", 1)[1] for f in fingerprint.model_files()}
    assert {"cost/energy.py", "cost/area.py", "cost/tables/n7.toml", "cost/tables/memory.toml",
            "timing/engine.py", "arch/datapath.py", "dse/sweep.py"} <= files
    assert not any(f.startswith(("report/", "cli/")) for f in files)


def test_real_engine_point_if_available(tmp_path):
    import sparsesim

    try:
        sparsesim.simulate  # noqa: B018
    except (AttributeError, ImportError):
        pytest.skip("the timing engine is not available")
    pts = plan_points(["a100"], ["bert-base"], "dense,2:4,unstructured:csr", "0.5")
    res = run_sweep(pts, tmp_path / "r.csv", jobs=1)
    rows = read_results(tmp_path / "r.csv")
    assert res.errors == 0, [r["error"] for r in rows if r["error"]][:3]
    two4 = [r for r in rows if r["pattern"] == "2:4"]
    assert all(r["seconds"] > 0 and r["dram_total"] > 0 for r in rows)
    # 2:4 moves fewer A bytes than dense and is not slower
    dense = {r["layer"]: r for r in rows if r["pattern"] == "dense"}
    for r in two4:
        assert r["dram_a_values"] < dense[r["layer"]]["dram_a_values"]
        assert r["speedup"] >= 1.0


# ---------------------------------------------------------------- stale rows
def test_edited_arch_config_recomputes_its_rows_and_replaces_them(tmp_path, monkeypatch):
    cfg = tmp_path / "mygpu.toml"
    head = 'base = "a100"\nname = "mygpu"\ndescription = "an A100 with other DRAM"\n'
    cfg.write_text(head + "[dram]\nbandwidth_gbps = 2039.0\n")
    log = tmp_path / "calls.log"
    monkeypatch.setenv("SPARSESIM_TEST_LOG", str(log))
    out = tmp_path / "r.csv"

    def sweep():
        log.write_text("")
        pts = plan_points([str(cfg), "a100"], ["bert-base"], "dense,2:4", "0.5")
        res = run_sweep(pts, out, fakes.counting_point, jobs=1)
        return pts, res, len(log.read_text().splitlines())

    pts, res, calls = sweep()
    mine = [p for p in pts if p.arch == str(cfg)]
    assert calls == res.simulations > 0 and res.superseded == 0
    assert sweep()[2] == 0  # unchanged: everything reused
    cfg.write_text("# a comment and another key order change nothing\n" + head
                   + "[dram]\nbandwidth_gbps = 2039.0\n")
    assert sweep()[2] == 0
    cfg.write_text(head + "[dram]\nbandwidth_gbps = 1000.0\n")
    pts2, res, calls = sweep()
    assert res.superseded == len(mine) and res.computed == len(mine) and res.reused == len(pts2) - len(mine)
    rows = read_results(out)
    assert len(rows) == len(pts2)  # the old rows left the table
    new_model = {p.model for p in pts2 if p.arch == str(cfg)}
    assert len(new_model) == 1 and new_model != {p.model for p in mine}
    assert {r["model"] for r in rows if r["arch"] == str(cfg)} == new_model


def test_changed_layer_shape_is_recomputed(tmp_path):
    import dataclasses

    pts = small_plan()
    out = tmp_path / "r.csv"
    run_sweep(pts, out, fakes.roofline_point, jobs=1)
    grown = [dataclasses.replace(p, k=p.k * 2) if p.layer == pts[0].layer else p for p in pts]
    res = run_sweep(grown, out, fakes.roofline_point, jobs=1)
    changed = sum(p.layer == pts[0].layer for p in pts)
    assert res.superseded == res.computed == changed
    assert sorted(r["k"] for r in read_results(out) if r["layer"] == pts[0].layer) == sorted(
        p.k for p in grown if p.layer == pts[0].layer)


def test_committed_default_report_comes_from_the_current_model():
    from sparsesim.dse.fingerprint import model_fingerprint

    rows = read_results(ROOT / "reports/default/results.csv")
    by_arch = {}
    for r in rows:
        by_arch.setdefault(r["arch"], set()).add(r["model"])
    stale = {a: m for a, m in by_arch.items() if m != {model_fingerprint(a)}}
    assert not stale, (
        f"reports/default was produced by another model for {sorted(stale)}: the timing code or an "
        "arch config changed since; regenerate it with `sparsesim sweep --default` and commit it")


def test_table_of_an_earlier_version_is_kept_aside(tmp_path, caplog):
    from sparsesim.dse.store import COLUMNS as cols

    old = tmp_path / "old.csv"
    text = ",".join(c for c in cols if c != "model") + "\n"
    old.write_text(text)
    with caplog.at_level("WARNING"):
        res = run_sweep(small_plan(), old, fakes.roofline_point, jobs=1)
    kept = [p for p in tmp_path.glob("old.*.csv")]
    assert len(kept) == 1 and kept[0].read_text() == text  # nothing lost
    assert res.computed == res.total and read_results(old)
    assert len(caplog.records) == 1 and str(kept[0]) in caplog.records[0].getMessage()


def test_custom_evaluator_still_gets_archs_that_load(tmp_path):
    """Found by tools/fuzz.py: with an evaluator of its own, a sweep did not load its archs
    up front, so an unknown name became one error row per point."""
    import sparsesim
    from sparsesim.errors import ConfigError

    gemms = tmp_path / "g.csv"
    gemms.write_text("m,n,k\n64,64,64\n")
    with pytest.raises(ConfigError, match="unknown architecture 'nope'"):
        sparsesim.sweep("nope", gemms, "dense,2:4", evaluator=fakes.roofline_point, as_frame=False)
    rows = sparsesim.sweep("a100", gemms, "dense,2:4", evaluator=fakes.roofline_point, as_frame=False)
    assert len(rows) == 2 and not any(r["error"] for r in rows)
