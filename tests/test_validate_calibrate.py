"""Calibration: k-fold cross-validation on a simulated parameter grid recovers known parameters,
keeps GPUs apart, writes a loadable override that validate carries to every GPU."""

import json
from pathlib import Path

import pytest

import sparsesim
from sparsesim.arch import derive, load_arch
from sparsesim.errors import InputError
from sparsesim.validate import calibrate as cal
from sparsesim.validate.engine import EnginePredictor, parse_arch_map
from sparsesim.validate.measured import MeasuredRow, format_measured_csv

ROOT = Path(__file__).resolve().parents[1]


class _Res(dict):
    def to_dict(self):
        return dict(self)


def fake_simulate(arch, m, n, k, dtype, pattern, density=None, mode="statistical", **kw):
    """A roofline over the real arch fields (stands in for the engine): tensor cores or DRAM."""
    sparse = pattern != "dense"
    macs = arch.tensor_core.dense_macs_per_cycle[dtype] * arch.sm.tensor_cores_per_sm * arch.sm.count
    eff = arch.efficiency.tensor_sparse if sparse else arch.efficiency.tensor_dense
    rate = macs * eff * (arch.tensor_core.sparse_speedup if sparse else 1.0) * arch.clock.sustained_mhz * 1e6
    elt = 1 if dtype == "int8" else 2
    a_bytes = m * k * elt * (0.5625 if sparse else 1.0)
    bw = arch.dram.bandwidth_gbps * 1e9 * arch.efficiency.dram
    kernel = max(m * n * k / rate, (a_bytes + (k * n + m * n) * elt) / bw)
    launch = arch.launch.overhead_us * 1e-6
    return _Res(seconds=kernel + launch, launch_seconds=launch, bound="compute", kernel={"name": "roofline"})


SHAPES = [(4096, 4096, 4096), (8192, 8192, 8192), (16384, 16384, 16384), (3072, 4096, 3072),
          (3072, 16384, 3072), (8192, 64, 8192), (16384, 64, 16384), (4096, 128, 16384), (2048, 8192, 8192),
          (12288, 128, 4096), (1024, 1024, 1024), (2048, 512, 1024)]


def synth_rows(truth, gpu="A100", dtype="fp16"):
    pred = EnginePredictor({gpu: truth}, simulate=fake_simulate)
    rows = []
    for i, (m, n, k) in enumerate(SHAPES):
        fam = "square" if m == n == k else "model"
        notes = f"family={fam}; layer=l{i % 5}"
        r = MeasuredRow(gpu, dtype, m, n, k, "W", 1.0, 1.0, 1.0, "cuSPARSELt", "S", notes, "synth.csv", i + 2)
        p = pred(r)
        rows.append(MeasuredRow(gpu, dtype, m, n, k, "W", p.dense_us, p.sparse_us, p.dense_us / p.sparse_us,
                                "cuSPARSELt", "S", notes, "synth.csv", i + 2))
    return rows


TRUTH = {"efficiency.tensor_dense": 0.72, "efficiency.tensor_sparse": 0.61, "efficiency.dram": 0.8,
         "launch.overhead_us": 5.0}


def test_surrogate_fit_and_cross_validation_recover_known_parameters():
    a100 = load_arch("a100")
    rows = synth_rows(derive(a100, TRUTH))
    sur = cal.Surrogate(rows, a100, simulate=fake_simulate)
    assert not sur.power and sur.params == cal.PARAMS
    res = cal.fit(sur)
    for key, v in TRUTH.items():
        assert res.values[key] == pytest.approx(v, rel=0.03), key
    cv, per_fold = cal.cross_validate(sur, k=3)
    assert len(per_fold) == 3 and all(r is not None for r in cv)
    assert max(abs(r.err_speedup_pct) for r in cv) < 3.0


def test_power_axis_reclocks_real_simulations_to_the_board_limit():
    """The surrogate's power axis equals simulate() on the arch with that power parameter."""
    from sparsesim.timing import simulate

    a = load_arch("a100-pcie")
    rows = [MeasuredRow("A100-PCIe-80GB", dt, 8192, 8192, 8192, "W", 1.0, 1.0, 1.0, "", "", "", "p.csv", i + 2)
            for i, dt in enumerate(("fp16", "int8"))]
    sur = cal.Surrogate(rows, a)
    assert sur.power and sur.params[-1] == cal.POWER_PARAM
    q = 5  # efficiency 1.0 and DRAM 1.0 (first of the sorted reciprocals), array_energy_factor POWER_GRID[5]
    f = cal.POWER_GRID[q]
    for r, row in enumerate(rows):
        arch = derive(a, {"efficiency.tensor_dense": 1.0, "efficiency.dram": 1.0, cal.POWER_KEY: f})
        res = simulate(arch, row.m, row.n, row.k, row.dtype, "dense", warm_l2=True)
        assert sur.dense[r, 0, 0, q] == pytest.approx((res.seconds - res.launch_seconds) * 1e6, rel=1e-6)
        # a hungrier tensor-core lane never makes a kernel faster
        assert all(b >= a_ * (1 - 1e-9) for a_, b in zip(sur.dense[r, 0, 0], sur.dense[r, 0, 0, 1:]))
    assert sur.dense[0, 0, 0, -1] > sur.dense[0, 0, 0, 0]  # the 300 W limit binds at the top of the grid


def test_folds_keep_a_layer_together():
    rows = synth_rows(load_arch("a100"))
    folds = cal.folds_of(rows, 3)
    by_layer = {}
    for r, f in zip(rows, folds):
        by_layer.setdefault(cal.layer_of(r), set()).add(f)
    assert all(len(v) == 1 for v in by_layer.values()) and len(set(folds)) == 3
    with pytest.raises(InputError, match="--folds"):
        cal.folds_of(rows, 50)


def test_other_gpus_never_fit():
    rows = synth_rows(load_arch("a100")) + synth_rows(load_arch("h100"), gpu="H100")
    fit, other = cal.split_rows(rows, "A100")
    assert {r.gpu for r in fit} == {"A100"} and all(r.gpu == "A100" for r in other)
    with pytest.raises(InputError, match="only calibrated on its own measurements"):
        cal.split_rows(rows, "B200")


def test_override_file_loads_and_reads_back(tmp_path):
    rows = synth_rows(load_arch("a100"))
    header = cal.provenance_lines(["m.csv"], rows[:3], rows[3:], 0, {"cv": "x"})
    text = cal.render_override("a100", "a100-test", "test", {"efficiency.tensor_dense": 0.71, "launch.overhead_us": 3.5},
                               header)
    p = tmp_path / "a100-test.toml"
    cal.write_override(p, text, check=load_arch)
    arch = load_arch(p)
    assert arch.efficiency.tensor_dense == pytest.approx(0.71) and arch.launch.overhead_us == pytest.approx(3.5)
    assert cal.fitted_rows_of(p) == {("synth.csv", r.line) for r in rows[:3]}
    assert cal.fitted_values_of(p) == {"efficiency.tensor_dense": 0.71, "launch.overhead_us": 3.5}


def test_override_that_does_not_load_leaves_old_file(tmp_path):
    p = tmp_path / "y.toml"
    p.write_text("old\n")
    bad = cal.render_override("a100", "y", "y", {"efficiency.no_such_key": 1.0}, [])
    with pytest.raises(sparsesim.ConfigError, match="no_such_key"):
        cal.write_override(p, bad, check=load_arch)
    assert p.read_text() == "old\n" and not list(tmp_path.glob(".y.toml.*"))


def test_arch_map_parsing():
    assert parse_arch_map("A100=x.toml, H200=h200")["H200"] == "h200"
    with pytest.raises(InputError):
        parse_arch_map("A100")


def _write_synth_csv(path):
    path.write_text(format_measured_csv(synth_rows(derive(load_arch("a100"), TRUTH))))


def test_cli_calibrate_then_validate(tmp_path, monkeypatch, capsys):
    from sparsesim.cli import main

    monkeypatch.setattr(sparsesim, "simulate", fake_simulate, raising=False)
    csv_path = tmp_path / "m.csv"
    _write_synth_csv(csv_path)
    out = tmp_path / "cal" / "a100-cal.toml"
    monkeypatch.setattr("sparsesim.timing.simulate", fake_simulate)
    rc = main(["calibrate", "--measured", str(csv_path), "--arch", "a100", "--gpu", "A100", "--folds", "3",
               "--no-power", "--out", str(out), "-q"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "3-fold cross-validation" in text
    body = out.read_text()
    assert str(csv_path) in body and "fit rows (12" in body and 'base = "a100"' in body and "per fold" in body
    assert load_arch(out).efficiency.tensor_sparse == pytest.approx(0.61, rel=0.03)

    rep = tmp_path / "rep"
    rc = main(["validate", "--measured", str(csv_path), "--arch-map", "A100=a100", "--calibration", str(out),
               "--out", str(rep), "-q"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "speedup MAPE" in text and "speedup corr" in text
    for name in ("report.md", "errors.csv", "summary.json", "pred_vs_measured.png", "error_vs_size.png", "speedup_vs_size.png"):
        assert (rep / name).is_file() and (rep / name).stat().st_size > 0
    assert (rep / "pred_vs_measured.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Per GPU, dtype and shape family" in (rep / "report.md").read_text()

    rc = main(["validate", "--measured", str(csv_path), "--arch-map", "A100=a100", "--calibration", str(out),
               "--noise-reference", str(csv_path), "--json", "-q"])
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["all"]["speedup"]["mape"] < 2.0
    assert data["summary"]["fitted"]["rows"] == len(SHAPES) and "held-out" not in data["summary"]
    # every shape measured twice (the file given again as reference): identical, so zero difference
    assert data["noise_floor"]["a100"]["shapes"] == len(SHAPES) and data["noise_floor"]["a100"]["speedup_pct"] == 0.0


def test_cli_errors(tmp_path, capsys, monkeypatch):
    from sparsesim.cli import main

    monkeypatch.setattr(sparsesim, "simulate", fake_simulate, raising=False)
    bad = tmp_path / "bad.csv"
    bad.write_text("gpu,dtype,m,n,k,sparse_operand,dense_us,sparse_us,speedup,backend,source,notes\nA100,fp16,x,1,1,W,1,1,1,,,\n")
    assert main(["validate", "--measured", str(bad)]) == 2
    assert "line 2, column 'm'" in capsys.readouterr().err
    bad.write_text("gpu,dtype,m,n,k,sparse_operand,dense_us,sparse_us,speedup,backend,source,notes\nA100,fp17,8,1,1,W,1,1,1,,,\n")
    assert main(["validate", "--measured", str(bad)]) == 2
    assert "line 2, column 'dtype'" in capsys.readouterr().err
    # a dtype the mapped GPU's tensor cores do not take: the file and line
    bad.write_text("gpu,dtype,m,n,k,sparse_operand,dense_us,sparse_us,speedup,backend,source,notes\nA100,fp4,8,1,1,W,1,1,1,,,\n")
    assert main(["validate", "--measured", str(bad)]) == 2
    assert f"{bad}:2: a100 tensor cores do not take fp4" in capsys.readouterr().err
    good = tmp_path / "g.csv"
    _write_synth_csv(good)
    assert main(["calibrate", "--measured", str(good), "--arch", "h100", "--gpu", "H100"]) == 2
    assert "only calibrated on its own measurements" in capsys.readouterr().err
    assert main(["validate", "--measured", str(good), "--arch-map", "A100=nonexistent_arch"]) == 2
    assert "unknown architecture" in capsys.readouterr().err
    other = tmp_path / "o.csv"
    other.write_text(good.read_text().replace("A100,", "X9,", 1))
    assert main(["validate", "--measured", str(other), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"{other}:2" in err and "no architecture for GPU 'X9'" in err
    assert main(["validate", "--measured", str(good), "--calibration", str(tmp_path / "none.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_committed_validation_report_matches_the_current_model(monkeypatch, capsys):
    """README's error table and reports/validation/ come from the model as it is now."""
    import math

    from sparsesim.cli import main

    monkeypatch.chdir(ROOT)
    command = json.loads((ROOT / "reports/validation/summary.json").read_text())
    import shlex

    argv = shlex.split(command["meta"]["command"])[1:]
    argv = argv[:argv.index("--out")] + ["--json", "-q"]
    assert main(argv) == 0
    fresh = json.loads(capsys.readouterr().out)
    committed = command

    def differences(a, b, path=""):
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                yield from differences(a.get(key), b.get(key), f"{path}/{key}")
        elif isinstance(a, float) or isinstance(b, float):
            if a is None or b is None or not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
                yield f"{path}: now {a}, committed {b}"
        elif a != b:
            yield f"{path}: now {a}, committed {b}"

    diffs = list(differences(fresh["summary"], committed["summary"]))
    diffs += list(differences(fresh["noise_floor"], committed["noise_floor"], "/noise_floor"))
    assert not diffs, ("reports/validation/ is out of date with the timing model; regenerate it with "
                       "`PATH=.venv/bin:$PATH bash validation/regenerate.sh` and update README's table: "
                       + "; ".join(diffs[:5]))


# ---------------------------------------------------------------- bad input, found by tools/fuzz.py
def _measured(tmp_path, edit=None, rows=6):
    lines = (ROOT / "validation" / "gpu_2to4_a100_pcie.csv").read_text().splitlines()[: rows + 1]
    if edit:
        lines[2] = edit(lines[2])
    p = tmp_path / "m.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


@pytest.mark.parametrize("cell,value", [(4, "1_0"), (2, "٣"), (6, "1_7.0"), (3, str(2**41))])
def test_measured_numbers_are_ascii_digits_within_the_limits(tmp_path, capsys, cell, value):
    from sparsesim.cli import main

    def edit(line):
        cells = line.split(",")
        cells[cell] = value
        return ",".join(cells)

    p = _measured(tmp_path, edit)
    assert main(["validate", "--measured", str(p), "--arch-map", "A100-PCIe-80GB=a100-pcie", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{p}: line 3" in err[0]


@pytest.mark.parametrize("extra,message", [
    (["--min-mnk", "-5"], "--min-mnk must be a positive integer"),
    (["--gpu", " "], "--gpu: expected a GPU name"),
    (["--out", "DIR"], "it is a directory"),
    (["--cv-out", "/proc/sparsesim-nowhere/cv.json"], "cv.json"),
])
def test_calibrate_refuses_bad_options_before_the_grid(tmp_path, capsys, extra, message):
    from sparsesim.cli import main

    p = _measured(tmp_path)
    extra = [str(tmp_path) if e == "DIR" else e for e in extra]
    argv = ["calibrate", "--measured", str(p), "--arch", "a100-pcie", "--min-mnk", "1", "--folds", "2"]
    if "--out" not in extra:
        argv += ["--out", str(tmp_path / "c.toml")]
    assert main(argv + extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]  # no "simulating ..." line: refused before any work
    assert not (tmp_path / "c.toml").exists()


@pytest.mark.parametrize("content", [None, b"gpu,dtype\n", b"[1, 2]", b'{"gpu": "A100"}', b"\xff{}"])
def test_validate_reads_the_cross_validation_file_first(tmp_path, capsys, content):
    from sparsesim.cli import main

    cv = tmp_path / "cv.json"
    if content is not None:
        cv.write_bytes(content)
    p = _measured(tmp_path)
    assert main(["validate", "--measured", str(p), "--arch-map", "A100-PCIe-80GB=a100-pcie", "-q",
                 "--cross-validation", str(cv)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cv.json" in err[0]
