"""Workload importers: GEMM-list CSV, op = "gemm", Hugging Face config.json, torch modules,
and the search path (user folders add to the built-ins).

The Hugging Face configs are checked against the parameter counts the model publishers
state (GEMM weights + embeddings, norms and biases), the torch tracer against layer
shapes PyTorch itself computes."""

import pytest

from sparsesim.errors import ConfigError
from sparsesim.workloads import available_workloads, from_hf_config, from_torch, load_workload

from test_sweep_fakes import cli


def _extra_params(name):
    """Parameters outside the GEMM weights, from the published architectures.  A tied LM
    head is the input embedding: its GEMM weight counts for both."""
    if name == "bert-base-uncased":  # embeddings (word, position, type) + LayerNorms + biases
        H, L, I = 768, 12, 3072
        return (30522 + 512 + 2) * H + 2 * H + L * (4 * H + I + H + 4 * H) + H
    if name == "gpt2":  # wpe + LayerNorms + biases (wte = the tied lm_head)
        H, L = 768, 12
        return 1024 * H + 2 * H + L * (3 * H + H + 4 * H + H + 4 * H)
    if name in ("llama-2-7b", "mistral-7b-v0.1"):  # embed_tokens (untied) + RMSNorms
        return 32000 * 4096 + 4096 * (2 * 32 + 1)
    if name == "qwen2-0.5b":  # RMSNorms + q/k/v biases (embedding = the tied lm_head)
        return 896 * (2 * 24 + 1) + 24 * (896 + 2 * 128)


PUBLISHED = {"bert-base-uncased": 109_482_240, "gpt2": 124_439_808, "llama-2-7b": 6_738_415_616,
             "mistral-7b-v0.1": 7_241_732_096, "qwen2-0.5b": 494_032_768}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_hf_configs_match_published_parameter_counts(name):
    wl = load_workload(name)
    assert wl.total_weights + _extra_params(name) == PUBLISHED[name]


def test_hf_prefill_and_decode_shapes():
    pre = load_workload("mistral-7b-v0.1", batch=2, seq_len=512)
    by = {l.name: l for l in pre.layers}
    assert by["layers.self_attn.k_proj"].m == 8 * 128 and by["layers.self_attn.q_proj"].m == 4096
    assert by["layers.mlp.gate_proj"].n == 2 * 512 and by["lm_head"].n == 2
    qk, pv = by["attn.qk"], by["attn.pv"]
    assert not qk.prunable and not pv.prunable
    # per sequence and KV head: 4 query heads share a KV head (GQA 32/8)
    assert (qk.m, qk.n, qk.k, qk.repeat) == (512, 512 * 4, 128, 32 * 2 * 8)
    assert (pv.m, pv.n, pv.k) == (128, 512 * 4, 512)
    # the attention products hold the published FLOPs: 2 * heads * seq^2 * head_dim per layer and product
    assert qk.macs * qk.repeat == 32 * 2 * 32 * 512 * 512 * 128
    dec = load_workload("mistral-7b-v0.1", phase="decode", context=8192, batch=4)
    by = {l.name: l for l in dec.layers}
    assert by["layers.mlp.up_proj"].n == 4
    assert by["attn.qk"].m == 4096  # the sliding window caps the cache
    assert dec.name == "mistral-7b-v0.1-decode4096"


def test_hf_mqa_and_errors(tmp_path):
    cfg = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
           "num_attention_heads": 8, "num_key_value_heads": 1, "vocab_size": 1000,
           "max_position_embeddings": 128}
    wl = from_hf_config(cfg, seq_len=64)
    by = {l.name: l for l in wl.layers}
    assert by["layers.self_attn.k_proj"].m == 32 and by["attn.qk"].n == 64 * 8
    with pytest.raises(ConfigError, match="exceed the model's max_position_embeddings"):
        from_hf_config(cfg, seq_len=1000)
    with pytest.raises(ConfigError, match="'num_key_value_heads' = 3 does not divide"):
        from_hf_config({**cfg, "num_key_value_heads": 3})
    bad = tmp_path / "config.json"
    bad.write_text('{"model_type": "llama",\n "hidden_size": 256,,\n}')
    with pytest.raises(ConfigError, match=r"config.json, line 2 column"):
        load_workload(tmp_path)
    bad.write_text('{"model_type": "llama", "hidden_size": "big"}')
    with pytest.raises(ConfigError, match=r"config.json: key 'hidden_size' must be an integer"):
        load_workload(bad)
    bad.write_text('{"model_type": "t5"}')
    with pytest.raises(ConfigError, match="model_type.*supported: bert"):
        load_workload(bad)
    with pytest.raises(ConfigError, match="encoder; it has no decode phase"):
        load_workload("bert-base-uncased", phase="decode")


def test_csv_gemm_list(tmp_path):
    f = tmp_path / "gemms.csv"
    f.write_text("m,n,k,count,name,dtype\n4096,128,4096,32,qkv,int8\n# a comment\n\n1024,8,512,,,\n")
    wl = load_workload(f)
    assert wl.name == "gemms" and [(l.m, l.n, l.k, l.repeat, l.dtype) for l in wl.layers] == [
        (4096, 128, 4096, 32, "int8"), (1024, 8, 512, 1, None)]
    g = tmp_path / "plain.csv"
    g.write_text("64,32,16\n64,32,16,2\n")
    assert [l.repeat for l in load_workload(g).layers] == [1, 2]
    for text, msg in (("m,n,k\n64,x,16\n", r"line 2: column 'n' must be a positive integer in digits 0-9, got 'x'"),
                      ("m,n\n1,2\n", r"line 1: missing column 'k'"),
                      ("m,n,k,color\n1,2,3,red\n", r"line 1: unknown column 'color'"),
                      ("m,n,k,dtype\n1,2,3,fp99\n", r"line 2: column 'dtype' is 'fp99'"),
                      ("m,n,k,name\n1,2,3,a\n4,5,6,a\n", r"line 3: duplicate GEMM name 'a'")):
        g.write_text(text)
        with pytest.raises(ConfigError, match=msg):
            load_workload(g)


def test_toml_gemm_op(tmp_path):
    f = tmp_path / "g.toml"
    f.write_text('name = "g"\ndescription = "d"\nsources = ["a source of these shapes"]\nbatch = 4\n'
                 '[[layers]]\nname = "scores"\nop = "gemm"\nm = 128\nn = 64\nk = 32\nprunable = false\n'
                 'dtype = "int8"\n')
    (l,) = load_workload(f, batch=8).layers
    assert (l.m, l.n, l.k, l.prunable, l.dtype) == (128, 64, 32, False, "int8")  # batch does not scale it
    f.write_text(f.read_text().replace("m = 128", "m = 0"))
    with pytest.raises(ConfigError, match=r"layers\[0\] \(scores\): key 'm' must be a positive integer"):
        load_workload(f)


def test_torch_module_traced_with_real_shapes():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 16, 3, stride=2, padding=1)
            self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=4)
            self.fc = nn.Linear(16 * 16 * 16, 10)
            self.head = nn.Linear(10, 10)

        def forward(self, x):
            x = self.dw(self.conv(x))
            y = self.fc(x.flatten(1))
            return self.head(self.head(y))  # called twice: one layer, repeat 2

    net = Net()
    x = torch.zeros(2, 3, 32, 32)
    wl = from_torch(net, x, name="net")
    by = {l.name: l for l in wl.layers}
    assert list(by) == ["conv", "dw", "fc", "head"] and wl.batch == 2
    out = net.conv(x)
    assert (by["conv"].m, by["conv"].n, by["conv"].k) == (16, 2 * out.shape[2] * out.shape[3], 3 * 9)
    assert (by["dw"].m, by["dw"].k, by["dw"].repeat) == (4, 4 * 9, 4)  # per group
    assert (by["fc"].m, by["fc"].n, by["fc"].k) == (10, 2, 4096)
    assert by["head"].repeat == 2
    # a transformer layer of torch itself: every Linear it runs, with tokens as n
    enc = nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128, batch_first=True)
    wl = from_torch(enc, torch.zeros(3, 10, 64))
    assert {(l.m, l.k) for l in wl.layers} >= {(128, 64), (64, 128)}
    assert all(l.n == 30 for l in wl.layers if l.op == "linear")


def test_user_folder_adds_and_a_broken_file_hides_nothing(tmp_path, monkeypatch, capsys):
    (tmp_path / "mine.csv").write_text("m,n,k\n64,64,64\n")
    (tmp_path / "broken.toml").write_text("name = \n")
    monkeypatch.setenv("SPARSESIM_WORKLOAD_PATH", str(tmp_path))
    found = available_workloads()
    assert {"mine", "broken", "bert-base", "resnet-50"} <= set(found)
    assert cli(["workloads"]) == 2  # listed, then one error line
    out = capsys.readouterr().out
    assert "mine " in out and "bert-base " in out and "broken" in out and "INVALID" in out
    assert "broken.toml" in out and "line 1" in out
