"""Calibration: recovers known parameters from synthetic rows, keeps GPUs apart, writes a loadable override."""

from pathlib import Path

import pytest

import sparsesim
from sparsesim.arch import derive, load_arch
from sparsesim.errors import InputError
from sparsesim.validate import calibrate as cal
from sparsesim.validate.engine import EnginePredictor, PowerSpec, load_power_spec, parse_arch_map
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


def synth_rows(truth_arch, power=None, dtype="fp16", source="S1", gpu="A100"):
    pred = EnginePredictor({gpu: truth_arch}, power={gpu: power} if power else None, simulate=fake_simulate)
    rows = []
    for i, (m, n, k) in enumerate(SIZES):
        r = MeasuredRow(gpu, dtype, m, n, k, "W", 1.0, 1.0, 1.0, "cuSPARSELt", source, "", "synth.csv", i + 2)
        p = pred(r)
        rows.append(MeasuredRow(gpu, dtype, m, n, k, "W", p.dense_us, p.sparse_us, p.dense_us / p.sparse_us,
                                "cuSPARSELt", source, "", "synth.csv", i + 2))
    return rows


def factory_for(arch, base_power=None, gpu="A100"):
    def factory(values):
        ov = {k: v for k, v in values.items() if not k.startswith("power.")}
        power = None
        if base_power is not None:
            power = {gpu: base_power.with_values(**{k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("power.")})}
        return EnginePredictor({gpu: arch}, overrides={gpu: ov}, power=power, simulate=fake_simulate)

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


def test_fit_recovers_power_limit_parameters():
    a100 = load_arch("a100")
    truth_power = PowerSpec(power_limit_w=400.0, static_w=90.0, window_ms=3.0, dense_dynamic_w=330.0, sparse_dynamic_w=700.0)
    truth = derive(a100, {"efficiency.tensor_dense": 0.75, "efficiency.tensor_sparse": 0.7})
    rows = synth_rows(truth, power=truth_power)
    # the power limit bends the speedup down on the long kernels
    sp = {r.m: r.speedup for r in rows if r.m == r.n}
    assert sp[16384] < sp[4096] - 0.1
    start = truth_power.with_values(sparse_dynamic_w=450.0, window_ms=10.0)  # dense power is not fitted
    params = cal.DEFAULT_PARAMS + cal.POWER_PARAMS
    res = cal.fit(rows, factory_for(a100, start), params,
                  x0={"efficiency.tensor_dense": 0.8, "efficiency.tensor_sparse": 0.8,
                      "power.sparse_dynamic_w": 450.0, "power.window_ms": 10.0})
    s = summarize(evaluate(rows, factory_for(a100, start)(res.values)))
    assert s["all"]["speedup"]["mape"] < 1.0
    assert res.values["efficiency.tensor_sparse"] == pytest.approx(0.7, rel=0.05)
    assert res.values["power.sparse_dynamic_w"] == pytest.approx(700.0, rel=0.1)


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


def test_arch_map_and_power_file(tmp_path):
    assert parse_arch_map("A100=x.toml, H200=h200")["H200"] == "h200"
    with pytest.raises(InputError):
        parse_arch_map("A100")
    spec = load_power_spec(ROOT / "validation" / "power" / "a100.toml")
    assert spec.power_limit_w == 400.0
    bad = tmp_path / "p.toml"
    bad.write_text("[power]\npower_limit_w = 400.0\n")
    with pytest.raises(sparsesim.ConfigError, match="missing key 'power.static_w'"):
        load_power_spec(bad)


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
    rc = main(["calibrate", "--measured", str(csv_path), "--arch", "a100", "--no-power", "--out", str(out)])
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
    assert main(["calibrate", "--measured", str(csv_path), "--arch", "a100", "--no-power", "--json", "--out", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["fit_rows"] == 7 and data["held_out_rows"] == 7
    assert data["values"]["efficiency.tensor_dense"] == pytest.approx(0.7, rel=1e-3)
    assert data["held_out"]["all"]["speedup"]["mape"] < 0.1
    assert out.is_file()


def test_power_sidecar_is_picked_up_and_slows_long_sparse_kernels(tmp_path):
    arch_file = tmp_path / "a100-x.toml"
    cal.write_override(arch_file, cal.render_override("a100", "a100-x", "x", {"efficiency.tensor_sparse": 0.7}, []),
                       check=load_arch)
    side = tmp_path / "a100-x.power.toml"
    side.write_text("[power]\npower_limit_w = 400.0\nstatic_w = 90.0\nwindow_ms = 2.0\nclock_exponent = 3.0\n"
                    "dense_dynamic_w = 310.0\nsparse_dynamic_w = 900.0\n")
    with_power = EnginePredictor({"A100": str(arch_file)}, simulate=fake_simulate)
    without = EnginePredictor({"A100": str(arch_file)}, power={}, simulate=fake_simulate)
    without.power = {}
    big = MeasuredRow("A100", "fp16", 16384, 16384, 16384, "W", 1.0, 1.0, 1.0)
    small = MeasuredRow("A100", "fp16", 1024, 1024, 1024, "W", 1.0, 1.0, 1.0)
    p_big, q_big = with_power(big), without(big)
    assert p_big.info["sparse_clock_mhz"] < 1100 and p_big.info["dense_clock_mhz"] == pytest.approx(1410)
    assert p_big.sparse_us > 1.3 * q_big.sparse_us and p_big.dense_us == pytest.approx(q_big.dense_us)
    assert with_power(small).sparse_us == pytest.approx(without(small).sparse_us, rel=0.02)


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
