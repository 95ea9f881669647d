"""Entry points of sparsesim.workloads: TOML files, GEMM-list CSV, Hugging Face config.json,
torch modules, names.

Every valid file is checked against shapes computed here from the numbers the generator
wrote (the conv2d output formula, the CSV cells, the parameter count of each model family),
not through the loader.
"""

from __future__ import annotations

import json

from .config import dumps
from .core import Case, entry
from .values import pick

MAX_DIM = 2**40  # the simulator's largest GEMM dimension (docs/limits.md)
DTYPES = ["fp16", "int8", "bf16", "fp32", "fp8"]


def _write(tmp, name, data):
    p = tmp / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return p


def _hostile_file(rng, tmp, name, data: bytes):
    """The file with one way of being unreadable, or None."""
    style = rng.integers(6)
    if style == 0:
        cut = int(rng.integers(0, max(len(data), 1)))
        return _write(tmp, name, data[:cut] + b"\xff\xfe" + data[cut:]), "non-UTF-8 byte"
    if style == 1:
        (tmp / name).mkdir()
        return tmp / name, "a directory"
    if style == 2:
        return tmp / "missing" / name, "missing file"
    if style == 3:
        return _write(tmp, name, b"\x00\x01" * 8), "binary junk"
    if style == 4:
        return _write(tmp, name, b""), "empty file"
    return _write(tmp, name, data[: len(data) // 2]), "truncated"


# ------------------------------------------------------------------ TOML workload files
def _toml_layer(rng, i):
    op = pick(rng, ["conv2d", "linear", "gemm"])
    t = {"name": f"l{i}", "op": op}
    if op == "conv2d":
        k = int(rng.integers(1, 4))
        t.update(in_channels=int(rng.integers(1, 65)), out_channels=int(rng.integers(1, 65)),
                 kernel=pick(rng, [k, [k, k], [1, k]]), input_hw=[int(rng.integers(4, 33)), int(rng.integers(4, 33))])
        if rng.random() < 0.5:
            t["stride"] = pick(rng, [1, 2, [1, 2]])
        if rng.random() < 0.5:
            t["padding"] = pick(rng, [0, 1, [0, 1]])
    elif op == "linear":
        t.update(in_features=int(rng.integers(1, 5000)), out_features=int(rng.integers(1, 5000)))
    else:
        t.update(m=int(rng.integers(1, 5000)), n=int(rng.integers(1, 5000)), k=int(rng.integers(1, 5000)))
        if rng.random() < 0.3:
            t["prunable"] = bool(rng.random() < 0.5)
    if rng.random() < 0.3:
        t["repeat"] = int(rng.integers(1, 13))
    if rng.random() < 0.2:
        t["dtype"] = pick(rng, DTYPES)
    return t


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def toml_ref(doc, batch=None):
    """(name, m, n, k, repeat) of every layer, computed from the document."""
    b = batch if batch is not None else doc.get("batch", 1)
    seq = doc.get("seq_len", 1)
    out = []
    for t in doc["layers"]:
        if t["op"] == "conv2d":
            kh, kw = _pair(t["kernel"])
            sh, sw = _pair(t.get("stride", 1))
            ph, pw = _pair(t.get("padding", 0))
            ih, iw = t["input_hw"]
            oh, ow = (ih + 2 * ph - kh) // sh + 1, (iw + 2 * pw - kw) // sw + 1
            shape = (t["out_channels"], b * oh * ow, t["in_channels"] * kh * kw)
        elif t["op"] == "linear":
            shape = (t["out_features"], b * seq, t["in_features"])
        else:
            shape = (t["m"], t["n"], t["k"])
        out.append((t["name"], *shape, t.get("repeat", 1)))
    return out


def _toml_mutation(rng, doc):
    """Make ``doc`` invalid one way; returns a label."""
    lay = doc["layers"][int(rng.integers(len(doc["layers"])))]
    style = rng.integers(13)
    if style == 0:
        doc["bogus"] = 1
        return "unknown top key"
    if style == 1:
        lay["bogus"] = 1
        return "unknown layer key"
    if style == 2:
        key = pick(rng, [k for k in lay if k not in ("op", "repeat", "dtype", "stride", "padding", "prunable")])
        del lay[key]
        return f"no {key}"
    if style == 3:
        keys = [k for k, v in lay.items() if isinstance(v, int) and not isinstance(v, bool)]
        if not keys:
            lay["repeat"] = 0
            return "repeat 0"
        key = pick(rng, keys)
        lay[key] = pick(rng, [0, -1, "64", 64.5, True, [1, 2, 3], 2**41, 2**62])
        if key == "stride" and lay[key] in (2**41, 2**62):
            return "valid?"  # a huge stride gives one output position
        return f"{key}={lay[key]!r}"
    if style == 4:
        lay["dtype"] = pick(rng, ["fp99", "", "FP16x", 3])
        return f"dtype {lay['dtype']!r}"
    if style == 5:
        doc["layers"].append(dict(lay))
        return "duplicate layer name"
    if style == 6:
        doc["layers"] = []
        return "no layers"
    if style == 7:
        lay["op"] = pick(rng, ["matmul", "", 3, "Conv2d"])
        return f"op {lay['op']!r}"
    if style == 8:
        doc["sources"] = pick(rng, [[], [1], "paper"])
        return f"sources {doc['sources']!r}"
    if style == 9:
        doc[pick(rng, ["batch", "seq_len"])] = pick(rng, [0, -2, 1.5, "8", True])
        return "bad batch/seq_len"
    if style == 10:
        lay.clear()
        lay.update(name="c", op="conv2d", in_channels=3, out_channels=8, kernel=9, input_hw=[4, 4])
        return "kernel larger than the input"
    if style == 11:
        lay.clear()
        lay.update(name="huge", op="gemm", m=2**20, n=2**21, k=2**41)
        return "k above 2**40"
    lay.clear()
    lay.update(name="huge", op="conv2d", in_channels=2**30, out_channels=8, kernel=[2**6, 2**6], input_hw=[64, 64])
    return "conv k above 2**40"


def gen_toml(rng, tmp):
    doc = {"name": "w", "description": "fuzz", "sources": ["generated"]}
    if rng.random() < 0.5:
        doc["batch"] = int(rng.integers(1, 9))
    if rng.random() < 0.3:
        doc["seq_len"] = int(rng.integers(1, 512))
    doc["layers"] = [_toml_layer(rng, i) for i in range(int(rng.integers(1, 5)))]
    # a valid document may still have a convolution whose kernel does not fit
    valid, label = True, "valid"
    if any(t["op"] == "conv2d" and min(_conv_out(t)) < 1 for t in doc["layers"]):
        valid, label = False, "kernel does not fit"
    if rng.random() < 0.55:
        label = _toml_mutation(rng, doc)
        valid = None if label == "valid?" else False
    batch = None
    if rng.random() < 0.2:
        batch, bv = pick(rng, [(4, True), (1, True), (0, False), (-1, False), (True, False), (2.0, False),
                               ("4", False), (2**45, None)])  # 2**45 matters only to conv2d / linear layers
        if bv is False:
            valid, label = False, label + f" batch={batch!r}"
        elif bv is None and valid is True:
            valid = None
    text = dumps(doc).encode("utf-8")
    if rng.random() < 0.1:
        text = b"\xef\xbb\xbf" + text  # a byte-order mark: still UTF-8 text
    path = _write(tmp, "w.toml", text)
    if rng.random() < 0.12:
        path, why = _hostile_file(rng, tmp, "x.toml", text)
        valid, label = False, why
    if rng.random() < 0.03:
        path = _write(tmp, "deep.toml", b"a = " + b"[" * 5000 + b"]" * 5000)
        valid, label = False, "nested 5000 deep"
    ref = toml_ref(doc, batch) if valid else None
    return Case((path,), {"batch": batch}, valid, f"toml {label}", {"ref": ref})


def _conv_out(t):
    if t["op"] != "conv2d":
        return (1, 1)
    kh, kw = _pair(t["kernel"])
    sh, sw = _pair(t.get("stride", 1))
    ph, pw = _pair(t.get("padding", 0))
    ih, iw = t["input_hw"]
    return (ih + 2 * ph - kh) // sh + 1, (iw + 2 * pw - kw) // sw + 1


def check_shapes(case, wl):
    got = [(l.name, l.m, l.n, l.k, l.repeat) for l in wl.layers]
    want = case.ctx["ref"]
    if want is not None and got != want:
        return f"layers {got[:3]} != {want[:3]}"
    return None


@entry("workloads.load_toml", "api", gen_toml, weight=1.0, check=check_shapes)
def call_toml(case):
    from sparsesim.workloads import load_workload

    return load_workload(case.args[0], batch=case.kwargs["batch"])


# ------------------------------------------------------------------ GEMM-list CSV
CELL_BAD = ["٤", "1_0", "+5", "5.0", "1e3", "-3", "0", "0x10", "", "abc", str(2**41), "9" * 40, "4\x00"]


def gen_csv(rng, tmp):
    header = rng.random() < 0.6
    cols = ["m", "n", "k"] + (["count"] if rng.random() < 0.5 else []) + (["name"] if rng.random() < 0.5 else []) \
        + (["dtype"] if rng.random() < 0.3 else [])
    if header and rng.random() < 0.3:
        cols = cols + ["prunable"]
    if header and rng.random() < 0.3:
        cols = list(rng.permutation(cols))
    if not header:  # positional: m,n,k,count,name,dtype in this order
        cols = ["m", "n", "k", "count", "name", "dtype"][: int(rng.integers(3, 7))]
    rows, ref = [], []
    for i in range(int(rng.integers(1, 6))):
        cell = {"m": int(rng.integers(1, 10**5)), "n": int(rng.integers(1, 10**5)), "k": int(rng.integers(1, 10**5)),
                "count": int(rng.integers(1, 50)), "name": f"g{i}", "dtype": pick(rng, DTYPES),
                "prunable": pick(rng, ["true", "false", "1", "0", "yes", "no"])}
        rows.append([str(cell[c]) for c in cols])
        ref.append((cell["name"] if "name" in cols else f"gemm{i}", cell["m"], cell["n"], cell["k"],
                    cell["count"] if "count" in cols else 1))
    valid, label = True, "valid"
    if rng.random() < 0.55:
        r = rows[int(rng.integers(len(rows)))]
        style = rng.integers(9)
        if style <= 3:
            j = int(rng.integers(min(3 + ("count" in cols), len(cols))))
            r[j] = pick(rng, CELL_BAD)
            label = f"cell {cols[j]}={r[j]!r}"
            if cols[j] in ("name", "prunable") or r[j] == "" and cols[j] not in ("m", "n", "k"):
                valid = None  # an empty optional cell takes its default
        elif style == 4 and "dtype" in cols:
            r[cols.index("dtype")] = pick(rng, ["fp99", "float16x", "٨"])
            label = "bad dtype"
        elif style == 5:
            r.append("extra")
            label = "extra field"
            if not header and len(cols) == 4:
                valid = None  # positional: the fifth field is a name
        elif style == 6 and "name" in cols and len(rows) > 1:
            rows[0][cols.index("name")] = rows[1][cols.index("name")] = "same"
            label = "duplicate name"
        elif style == 7 and "prunable" in cols:
            r[cols.index("prunable")] = pick(rng, ["maybe", "2", "TRUEISH"])
            label = "bad prunable"
        else:
            del r[int(rng.integers(len(r)))]
            label = "a field short"
            valid = None  # the optional last fields may be left out; the cells shift
        valid = False if valid is not None else None
    lines = [",".join(cols)] if header else []
    if rng.random() < 0.2:
        lines.append("# a comment")
    lines += [",".join(r) for r in rows]
    text = "\n".join(lines) + pick(rng, ["\n", "", "\r\n", "\n\n"])
    data = text.encode("utf-8")
    if rng.random() < 0.1:
        data = b"\xef\xbb\xbf" + data
    path = _write(tmp, "g.csv", data)
    if rng.random() < 0.12:
        path, label = _hostile_file(rng, tmp, "x.csv", data)
        valid = False
        if label == "truncated" and len(data) // 2 >= 0:
            valid = None  # may still be whole lines
    if rng.random() < 0.04:
        path = _write(tmp, "q.csv", b'm,n,k,name\n1,2,3,"unterminated\n')
        valid, label = False, "unterminated quote"
    if rng.random() < 0.04:
        path = _write(tmp, "u.csv", "m,n,k,name\n1,2,3,a\u2028b\n".encode())
        valid, label, ref = True, "U+2028 inside a name", [("a\u2028b", 1, 2, 3, 1)]
    return Case((path,), {}, valid, f"csv {label}", {"ref": ref if valid is True else None})


@entry("workloads.load_csv", "api", gen_csv, weight=1.0, check=check_shapes)
def call_csv(case):
    from sparsesim.workloads import load_workload

    return load_workload(case.args[0])


# ------------------------------------------------------------------ Hugging Face config.json
def _hf_doc(rng):
    fam = pick(rng, ["bert", "roberta", "gpt2", "llama", "mistral", "qwen2", "qwen3"])
    heads = pick(rng, [2, 4, 8, 12, 16])
    hd = pick(rng, [16, 32, 64])
    hidden = heads * hd
    layers = int(rng.integers(1, 13))
    if fam == "gpt2":
        doc = {"model_type": fam, "n_embd": hidden, "n_layer": layers, "n_head": heads,
               "vocab_size": int(rng.integers(100, 60000)), "n_positions": pick(rng, [512, 1024, 2048])}
        if rng.random() < 0.5:
            doc["n_inner"] = int(rng.integers(hidden, 4 * hidden + 1))
    else:
        doc = {"model_type": fam, "hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
               "intermediate_size": int(rng.integers(hidden, 4 * hidden + 1)),
               "max_position_embeddings": pick(rng, [512, 2048, 4096, 32768])}
        if fam not in ("bert", "roberta"):
            doc["vocab_size"] = int(rng.integers(100, 60000))
            doc["num_key_value_heads"] = pick(rng, [h for h in (1, 2, 4, heads) if heads % h == 0])
            if rng.random() < 0.3:
                doc["tie_word_embeddings"] = bool(rng.random() < 0.5)
            if fam == "mistral" and rng.random() < 0.5:
                doc["sliding_window"] = pick(rng, [None, 256, 4096])
            if fam.startswith("qwen") and rng.random() < 0.5:
                doc["use_sliding_window"] = bool(rng.random() < 0.5)
                doc["sliding_window"] = pick(rng, [None, 128, 4096])
    if rng.random() < 0.5:
        doc["architectures"] = pick(rng, [["LlamaForCausalLM"], [], "Llama", None, [3]])
    return doc


def hf_ref(doc, phase, seq_len, batch, context):
    """Weight elements of the prunable layers and the attention GEMM shapes, from the parameter
    count of each family."""
    fam = doc["model_type"]
    g = doc.get
    if fam == "gpt2":
        h, nl, heads, voc = g("n_embd"), g("n_layer"), g("n_head"), g("vocab_size")
        inner = g("n_inner") or 4 * h
        kv, hd = heads, h // heads
        weights = nl * (3 * h * h + h * h + 2 * h * inner) + h * voc
        max_pos = g("n_positions")
    else:
        h, nl, heads, inter = g("hidden_size"), g("num_hidden_layers"), g("num_attention_heads"), g("intermediate_size")
        kv = g("num_key_value_heads") or heads
        hd = h // heads
        max_pos = g("max_position_embeddings")
        if fam in ("bert", "roberta"):
            weights = nl * (4 * h * h + 2 * h * inter) + h * h
        else:
            weights = nl * (2 * h * heads * hd + 2 * h * kv * hd + 3 * h * inter) + h * g("vocab_size")
    seq = seq_len or min(2048, max_pos)
    if phase == "prefill":
        q, keys = seq, seq
    else:
        q, keys = 1, context or seq
        window = g("sliding_window")
        if window is not None and (fam == "mistral" or g("use_sliding_window")):
            keys = min(keys, window)
    group = heads // kv
    attn = (keys, q * group, hd, nl * batch * kv)
    return weights, attn


LIMITS_ONLY = ("max_position_embeddings", "n_positions", "sliding_window")  # a huge bound is still a bound


def gen_hf(rng, tmp):
    doc = _hf_doc(rng)
    fam = doc["model_type"]
    phase = "decode" if fam not in ("bert", "roberta") and rng.random() < 0.4 else "prefill"
    max_pos = doc.get("max_position_embeddings") or doc.get("n_positions")
    seq_len = pick(rng, [None, 1, 16, 128])
    context = pick(rng, [None, 64, 300]) if phase == "decode" else None
    batch = int(rng.integers(1, 5))
    valid, label = True, f"{fam} {phase}"
    if rng.random() < 0.5:
        style = rng.integers(11)
        keys = [k for k, v in doc.items() if isinstance(v, int) and not isinstance(v, bool)]
        if style <= 2:
            key = pick(rng, keys)
            doc[key] = pick(rng, [0, -4, "12", 12.0, True, None if key != "model_type" else 1, [12], 2**62])
            label += f" {key}={doc[key]!r}"
            valid = None if doc[key] is None or (doc[key] == 2**62 and key in LIMITS_ONLY) else False
        elif style == 3:
            del doc[pick(rng, keys)]
            valid, label = None, label + " a key missing"
        elif style == 4:
            doc["model_type"] = pick(rng, ["t5", "", None, ["llama"], {"a": 1}, 7])
            valid, label = False, label + f" model_type {doc['model_type']!r}"
        elif style == 5 and fam != "gpt2":
            doc["num_key_value_heads"] = doc["num_attention_heads"] + 1
            valid, label = False, label + " kv heads do not divide"
        elif style == 6:
            phase = pick(rng, ["train", "", None, 3])
            valid, label = False, label + f" phase {phase!r}"
        elif style == 7:
            seq_len = pick(rng, [0, -1, True, 1.5, "8", max_pos + 1])
            valid = None if seq_len == max_pos + 1 and context else False  # decode reads the context
            label += f" seq_len {seq_len!r}"
        elif style == 8 and fam == "mistral":
            doc["sliding_window"] = pick(rng, [True, -5, "4096", 0])
            valid = False if phase == "decode" else None
            label += f" sliding_window {doc['sliding_window']!r}"
        elif style == 9:
            batch = pick(rng, [0, -1, True, 2.5, "2"])
            valid, label = False, label + f" batch {batch!r}"
        else:
            doc["hidden_size" if fam != "gpt2" else "n_embd"] = 2**41 if rng.random() < 0.5 else 2**39 * 3
            valid, label = False, label + " hidden size above 2**40"
    as_file = rng.random() < 0.7
    config = doc
    if as_file:
        text = json.dumps(doc).encode()
        config = _write(tmp, "config.json", text)
        if rng.random() < 0.12:
            config, why = _hostile_file(rng, tmp, "c.json", text)
            valid, label = False, why
        elif rng.random() < 0.05:
            config = _write(tmp, "c.json", pick(rng, [b"[1, 2]", b"{nope", b"[" * 100000, b'{"a": ' + b"9" * 5000 + b"}"]))
            valid, label = False, "not a config object"
    elif rng.random() < 0.05:
        config, valid, label = pick(rng, [None, 5, b"config.json", ["a"], ""]), False, "config of another type"
    kw = {"phase": phase, "seq_len": seq_len, "batch": batch, "context": context}
    ref = None
    if valid is True:
        try:
            ref = hf_ref(doc, phase, seq_len, batch, context)
        except (TypeError, ZeroDivisionError):
            ref = None
        longest = (seq_len or min(2048, max_pos)) if phase == "prefill" else (context or seq_len or min(2048, max_pos))
        if longest > max_pos:
            valid, ref = False, None
    return Case((config,), kw, valid, f"hf {label}", {"ref": ref})


def check_hf(case, wl):
    if case.ctx["ref"] is None:
        return None
    weights, attn = case.ctx["ref"]
    got = sum(l.m * l.k * l.repeat for l in wl.layers if l.prunable)
    if got != weights:
        return f"prunable weights {got} != {weights} from the parameter count"
    qk = [l for l in wl.layers if l.name == "attn.qk"]
    if len(qk) != 1 or (qk[0].m, qk[0].n, qk[0].k, qk[0].repeat) != attn:
        return f"attn.qk {[(l.m, l.n, l.k, l.repeat) for l in qk]} != {attn}"
    return None


@entry("workloads.from_hf_config", "api", gen_hf, weight=1.0, check=check_hf)
def call_hf(case):
    from sparsesim.workloads import from_hf_config

    return from_hf_config(case.args[0], **case.kwargs)


# ------------------------------------------------------------------ names and folders
def gen_names(rng, tmp):
    spec, valid = pick(rng, [("bert-base", True), ("resnet-50", True), ("gpt2", True), ("nope", False), ("", False),
                             ("\x00", False), ("a" * 300, False), ("x/" + "y" * 300 + ".toml", False),
                             (b"bert-base", False), (5, False), (None, False), ("bert-base\n", False),
                             (tmp, False), (tmp / "none.json", False)])
    kw = {}
    if rng.random() < 0.3:
        key = pick(rng, ["batch", "seq_len", "context"])
        kw[key], ok = pick(rng, [(2, True), (0, False), (-1, False), (True, False), (1.5, False), ("2", False)])
        if not ok:
            valid = False
    return Case((spec,), kw, valid, f"name {spec!r:.40} {kw}", {})


@entry("workloads.load_workload (names)", "api", gen_names, weight=0.4)
def call_names(case):
    from sparsesim.workloads import load_workload

    return load_workload(*case.args, **case.kwargs)


# ------------------------------------------------------------------ torch modules
def gen_torch(rng, tmp):
    """A small module of Linear / Conv2d layers with the GEMMs it must give."""
    kind = pick(rng, ["linear", "conv", "mixed"])
    b = int(rng.integers(1, 5))
    valid, label = True, kind
    spec = {"kind": kind, "b": b}
    if kind == "linear":
        dims = [int(rng.integers(1, 200)) for _ in range(int(rng.integers(2, 5)))]
        tokens = int(rng.integers(1, 20))
        spec.update(dims=dims, tokens=tokens, shape=(b, tokens, dims[0]))
        ref = [(f"{2 * i}", dims[i + 1], b * tokens, dims[i], 1) for i in range(len(dims) - 1)]
    else:
        cin, cout, k, hw = int(rng.integers(1, 9)), int(rng.integers(1, 17)), int(rng.integers(1, 4)), int(rng.integers(4, 17))
        groups = pick(rng, [g for g in (1, 2, 4) if cin % g == 0 and cout % g == 0])
        out_hw = hw - k + 1
        spec.update(cin=cin, cout=cout, k=k, groups=groups, shape=(b, cin, hw, hw))
        ref = [("0", cout // groups, b * out_hw * out_hw, cin // groups * k * k, groups)]
        if kind == "mixed":
            ref.append(("3", 10, b, cout * out_hw * out_hw, 1))
    style = rng.integers(10) if rng.random() < 0.4 else -1
    kw = {}
    if style == 0:
        spec["shape"] = tuple(s + 1 for s in spec["shape"])  # the module fails on it
        valid, label = False, label + " mis-shaped input"
    elif style == 1:
        spec["shape"] = (0,) + tuple(spec["shape"][1:])
        valid, label = False, label + " empty batch"
    elif style == 2:
        spec["module"] = pick(rng, ["not a module", None, 3])
        valid, label = False, label + " not a module"
    elif style == 3:
        kw["batch"] = pick(rng, [0, -1, True, 2.5, "2"])
        valid, label = False, label + f" batch {kw['batch']!r}"
    elif style == 4:
        kw["name"] = pick(rng, ["", 5, b"x"])
        valid, label = False, label + f" name {kw['name']!r}"
    elif style == 5:
        spec["kind"] = "none"
        valid, label = False, "no Linear or Conv2d"
    elif style == 6 and kind == "linear":
        spec["dims"][0] = 0
        spec["shape"] = spec["shape"][:2] + (0,)
        valid, label = False, "Linear(0, n)"
    return Case((spec,), kw, valid, f"torch {label}", {"ref": ref if valid else None})


def build_module(spec):
    import torch
    from torch import nn

    torch.manual_seed(0)
    if spec.get("module", "") != "":
        return spec["module"], None
    if spec["kind"] == "none":
        return nn.ReLU(), torch.zeros(2, 3)
    if spec["kind"] == "linear":
        d = spec["dims"]
        mods = []
        for i in range(len(d) - 1):
            mods += [nn.Linear(d[i], d[i + 1]), nn.ReLU()]
        return nn.Sequential(*mods[:-1]), torch.zeros(spec["shape"])
    mods = [nn.Conv2d(spec["cin"], spec["cout"], spec["k"], groups=spec["groups"])]
    if spec["kind"] == "mixed":
        mods += [nn.ReLU(), nn.Flatten(), nn.LazyLinear(10)]
    return nn.Sequential(*mods), torch.zeros(spec["shape"])


def check_torch(case, wl):
    want = case.ctx["ref"]
    got = [(l.name, l.m, l.n, l.k, l.repeat) for l in wl.layers]
    return None if want is None or got == want else f"layers {got} != {want}"


@entry("workloads.from_torch", "api", gen_torch, weight=0.5, check=check_torch)
def call_torch(case):
    from sparsesim.workloads import from_torch

    module, x = build_module(case.args[0])
    return from_torch(module, x, **case.kwargs)
