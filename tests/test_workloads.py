"""Workload files and their loader.

Shapes are checked against numbers published by others (torchvision's parameter
counts and GMACs, the LLaMA-7B parameter count) and conv output sizes against
PyTorch's own conv2d shape rule, not against the loader's own arithmetic.
"""

import pytest

from sparsesim.errors import ConfigError
from sparsesim.workloads import list_workloads, load_workload

from test_sweep_fakes import cli

EXPECTED = {"resnet-18", "resnet-50", "bert-base", "bert-large", "llama-7b-prefill", "llama-7b-decode"}


def test_all_workloads_load_and_cite_sources():
    names = set(list_workloads())
    assert EXPECTED <= names
    for name in names:
        wl = load_workload(name)
        assert wl.name == name or (wl.path.endswith(".json") and wl.name.startswith(f"{name}-prefill"))
        assert wl.sources and all(len(s) > 10 for s in wl.sources)
        assert all(l.m > 0 and l.n > 0 and l.k > 0 and l.repeat >= 1 for l in wl.layers)


def _bn_params(wl):
    # every conv of torchvision's ResNets is followed by a BatchNorm2d (weight + bias)
    return sum(2 * l.params["out_channels"] * l.repeat for l in wl.layers if l.op == "conv2d")


@pytest.mark.parametrize("name,params,gmacs", [
    # torchvision model cards: resnet18 11,689,512 params, 1.81 GFLOPS (MACs);
    # resnet50 25,557,032 params, 4.09 GFLOPS (MACs)
    ("resnet-18", 11_689_512, 1.81),
    ("resnet-50", 25_557_032, 4.09),
])
def test_resnet_totals_match_published(name, params, gmacs):
    wl = load_workload(name)
    fc_bias = 1000
    assert wl.total_weights + fc_bias + _bn_params(wl) == params
    assert wl.total_macs / 1e9 == pytest.approx(gmacs, abs=0.006)
    convs = sum(l.repeat for l in wl.layers if l.op == "conv2d")
    assert convs == {"resnet-18": 20, "resnet-50": 53}[name]


def test_conv_gemm_shapes_match_torch():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    for name in ("resnet-18", "resnet-50"):
        wl = load_workload(name)
        for l in wl.layers:
            if l.op != "conv2d":
                assert l.n == 1 and l.m == 1000  # FC on one image
                continue
            p = l.params
            x = torch.empty(1, p["in_channels"], *p["input_hw"], device="meta")
            w = torch.empty(p["out_channels"], p["in_channels"], *p["kernel"], device="meta")
            y = F.conv2d(x, w, stride=p["stride"], padding=p["padding"])
            assert l.m == y.shape[1]
            assert l.n == y.shape[2] * y.shape[3]
            assert l.k == w.shape[1] * w.shape[2] * w.shape[3]


def test_transformer_shapes():
    base = load_workload("bert-base")
    assert sum(l.weights for l in base.layers) == 7_077_888  # 4H^2 + 8H^2, H=768
    assert {l.n for l in base.layers} == {128}
    assert all(l.repeat == 12 for l in base.layers)
    large = load_workload("bert-large")
    assert sum(l.weights for l in large.layers) == 12 * 1024 * 1024
    assert all(l.repeat == 24 for l in large.layers)
    pre, dec = load_workload("llama-7b-prefill"), load_workload("llama-7b-decode")
    # LLaMA-7B: 6,738,415,616 parameters = GEMM weights + embedding + RMSNorm weights
    assert pre.total_weights + 32000 * 4096 + 4096 * (2 * 32 + 1) == 6_738_415_616
    assert [l.k for l in pre.layers] == [l.k for l in dec.layers]
    assert {l.n for l in pre.layers} == {2048} and {l.n for l in dec.layers} == {1}


def _write(tmp_path, body, name="wl.toml"):
    p = tmp_path / name
    p.write_text(body)
    return p


GOOD = '''name = "tiny"
description = "two layers"
sources = ["made up for a test"]
batch = 2

[[layers]]
name = "c"
op = "conv2d"
in_channels = 4
out_channels = 8
kernel = [3, 3]
stride = 2
padding = 1
input_hw = [9, 9]

[[layers]]
name = "fc"
op = "linear"
in_features = 16
out_features = 10
repeat = 3
'''


def test_loader_derives_gemm_shapes(tmp_path):
    wl = load_workload(_write(tmp_path, GOOD))
    c, fc = wl.layers
    assert (c.m, c.n, c.k) == (8, 2 * 5 * 5, 4 * 9)
    assert (fc.m, fc.n, fc.k, fc.repeat) == (10, 2, 16, 3)
    assert wl.total_macs == 8 * 50 * 36 + 3 * 10 * 2 * 16


@pytest.mark.parametrize("old,new,words", [
    ('batch = 2', 'batch = 2\ncolour = "red"', ["unknown key 'colour'"]),
    ('description = "two layers"\n', '', ["missing key 'description'"]),
    ('batch = 2', 'batch = "2"', ["'batch'", "positive integer", "str"]),
    ('batch = 2', 'batch = true', ["'batch'", "positive integer"]),
    ('batch = 2', 'batch = 0', ["'batch'", "positive integer"]),
    ('in_features = 16', 'in_features = 16.0', ["layers[1]", "'in_features'", "float"]),
    ('op = "linear"', 'op = "matmul"', ["layers[1]", "'op'", "conv2d", "linear"]),
    ('kernel = [3, 3]', 'kernel = [3, 3, 3]', ["'kernel'", "2 integers"]),
    ('padding = 1\ninput_hw = [9, 9]', 'input_hw = [2, 2]', ["does not fit"]),
    ('name = "fc"', 'name = "c"', ["duplicate layer name 'c'"]),
    ('repeat = 3', 'repeat = 3\nstride = 2', ["layers[1]", "unknown key 'stride'"]),
    ('sources = ["made up for a test"]', 'sources = "a paper"', ["'sources'", "list of strings"]),
    ('in_channels = 4', '', ["layers[0]", "missing key 'in_channels'"]),
])
def test_loader_errors_name_file_key_and_type(tmp_path, old, new, words):
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as ei:
        load_workload(path)
    msg = str(ei.value)
    assert str(path) in msg
    for w in words:
        assert w in msg


def test_bad_toml_and_unknown_names(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_workload(_write(tmp_path, "name = ", "bad.toml"))
    with pytest.raises(ConfigError, match="unknown workload 'nope'.*bert-base"):
        load_workload("nope")
    monkeypatch.setenv("SPARSESIM_WORKLOADS", str(tmp_path))
    _write(tmp_path, GOOD, "tiny.toml")
    assert "tiny" in list_workloads()
    assert load_workload("tiny").name == "tiny"


def test_cli_lists_and_shows_workloads(capsys):
    assert cli(["workloads"]) == 0
    out = capsys.readouterr().out
    for name in EXPECTED:
        assert name in out
    assert cli(["workloads", "resnet-50"]) == 0
    out = capsys.readouterr().out
    assert "layer4.1-2.conv2" in out and "4.089 GMAC" in out
    assert cli(["workloads", "nope"]) == 2
    assert "unknown workload" in capsys.readouterr().err
