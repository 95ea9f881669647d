"""Calibration: recovers known parameters from synthetic rows, keeps GPUs apart, writes a loadable override."""

from pathlib import Path

import pytest

import sparsesim
from sparsesim.arch import derive, load_arch
from sparsesim.errors import InputError
from sparsesim.validate import calibrate as cal
from sparsesim.validate.engine import EnginePredictor, parse_arch_map
from sparsesim.validate.measured import MeasuredRow, format_measured_csv
from sparsesim.validate.metrics import evaluate, summarize

ROOT = Path(__file__).resolve().parents[1]


class _Res(dict):
    def to_dict(self):
        return dict(self)


def fake_simulate(arch, m, n, k, dtype, pattern, density=None, mode="statistical"):
    """A compute roofline over the real arch fields (stands in for the engine)."""
    sparse = pattern != "dense"
    macs = arch.tensor_core.dense_macs_per_cycle[dtype] * arch.sm.tensor_cores_per_sm * arch.sm.count
    eff = arch.efficiency.tensor_sparse if sparse else arch.efficiency.tensor_dense
    rate = macs * eff * (arch.tensor_core.sparse_speedup if sparse else 1.0)
    cycles = m * n * k / rate
    seconds = cycles / (arch.clock.sustained_mhz * 1e6) + arch.launch.overhead_us * 1e-6
    return _Res(cycles=cycles, seconds=seconds, bound="compute", utilization=eff, dram_bytes=0)


SIZES = [(1024, 1024, 1024), (2048, 2048, 2048), (4096, 4096, 4096), (8192, 8192, 8192), (16384, 16384, 16384),
         (768, 49152, 3072), (3072, 12288, 768)]


def synth_rows(truth_arch, dtype="fp16", source="S1", gpu="A100", simulate=fake_simulate, sizes=SIZES):
    pred = EnginePredictor({gpu: truth_arch}, simulate=simulate)
    rows = []
    for i, (m, n, k) in enumerate(sizes):
        r = MeasuredRow(gpu, dtype, m, n, k, "W", 1.0, 1.0, 1.0, "cuSPARSELt", source, "", "synth.csv", i + 2)
        p = pred(r)
        rows.append(MeasuredRow(gpu, dtype, m, n, k, "W", p.dense_us, p.sparse_us, p.dense_us / p.sparse_us,
                                "cuSPARSELt", source, "", "synth.csv", i + 2))
    return rows


def factory_for(arch, gpu="A100", simulate=fake_simulate):
    def factory(values):
        return EnginePredictor({gpu: arch}, overrides={gpu: dict(values)}, simulate=simulate)

    return factory


def test_fit_recovers_known_efficiencies_and_predicts_held_out():
    a100 = load_arch("a100")
    truth = derive(a100, {"efficiency.tensor_dense": 0.72, "efficiency.tensor_sparse": 0.61})
    rows = synth_rows(truth) + synth_rows(truth, dtype="bf16", source="S2")
    fit_rows, held = cal.split_rows(rows, "A100", cal.parse_filter("dtype=fp16,source=S1"), min_mnk=2**30)
    assert len(fit_rows) == 7 and len(held) == 7 and all(r.dtype == "bf16" for r in held)
    res = cal.fit(fit_rows, factory_for(a100))
    assert res.values["efficiency.tensor_dense"] == pytest.approx(0.72, rel=1e-3)
    assert res.values["efficiency.tensor_sparse"] == pytest.approx(0.61, rel=1e-3)
    s = summarize(evaluate(held, factory_for(a100)(res.values)))
    assert s["all"]["speedup"]["mape"] < 0.1 and s["all"]["dense"]["mape"] < 0.1


def test_fit_recovers_the_power_parameter_through_the_real_clock_model():
    # a board whose power limit binds: the engine's power-capped clock slows the kernels, and the
    # one power parameter of the energy table is recovered from the times alone
    pcie = load_arch("a100-pcie")
    truth = derive(pcie, {"technology.array_energy_factor": 12.0})
    sizes = [(4096, 4096, 4096), (8192, 8192, 8192)]
    rows = synth_rows(truth, simulate=sparsesim.simulate, sizes=sizes)
    at_default = [EnginePredictor({"A100": pcie})(r) for r in rows]
    assert all(p.dense_us < r.dense_us * 0.97 for p, r in zip(at_default, rows))  # the cap slows the truth
    # below the factor at which the limit starts to bind the times do not move (a flat objective):
    # the fit starts where the limit binds
    res = cal.fit(rows, factory_for(pcie, simulate=sparsesim.simulate), cal.POWER_PARAMS,
                  x0={"technology.array_energy_factor": 10.0})
    assert res.values["technology.array_energy_factor"] == pytest.approx(12.0, rel=0.05)


def test_other_gpus_never_fit(tmp_path):
    rows = synth_rows(load_arch("a100"))
    with pytest.raises(InputError, match="only calibrated on its own measurements"):
        cal.split_rows(rows, "H100", {}, 0)
    with pytest.raises(InputError, match="need at least 2"):
        cal.split_rows(rows, "A100", cal.parse_filter("dtype=int8"), 0)
    with pytest.raises(InputError, match="COLUMN=VALUE"):
        cal.parse_filter("fp16")


def test_override_file_loads_with_the_real_loader(tmp_path):
    text = cal.render_override("a100", "a100-test", "test", {"efficiency.tensor_dense": 0.71, "launch.overhead_us": 3.5},
                               ["provenance line", ""])
    p = tmp_path / "a100-test.toml"
    cal.write_override(p, text)
    arch = load_arch(p)
    assert arch.efficiency.tensor_dense == pytest.approx(0.71)
    assert arch.launch.overhead_us == pytest.approx(3.5)
    assert arch.sm.count == load_arch("a100").sm.count
    assert text.startswith("# provenance line\n#\n")


def test_arch_map():
    assert parse_arch_map("A100=x.toml, H200=h200")["H200"] == "h200"
    with pytest.raises(InputError):
        parse_arch_map("A100")


def _write_synth_csv(path):
    a100 = load_arch("a100")
    truth = derive(a100, {"efficiency.tensor_dense": 0.7, "efficiency.tensor_sparse": 0.6})
    rows = synth_rows(truth) + synth_rows(truth, dtype="bf16", source="S2")
    path.write_text(format_measured_csv(rows))


def test_cli_calibrate_then_validate(tmp_path, monkeypatch, capsys):
    from sparsesim.cli import main

    monkeypatch.setattr(sparsesim, "simulate", fake_simulate, raising=False)
    csv_path = tmp_path / "m.csv"
    _write_synth_csv(csv_path)
    out = tmp_path / "cal" / "a100-cal.toml"
    rc = main(["calibrate", "--measured", str(csv_path), "--arch", "a100", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "held-out rows" in text
    body = out.read_text()
    assert str(csv_path) in body and "fit rows (7" in body and 'base = "a100"' in body
    assert load_arch(out).efficiency.tensor_sparse == pytest.approx(0.6, rel=1e-3)

    rep = tmp_path / "rep"
    rc = main(["validate", "--measured", str(csv_path), "--arch-map", f"A100={out}", "--out", str(rep)])
    text = capsys.readouterr().out
    assert rc == 0
    assert "speedup MAPE" in text
    for name in ("report.md", "errors.csv", "summary.json", "pred_vs_measured.png", "error_vs_size.png", "speedup_vs_size.png"):
        assert (rep / name).is_file() and (rep / name).stat().st_size > 0
    assert (rep / "pred_vs_measured.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    rc = main(["validate", "--measured", str(csv_path), "--arch-map", f"A100={out}", "--json"])
    import json

    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["all"]["speedup"]["mape"] < 0.5


def test_cli_errors(tmp_path, capsys, monkeypatch):
    from sparsesim.cli import main

    monkeypatch.setattr(sparsesim, "simulate", fake_simulate, raising=False)
    bad = tmp_path / "bad.csv"
    bad.write_text("gpu,dtype,m,n,k,sparse_operand,dense_us,sparse_us,speedup,backend,source,notes\nA100,fp16,x,1,1,W,1,1,1,,,\n")
    assert main(["validate", "--measured", str(bad)]) == 2
    assert "line 2, column 'm'" in capsys.readouterr().err
    good = tmp_path / "g.csv"
    _write_synth_csv(good)
    assert main(["calibrate", "--measured", str(good), "--arch", "h100"]) == 2
    assert "only calibrated on its own measurements" in capsys.readouterr().err
    assert main(["validate", "--measured", str(good), "--arch-map", "A100=nonexistent_arch"]) == 2
    assert "unknown architecture" in capsys.readouterr().err


def test_fitted_rows_are_read_back_and_held_out_groups(tmp_path):
    rows = synth_rows(load_arch("a100"))
    header = cal.provenance_lines(["m.csv"], rows[:3], rows[3:], "dtype=fp16", 0)
    text = cal.render_override("a100", "x", "x", {"efficiency.tensor_dense": 0.8}, header)
    p = tmp_path / "x.toml"
    cal.write_override(p, text, check=load_arch)
    fitted = cal.fitted_rows_of(p)
    assert fitted == {("synth.csv", r.line) for r in rows[:3]}
    res = evaluate(rows, lambda r: (r.dense_us * 1.1, r.sparse_us))
    s = summarize(res, fitted)
    assert s["fitted"]["rows"] == 3 and s["held-out"]["rows"] == len(rows) - 3


def test_override_that_does_not_load_leaves_old_file(tmp_path):
    p = tmp_path / "y.toml"
    p.write_text("old\n")
    bad = cal.render_override("a100", "y", "y", {"efficiency.no_such_key": 1.0}, [])
    with pytest.raises(sparsesim.ConfigError, match="no_such_key"):
        cal.write_override(p, bad, check=load_arch)
    assert p.read_text() == "old\n" and not list(tmp_path.glob(".y.toml.*"))


def test_cli_calibrate_json(tmp_path, monkeypatch, capsys):
    import json

    from sparsesim.cli import main

    monkeypatch.setattr(sparsesim, "simulate", fake_simulate, raising=False)
    csv_path = tmp_path / "m.csv"
    _write_synth_csv(csv_path)
    out = tmp_path / "o.toml"
    assert main(["calibrate", "--measured", str(csv_path), "--arch", "a100", "--json", "--out", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["fit_rows"] == 7 and data["held_out_rows"] == 7
    assert data["values"]["efficiency.tensor_dense"] == pytest.approx(0.7, rel=1e-3)
    assert data["held_out"]["all"]["speedup"]["mape"] < 0.1
    assert out.is_file()


def test_predictions_carry_the_power_capped_clocks_and_the_dtype_s_sparse_pattern():
    pred = EnginePredictor({"A100": derive("a100-pcie", {"technology.array_energy_factor": 12.0}), "RTX5080": "rtx5080"})
    big = MeasuredRow("A100", "fp16", 8192, 8192, 8192, "W", 1.0, 1.0, 1.0)
    p = pred(big)
    assert p.info["dense_clock_mhz"] < 1410 and p.info["sparse_clock_mhz"] < 1410
    assert p.info["dense_power_w"] == pytest.approx(300.0, rel=1e-3)
    assert pred.sparse_pattern(MeasuredRow("A100", "tf32", 64, 64, 64, "W", 1.0, 1.0, 1.0)) == "1:2"
    assert pred.sparse_pattern(MeasuredRow("RTX5080", "fp4", 64, 64, 64, "W", 1.0, 1.0, 1.0)) == "4:8"
    assert pred.sparse_pattern(big) == "2:4"


def test_committed_validation_report_matches_the_current_model(monkeypatch, capsys):
    """README's error table and reports/validation/ come from the model as it is now."""
    import json
    import math

    from sparsesim.cli import main

    monkeypatch.chdir(ROOT)
    command = json.loads((ROOT / "reports/validation/summary.json").read_text())
    argv = command["meta"]["command"].split()[1:]
    argv = argv[:argv.index("--out")] + ["--json"]
    assert main(argv) == 0
    fresh = json.loads(capsys.readouterr().out)["summary"]
    committed = command["summary"]

    def differences(a, b, path=""):
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                yield from differences(a.get(key), b.get(key), f"{path}/{key}")
        elif isinstance(a, float) or isinstance(b, float):
            if a is None or b is None or not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
                yield f"{path}: now {a}, committed {b}"
        elif a != b:
            yield f"{path}: now {a}, committed {b}"

    diffs = list(differences(fresh, committed))
    assert not diffs, ("reports/validation/ is out of date with the timing model; regenerate it with "
                       "`PATH=.venv/bin:$PATH bash validation/regenerate.sh` and update README's table: "
                       + "; ".join(diffs[:5]))
