"""Sweeps of a workload on real weights: layers mapped to tensors by name, exec-mode rows per layer."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from sparsesim.cli import main
from sparsesim.dse.weights import layer_tensors, mean_result


def _files(tmp_path, shapes=None):
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    shapes = shapes or {"model.blk.0.fc.weight": (64, 128), "model.blk.1.fc.weight": (64, 128),
                        "model.proj.weight": (128, 64), "model.proj.bias": (128,)}
    tensors = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    if "model.other.fc.weight" in tensors and tensors["model.other.fc.weight"].shape == (64, 128):
        tensors["model.other.fc.weight"][:32] *= 1e-3  # same shape as blk.fc, but its top half prunes away
    save_file(tensors, str(tmp_path / "w.safetensors"))
    wl = tmp_path / "net.csv"
    wl.write_text("m,n,k,count,name\n64,48,128,2,blk.fc\n128,48,64,1,proj\n64,48,128,1,other.fc\n")
    return tmp_path / "w.safetensors", wl, tensors


def test_layers_find_their_tensors_by_name():
    t = {"bert.encoder.layer.10.attention.self.query.weight": np.zeros((2, 2)),
         "bert.encoder.layer.2.attention.self.query.weight": np.zeros((2, 2)),
         "bert.encoder.layer.2.attention.self.query.bias": np.zeros(2),
         "bert.encoder.layer.2.attention.self.key.weight": np.zeros((2, 2))}
    assert layer_tensors("encoder.layer.attention.self.query", t) == [
        "bert.encoder.layer.2.attention.self.query.weight", "bert.encoder.layer.10.attention.self.query.weight"]
    assert layer_tensors("attention.self.key", t) == ["bert.encoder.layer.2.attention.self.key.weight"]
    assert layer_tensors("self.quer", t) == []


def test_mean_result_averages_numbers_and_keeps_the_common_bound():
    r = mean_result([{"seconds": 1.0, "bound": "dram", "dram_bytes": {"a": 2, "b": 4}, "arch": "x"},
                     {"seconds": 3.0, "bound": "dram", "dram_bytes": {"a": 4, "b": 4}, "arch": "x"},
                     {"seconds": 2.0, "bound": "compute", "dram_bytes": {"a": 0, "b": 4}, "arch": "x"}])
    assert r["seconds"] == 2.0 and r["dram_bytes"] == {"a": 2.0, "b": 4.0} and r["bound"] == "dram"
    assert r["tensors"] == 3


def test_sweep_on_real_weights_runs_every_layer_on_its_own_tensors(tmp_path):
    w, wl, tensors = _files(tmp_path, {"model.blk.0.fc.weight": (64, 128), "model.blk.1.fc.weight": (64, 128),
                                       "model.proj.weight": (128, 64), "model.other.fc.weight": (64, 128)})
    out = tmp_path / "r.csv"
    args = ["sweep", "--arch", "a100", "--workload", str(wl), "--patterns", "dense,unstructured:bitmask",
            "--densities", "0.05", "--weights", str(w), "--out", str(out), "--jobs", "1", "-q"]
    assert main(args) == 0
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 6 and all(r["mode"] == "exec" and not r["error"] for r in rows)
    sparse = {r["layer"]: r for r in rows if r["pattern"] == "unstructured"}
    # blk.fc (two tensors) and other.fc have the same shape but their own weights: rows of their own
    assert sparse["blk.fc"]["cycles"] != sparse["other.fc"]["cycles"]
    # the row of blk.fc is the mean over its two tensors' exec runs
    import sparsesim
    from sparsesim.operands import operands, random_activations

    x = random_activations(128, 48, "fp16", 0)
    cyc = []
    for name in ("model.blk.0.fc.weight", "model.blk.1.fc.weight"):
        ops = operands(tensors[name], x, "unstructured", 0.05, "fp16")
        cyc.append(sparsesim.simulate("a100", 64, 48, 128, "fp16", "unstructured", format="bitmask", mode="exec",
                                      a=ops.a, b=ops.b).cycles)
    assert float(sparse["blk.fc"]["cycles"]) == pytest.approx(np.mean(cyc), rel=1e-9)
    assert main(args) == 0  # resumed: nothing left to compute
    assert len(list(csv.DictReader(open(out)))) == 6


@pytest.mark.parametrize("shapes,message", [
    ({"model.blk.0.fc.weight": (64, 128), "model.proj.weight": (128, 64)},
     "no tensor for layer 'other.fc' of workload 'net'; close matches: model.blk.0.fc.weight"),
    ({"model.blk.0.fc.weight": (64, 128), "model.proj.weight": (128, 64), "model.other.fc.weight": (64, 64)},
     "tensor 'model.other.fc.weight' of"),
])
def test_sweep_refuses_unmapped_or_misshaped_layers(tmp_path, capsys, shapes, message):
    w, wl, _ = _files(tmp_path, shapes)
    args = ["sweep", "--arch", "a100", "--workload", str(wl), "--patterns", "dense", "--weights", str(w),
            "--out", str(tmp_path / "r.csv"), "--jobs", "1", "-q"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r.csv").exists()
