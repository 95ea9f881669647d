""".safetensors output of `sparsesim compress`, compared bit for bit with PyTorch's own
CUTLASS conversion of the same pruned weight (torch.sparse._semi_structured_conversions)."""

import numpy as np
import pytest

from sparsesim.cli import main
from sparsesim.formats import prune

torch = pytest.importorskip("torch")
conv = pytest.importorskip("torch.sparse._semi_structured_conversions")
st = pytest.importorskip("safetensors.numpy")


@pytest.mark.parametrize("dtype", [np.float16, np.int8])
def test_matrix_to_safetensors_matches_torch(tmp_path, dtype):
    rng = np.random.default_rng(7)
    w = (rng.standard_normal((128, 256)) * 50).astype(dtype)
    np.save(tmp_path / "w.npy", w)
    out = tmp_path / "w.safetensors"
    assert main(["compress", str(tmp_path / "w.npy"), "--encoding", "cutlass", "-o", str(out)]) == 0
    got = st.load_file(str(out))
    tv, tmeta = conv.sparse_semi_structured_from_dense_cutlass(torch.from_numpy(prune(w, 2, 4)))
    assert got["values"].dtype == tv.numpy().dtype and got["values"].tobytes() == tv.numpy().tobytes()
    assert got["metadata"].dtype == tmeta.numpy().dtype and got["metadata"].tobytes() == tmeta.numpy().tobytes()
    from safetensors import safe_open

    with safe_open(str(out), "np") as f:
        assert f.metadata()["pattern"] == "2:4" and f.metadata()["encoding"] == "cutlass"


def test_model_masks_by_layer_name(tmp_path, capsys):
    rng = np.random.default_rng(3)
    model = {
        "encoder.layer.0.attention.self.query.weight": rng.standard_normal((64, 64)).astype(np.float16),
        "encoder.layer.0.intermediate.dense.weight": rng.standard_normal((128, 64)).astype(np.float16),
        "encoder.layer.0.intermediate.dense.bias": rng.standard_normal(128).astype(np.float16),
        "odd.weight": rng.standard_normal((8, 6)).astype(np.float16),  # K = 6: no CUTLASS layout
    }
    st.save_file(model, str(tmp_path / "m.safetensors"))
    out = tmp_path / "sparse.safetensors"
    rc = main(["compress", str(tmp_path / "m.safetensors"), "--encoding", "cutlass", "-o", str(out), "-q"])
    assert rc == 0
    got = st.load_file(str(out))
    assert "1 skipped" in capsys.readouterr().out
    for name in ("encoder.layer.0.attention.self.query.weight", "encoder.layer.0.intermediate.dense.weight"):
        pruned = prune(model[name], 2, 4)
        assert (got[f"{name}.mask"] == (pruned != 0)).all()
        assert got[f"{name}.mask"].reshape(-1, 4).sum(axis=1).max() <= 2
        tv, tmeta = conv.sparse_semi_structured_from_dense_cutlass(torch.from_numpy(pruned))
        assert got[f"{name}.values"].tobytes() == tv.numpy().tobytes()
        assert got[f"{name}.metadata"].tobytes() == tmeta.numpy().tobytes()
    assert not any(k.startswith(("odd.", "encoder.layer.0.intermediate.dense.bias")) for k in got)
