"""The accuracy-report pipeline on a tiny synthetic BERT layer (no model package needed)."""

from __future__ import annotations

import numpy as np
import pytest

from sparsesim.errors import InputError
from sparsesim.quant import accuracy

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "##s", "sat", ".", "on", "mat", "a", "dog", "ran", ","]


def _tiny_model(hidden=32, inter=64, seed=0):
    rng = np.random.default_rng(seed)
    f = np.float32
    t = {
        "embeddings.word_embeddings.weight": rng.normal(size=(len(VOCAB), hidden)).astype(f),
        "embeddings.position_embeddings.weight": rng.normal(size=(64, hidden)).astype(f) * f(0.1),
        "embeddings.token_type_embeddings.weight": rng.normal(size=(2, hidden)).astype(f) * f(0.1),
        "embeddings.LayerNorm.weight": np.ones(hidden, f),
        "embeddings.LayerNorm.bias": np.zeros(hidden, f),
    }
    p = "encoder.layer.0."
    for name, (o, i) in {
        "attention.self.query": (hidden, hidden),
        "attention.self.key": (hidden, hidden),
        "attention.self.value": (hidden, hidden),
        "attention.output.dense": (hidden, hidden),
        "intermediate.dense": (inter, hidden),
        "output.dense": (hidden, inter),
    }.items():
        t[p + name + ".weight"] = (rng.normal(size=(o, i)) / np.sqrt(i)).astype(f)
        t[p + name + ".bias"] = (rng.normal(size=o) * 0.1).astype(f)
    for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
        t[p + ln + ".weight"] = np.ones(hidden, f)
        t[p + ln + ".bias"] = np.zeros(hidden, f)
    return t


TEXTS = (["The cat sat on the mat.", "A dog ran, the cats sat."], ["The dogs ran on a mat.", "Cats sat, a cat ran."])


def test_wordpiece():
    ids = accuracy.wordpiece("The cats sat.", VOCAB)
    assert [VOCAB[i] for i in ids] == ["[CLS]", "the", "cat", "##s", "sat", ".", "[SEP]"]
    assert [VOCAB[i] for i in accuracy.wordpiece("zebra!", VOCAB)][1] == "[UNK]"


def test_layer0_attention_matches_torch():
    torch = pytest.importorskip("torch")
    t = _tiny_model()
    ids = accuracy.wordpiece("The cat sat on the mat.", VOCAB)
    acts = accuracy.layer0_activations(t, ids, heads=4)
    p = "encoder.layer.0.attention."
    mha = torch.nn.MultiheadAttention(32, 4, bias=True, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.from_numpy(np.concatenate([t[p + f"self.{n}.weight"] for n in ("query", "key", "value")])))
        mha.in_proj_bias.copy_(torch.from_numpy(np.concatenate([t[p + f"self.{n}.bias"] for n in ("query", "key", "value")])))
        mha.out_proj.weight.copy_(torch.eye(32))
        mha.out_proj.bias.zero_()
        h = torch.from_numpy(acts["query"])[None]
        ctx = mha(h, h, h, need_weights=False)[0][0].numpy()
    np.testing.assert_allclose(acts["attn_out"], ctx, atol=2e-5)


@pytest.fixture(scope="module")
def res():
    return accuracy.measure(_tiny_model(), VOCAB, heads=4, texts=TEXTS)


def test_measure_runs_both_paths_dense_and_24(res):
    assert len(res.rows) == 5 * 2 * 2 * 2  # 4 layers + u8 ffn_out, 2 bit widths, dense/2:4, 2 paths
    assert res.sparse_equals_dense
    assert res.split and all(same for same, _ in res.split.values())
    for r in res.rows:
        assert np.isfinite(r.max_err) and r.max_err >= r.mean_err >= 0
        if r.path == "vnni" or r.bits == 7:
            assert r.changed_outputs == 0
        if r.sparsity == "dense":
            assert r.max_err_vs_dense == r.max_err
    md = accuracy.render_markdown(res, "fig.png", "sparsesim accuracy")
    assert "| query |" in md and "![" in md


def test_figure_is_written(res, tmp_path):
    out = tmp_path / "f.png"
    accuracy.render_figure(res, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_model_files(tmp_path):
    with pytest.raises(InputError, match="model.safetensors"):
        accuracy.load_model(tmp_path)


def test_cli_on_a_synthetic_safetensors_model(tmp_path, monkeypatch):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    from sparsesim.cli import main

    model = tmp_path / "model"
    model.mkdir()
    safetensors_numpy.save_file(_tiny_model(hidden=48, inter=96), str(model / "model.safetensors"))
    (model / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    monkeypatch.setattr(accuracy, "CALIBRATION_TEXT", TEXTS[0])
    monkeypatch.setattr(accuracy, "EVALUATION_TEXT", TEXTS[1])
    out = tmp_path / "rep"
    assert main(["accuracy", "--model", str(model), "--out", str(out)]) == 0  # 48 = 12 heads x 4
    assert "2:4 sparse kernel" in (out / "report.md").read_text()
    assert (out / "int8_accuracy.png").stat().st_size > 1000
