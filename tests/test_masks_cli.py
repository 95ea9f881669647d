"""The kept-magnitude study and `sparsesim masks`, on small synthetic weights."""

import numpy as np
import pytest

from sparsesim.cli import main
from sparsesim.masks import report


def _fake_model(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "embeddings.word_embeddings.weight": rng.standard_normal((100, 64)).astype(np.float32),
        "encoder.layer.0.attention.self.query.weight": rng.standard_normal((64, 64)).astype(np.float32),
        "encoder.layer.0.intermediate.dense.weight": rng.standard_normal((128, 64)).astype(np.float32),
        "encoder.layer.0.output.dense.weight": rng.standard_normal((64, 128)).astype(np.float32),
        "encoder.layer.0.output.LayerNorm.weight": rng.standard_normal(64).astype(np.float32),
    }


def test_linear_layers_pick_2d_weights_outside_embeddings():
    names = [n for n, _ in report.linear_layers(_fake_model())]
    assert names == [
        "encoder.layer.0.attention.self.query.weight",
        "encoder.layer.0.intermediate.dense.weight",
        "encoder.layer.0.output.dense.weight",
    ]


def test_study_orders_and_bounds():
    rows = report.study(_fake_model(), max_sweeps=2)
    for r in rows:
        # unstructured top-k is the upper bound at each density
        for c in report.HALF_COLS[1:]:
            assert r[c] <= r["unstructured 50%"] + 1e-12
        for c in report.QUARTER_COLS[1:]:
            assert r[c] <= r["unstructured 25%"] + 1e-12
        # a permutation never hurts N:M; transposable never beats plain N:M on the same order
        for nm in ("2:4", "4:8", "1:4", "2:8"):
            assert r[f"{nm} +perm"] >= r[nm] - 1e-12
        assert r["2:4-T"] <= r["2:4"] + 1e-12 and r["4:8-T"] <= r["4:8"] + 1e-12
        assert 0.5 * r["4:8-T"] <= r["4:8-T approx"] <= r["4:8-T"] + 1e-12
        # 4:8 is looser than 2:4
        assert r["4:8"] >= r["2:4"] - 0.02


def test_write_report(tmp_path):
    rows = report.study(_fake_model(), max_sweeps=1)
    paths = report.write_report(rows, tmp_path / "out", "fake.safetensors", "sparsesim masks --weights fake")
    md = paths["report"].read_text()
    assert "| layer | shape | unstructured 50% |" in md and "sparsesim masks --weights fake" in md
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths["csv"].read_text().count("\n") == len(rows) + 1


def test_cli_on_a_safetensors_file(tmp_path, capsys):
    st = pytest.importorskip("safetensors.numpy")
    f = tmp_path / "m.safetensors"
    st.save_file(_fake_model(), str(f))
    out = tmp_path / "rep"
    assert main(["masks", "--weights", str(f), "--out", str(out), "--max-sweeps", "1", "--layers", "2"]) == 0
    cap = capsys.readouterr()
    assert "layers: 100%" in cap.err and "2/2" in cap.err and "wrote report" in cap.out  # tqdm bar on stderr
    assert (out / "report.md").is_file() and (out / "kept_magnitude.png").is_file()


def test_cli_errors(tmp_path, capsys):
    assert main(["masks", "--weights", str(tmp_path / "missing.safetensors"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    rc = main(["masks", "--weights", str(bad), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert not (tmp_path / "o").exists()  # nothing written on failure
    assert main(["masks", "--weights", str(bad), "--max-sweeps", "0"]) == 2
