"""Entry points of the command line that read users' files: compress/decompress of .safetensors,
simulate --weights/--activations, accuracy, exec-report, archs --arch-path, workloads.

Each generator writes the files a user might hand over (valid ones, and files that are
not what they claim: non-UTF-8, truncated, binary junk, a directory, a missing file, wrong
shapes or keys) and says whether the command must succeed.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np

from . import refs
from .api_workloads import DTYPES, gen_csv, gen_hf, gen_toml
from .cli import _out_path
from .core import Case, entry
from .values import pick

DATA = Path(__file__).resolve().parent / "data"


# ------------------------------------------------------------------ .safetensors files
def raw_safetensors(header: dict, data: bytes) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def write_weights(rng, tmp, name="w.safetensors", tensors=None):
    """A .safetensors file and whether it is a readable weights file (None: readable, but
    its tensors may not suit the command)."""
    from safetensors.numpy import save_file

    p = tmp / name
    style = rng.integers(16) if tensors is None else 0
    if style < 8:
        if tensors is None:
            r, c = pick(rng, [(16, 32), (8, 16), (32, 64), (7, 16), (16, 12), (8, 8)])
            dt = pick(rng, [np.float32, np.float16, np.float64, np.int8, np.int32])
            w = (rng.standard_normal((r, c)) * 4).astype(dt)
            tensors = {"layer.0.dense.weight": w, "layer.0.dense.bias": np.zeros(r, dt)}
            if rng.random() < 0.3:
                tensors["embeddings.weight"] = rng.standard_normal((10, c)).astype(np.float32)
            special = rng.integers(8)
            if special == 0 and w.dtype.kind == "f":
                w[0, 0] = pick(rng, [np.nan, np.inf])
            elif special == 1:
                w[:] = 0
            elif special == 2 and w.dtype == np.float32:
                w[0, 0] = np.float32(3e38)
            elif special == 3:
                tensors["layer.1.weight"] = np.zeros((0, c), np.float32)
            elif special == 4:
                tensors["layer.2.weight"] = np.ones((2, 3, 4), np.float32)
        save_file(tensors, str(p))
        return p, None, tensors
    if style == 8:
        p.write_bytes(b"")
    elif style == 9:
        p.write_bytes(b"\xff" * 64)
    elif style == 10:
        p.write_bytes(raw_safetensors({"x.weight": {"dtype": "F32", "shape": [8, 16], "data_offsets": [0, 10]}},
                                      b"\0" * 10))
    elif style == 11:
        p.write_bytes(struct.pack("<Q", 2**60) + b"{}")
    elif style == 12:
        h = b'{"x.weight": {"dtype": "F32", "shape": [8, 16], "data_offsets": [0, 512]}, "\xff": 1}'
        p.write_bytes(struct.pack("<Q", len(h)) + h + b"\0" * 512)
    elif style == 13:
        p.write_bytes(raw_safetensors({"x.weight": {"dtype": "BF16", "shape": [8, 16], "data_offsets": [0, 256]}},
                                      b"\0" * 256))
    elif style == 14:
        p.mkdir()
    else:
        return tmp / "missing.safetensors", False, None
    return p, False, None


# ------------------------------------------------------------------ compress a model
def gen_compress_model(rng, tmp):
    src, valid, tensors = write_weights(rng, tmp)
    out, ov = _out_path(rng, tmp, pick(rng, [".safetensors", ".safetensors", ".npz"]))
    pattern = pick(rng, ["2:4", "2:4", "4:8", "1:2", "dense", "2:3"])
    enc = pick(rng, ["index", "combinatorial", "bitmask", "cutlass"])
    argv = ["compress", src, "-o", out, "--pattern", pattern, "--encoding", enc, "-q"]
    if rng.random() < 0.3:
        argv.append("--pad")
    if refs.pattern_ref(pattern) is None or refs.pattern_ref(pattern)[0] != "nm" or ov is False \
            or not str(out).endswith(".safetensors"):
        valid = False
    return Case((argv,), {}, valid, f"compress model {pattern} {enc} -> {str(out)[-24:]}",
                {"tensors": tensors, "out": out, "pattern": pattern, "pad": "--pad" in argv})


def check_compress_model(case, run):
    from safetensors.numpy import load_file

    got = load_file(str(case.ctx["out"]))
    _, n, m = refs.pattern_ref(case.ctx["pattern"])
    masks = {k[: -len(".mask")]: v for k, v in got.items() if k.endswith(".mask")}
    if not masks:
        return "no .mask tensor written"
    for name, mask in masks.items():
        w = case.ctx["tensors"][name]
        try:
            want = refs.prune_ref(w, n, m, case.ctx["pad"]) != 0
        except ValueError:
            return f"{name} was compressed though K does not fit {n}:{m}"
        if not np.array_equal(mask.astype(bool), want):
            return f"{name}: keep-mask differs from the reference pruning"
    return None


@entry("cli compress (safetensors)", "cli", gen_compress_model, weight=0.4, check=check_compress_model)
def cli_compress_model(case):
    return case.args[0]


# ------------------------------------------------------------------ simulate --weights
def _activations(rng, tmp, k):
    p = tmp / "x.npy"
    style = rng.integers(10)
    n = int(rng.integers(1, 40))
    if style < 5:
        dt = pick(rng, [np.float32, np.float16, np.float64, np.int8])
        x = (rng.standard_normal((k, n)) * 3).astype(dt)
        np.save(p, x)
        return p, True, n
    if style == 5:
        np.save(p, rng.standard_normal((n, k + 1)).astype(np.float32))
    elif style == 6:
        x = rng.standard_normal((k, n)).astype(np.float32)
        x[0, 0] = np.nan
        np.save(p, x)
    elif style == 7:
        p.write_bytes(b"\x93NUMPY\x01\x00junk")
    elif style == 8:
        np.save(p, np.zeros((k, n), np.complex64))
    else:
        return tmp / "nothere.npy", False, n
    return p, False, n


def gen_simulate_weights(rng, tmp):
    src, valid, tensors = write_weights(rng, tmp)
    layer = pick(rng, ["layer.0.dense", "layer.0.dense.weight", "layer.0.dense"] if rng.random() < 0.6 else
                 ["layer.0.dense.bias", "nope", "layer.2.weight", "layer.1.weight", "embeddings"])
    dtype = pick(rng, ["fp16", "int8", "bf16"] if rng.random() < 0.8 else ["fp32", "fp8", ""])
    pattern = pick(rng, ["dense", "2:4", "4:8", "unstructured", "2:3"])
    argv = ["simulate", "--arch", pick(rng, ["a100", "a100", "xeon-8280"]), "--weights", src, "--layer", layer,
            "--dtype", dtype, "--pattern", pattern, "--json"]
    if pattern == "unstructured":
        argv += ["--density", pick(rng, ["0.3", "0.05", "0", "1.5"])]
    w = None
    if tensors is not None:
        key = layer if layer in tensors else layer + ".weight"
        w = tensors.get(key)
    ok = valid is not False and w is not None and w.ndim == 2 and w.size > 0 and dtype in ("fp16", "int8", "bf16") \
        and refs.pattern_ref(pattern) is not None
    if w is not None and w.ndim == 2:
        if rng.random() < 0.5:
            act, av, n = _activations(rng, tmp, w.shape[1])
            argv += ["--activations", act]
            ok = ok and av
        if rng.random() < 0.3:
            argv += ["--tokens", pick(rng, ["16", "0", "-3", "x"])]
    if rng.random() < 0.3:
        out, outv = _out_path(rng, tmp, ".npy")
        argv += ["--save-output", out]
        ok = ok and outv
    if rng.random() < 0.1:
        argv += ["--mode", pick(rng, ["full", "exec", "statistical"])]
    return Case((argv,), {}, None if ok else False, " ".join(str(a) for a in argv[3:])[-100:], {})


@entry("cli simulate --weights", "cli", gen_simulate_weights, weight=0.5)
def cli_simulate_weights(case):
    return case.args[0]


# ------------------------------------------------------------------ accuracy and exec-report on a model
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "##s", "sat", ".", "on", "mat", "a", "dog", "ran", ","]


def tiny_encoder(rng, hidden=24, inter=48, layers=1):
    f = np.float32
    t = {"embeddings.word_embeddings.weight": rng.normal(size=(len(VOCAB), hidden)).astype(f),
         "embeddings.position_embeddings.weight": (rng.normal(size=(64, hidden)) * 0.1).astype(f),
         "embeddings.token_type_embeddings.weight": (rng.normal(size=(2, hidden)) * 0.1).astype(f),
         "embeddings.LayerNorm.weight": np.ones(hidden, f), "embeddings.LayerNorm.bias": np.zeros(hidden, f)}
    for layer in range(layers):
        p = f"encoder.layer.{layer}."
        for name, (o, i) in {"attention.self.query": (hidden, hidden), "attention.self.key": (hidden, hidden),
                             "attention.self.value": (hidden, hidden), "attention.output.dense": (hidden, hidden),
                             "intermediate.dense": (inter, hidden), "output.dense": (hidden, inter)}.items():
            t[p + name + ".weight"] = (rng.normal(size=(o, i)) / np.sqrt(i)).astype(f)
            t[p + name + ".bias"] = (rng.normal(size=o) * 0.1).astype(f)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + ln + ".weight"] = np.ones(hidden, f)
            t[p + ln + ".bias"] = np.zeros(hidden, f)
    return t


def write_model(rng, tmp):
    """A model folder (model.safetensors + vocab.txt): a tiny valid encoder or one broken way."""
    from safetensors.numpy import save_file

    d = tmp / "model"
    d.mkdir()
    t = tiny_encoder(rng)
    vocab = "\n".join(VOCAB).encode() + b"\n"
    style = rng.integers(12)
    label = "tiny encoder"
    if style == 1:
        del t[pick(rng, sorted(t))]
        label = "a tensor missing"
    elif style == 2:
        key = pick(rng, sorted(k for k in t if k.endswith(".weight")))
        t[key] = t[key][:, :-1] if t[key].ndim == 2 else t[key][:-1]
        label = f"{key} mis-shaped"
    elif style == 3:
        t["encoder.layer.0.intermediate.dense.weight"][0, 0] = np.nan
        label = "NaN weight"
    elif style == 4:
        vocab = b"[PAD]\n\xff\xfe\n[CLS]\n"
        label = "vocab not UTF-8"
    elif style == 5:
        vocab = b"a\nb\n"
        label = "vocab without [CLS]"
    elif style == 6:
        t["encoder.layer.x.junk.weight"] = np.zeros((2, 2), np.float32)
        label = "a non-numeric layer name"  # ignored: still a valid encoder
    elif style == 7:
        t = {k.replace("encoder.layer.0.", "encoder.layer.3."): v for k, v in t.items()}
        label = "layers do not start at 0"
    elif style == 8:
        t["embeddings.word_embeddings.weight"] = t["embeddings.word_embeddings.weight"].astype(np.int32)
        label = "integer embeddings"
    elif style == 9:
        (d / "vocab.txt").mkdir()
        vocab = None
        label = "vocab.txt is a folder"
    elif style == 10:
        t["embeddings.position_embeddings.weight"] = t["embeddings.position_embeddings.weight"][:4]
        label = "4 positions"
    save_file(t, str(d / "model.safetensors"))
    if vocab is not None:
        (d / "vocab.txt").write_bytes(vocab)
    valid = style in (0, 6, 11)
    if style == 11:
        (d / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
        valid, label = False, "corrupt safetensors"
    return d, valid, label


def gen_accuracy(rng, tmp):
    model, valid, label = write_model(rng, tmp)
    out, ov = _out_path(rng, tmp, "")
    if str(out).endswith("odir"):
        ov = True
    argv = ["accuracy", "--model", model, "--out", out]
    if rng.random() < 0.1:
        argv[2] = pick(rng, [tmp / "nomodel", tmp])
        valid, label = False, "no model there"
    if valid and ov and rng.random() < 0.7:  # a valid run measures for seconds: keep a few
        argv[2], valid, label = tmp / "nomodel", False, "no model there"
    return Case((argv,), {}, valid and ov, f"accuracy {label} -> {str(out)[-20:]}", {})


@entry("cli accuracy", "cli", gen_accuracy, weight=0.15)
def cli_accuracy(case):
    return case.args[0]


def _report_folder(rng, tmp):
    """A copy of a small exec report, intact or with one file broken."""
    d = tmp / "er"
    shutil.copytree(DATA / "exec_report", d)
    style = rng.integers(14)
    if style < 3:
        return d, True, "intact"
    name = pick(rng, ["results.csv", "occupancy.csv", "timing.csv", "meta.json"])
    p = d / name
    text = p.read_bytes()
    lines = text.split(b"\n")
    if style == 3:
        p.unlink()
        return d, False, f"no {name}"
    if style == 4:
        p.write_bytes(text[:10] + b"\xff" + text[10:])
        return d, False, f"{name} not UTF-8"
    if style == 5:
        p.write_bytes(b"")
        return d, None if name == "timing.csv" else False, f"{name} empty"  # no timing rows is a report
    if name == "meta.json":
        p.write_bytes(pick(rng, [b"[1, 2]", b"{bad", b'{"tokens": "many"}', b"null"]))
        return d, False, "meta.json not the notes"
    if style == 6 and len(lines) > 2:
        cells = lines[1].split(b",")
        j = int(rng.integers(len(cells)))
        cells[j] = pick(rng, [b"abc", b"nan", b"inf", b"-1", b"0", b""])
        lines[1] = b",".join(cells)
        p.write_bytes(b"\n".join(lines))
        return d, None, f"{name} cell {j} changed"
    if style == 7 and len(lines) > 2:
        lines[1] += b",extra"
        p.write_bytes(b"\n".join(lines))
        return d, False, f"{name} extra field"
    if style == 8:
        hdr = lines[0].split(b",")
        hdr[int(rng.integers(len(hdr)))] = b"renamed"
        lines[0] = b",".join(hdr)
        p.write_bytes(b"\n".join(lines))
        return d, None, f"{name} a column renamed"
    if style == 9:
        p.write_bytes(lines[0] + b"\n")
        return d, name == "timing.csv", f"{name} only its header"
    if style == 10:
        p.write_bytes(text + b'"unterminated\n')
        return d, False, f"{name} unterminated quote"
    if style == 11:
        p.unlink()
        p.mkdir()
        return d, False, f"{name} is a folder"
    return d, True, "intact"


def gen_exec_report(rng, tmp):
    if rng.random() < 0.7:
        d, valid, label = _report_folder(rng, tmp)
        return Case((["exec-report", "--out", d, "--render-only"],), {}, valid, f"render-only {label}", {})
    # a new study: refused before any work (a valid one takes minutes)
    model, mv, label = write_model(rng, tmp)
    out, ov = _out_path(rng, tmp, "")
    argv = ["exec-report", "--out", out, "--weights", model / "model.safetensors", "-q"]
    bad = []
    if rng.random() < 0.4:
        argv += ["--layers", pick(rng, ["x", "-1", "٣", ",,", "5", "1_0", "9" * 20])]
        bad.append("layers")
    if rng.random() < 0.3:
        argv += ["--reps", pick(rng, ["0", "-1", "100000", "x", "٣"])]
        bad.append("reps")
    if not bad:
        argv[4] = model / "other.safetensors"
        bad.append("weights file missing")
    return Case((argv,), {}, False, f"exec-report {label} {bad} -> {str(out)[-20:]}", {})


@entry("cli exec-report", "cli", gen_exec_report, weight=0.2)
def cli_exec_report(case):
    return case.args[0]


# ------------------------------------------------------------------ archs with user folders
def gen_archs(rng, tmp):
    d = tmp / "archs"
    d.mkdir()
    base = (Path(__file__).resolve().parents[2] / "arch_configs" / "a100.toml").read_bytes()
    good = [base.replace(b'name = "a100"', b'name = "mine"'), b'base = "a100"\nname = "d"\ndescription = "x"\n']
    valid = True
    for i in range(int(rng.integers(0, 3))):
        body = pick(rng, good + [b"kind = \xff\n", b"[[[", b'base = "nowhere"\n', b""])
        valid = valid and body in good
        (d / f"mine{i}.toml").write_bytes(body)
    if rng.random() < 0.2:
        (d / "dir.toml").mkdir()
        valid = False
    where = pick(rng, [d, d, d, tmp / "none", d / "mine0.toml"])
    if where != d:
        valid = False  # --arch-path names a folder that is not there
    argv = ["archs", "--arch-path", where]
    if rng.random() < 0.5:
        argv.append("--json")
    return Case((argv,), {}, valid, " ".join(map(str, argv))[-60:], {})


@entry("cli archs --arch-path", "cli", gen_archs, weight=0.1)
def cli_archs(case):
    return case.args[0]


# ------------------------------------------------------------------ workloads
def gen_workloads_cli(rng, tmp):
    style = rng.integers(5)
    if style == 0:  # the listing, with user folders holding good and broken files
        d = tmp / "wl"
        d.mkdir()
        (d / "good.csv").write_text("m,n,k\n64,64,64\n")
        broken = rng.random() < 0.5
        if broken:
            (d / "bad.toml").write_bytes(pick(rng, [b"name = \xff\n", b"[[[", b"layers = 3\n"]))
        argv = ["workloads", "--workload-path", d]
        return Case((argv,), {}, not broken, f"workloads list, broken file {broken}", {})
    gen = [gen_toml, gen_csv, gen_hf, gen_hf, gen_csv][style]
    case = gen(rng, tmp)
    spec = case.args[0]
    valid = case.valid
    if not isinstance(spec, (str, Path)):
        spec, valid = "nope", False
    argv = ["workloads", spec]
    for flag, key in (("--batch", "batch"), ("--seq-len", "seq_len"), ("--context", "context"),
                      ("--phase", "phase")):
        v = case.kwargs.get(key)
        if v is None:
            if key in case.kwargs and valid is False:
                valid = None  # the API refuses None; the command line leaves the option out
            continue
        if isinstance(v, bool) or (key == "phase" and not isinstance(v, str)) or (key != "phase" and not isinstance(v, int)):
            v = pick(rng, ["x", "1.5", "٣"]) if key != "phase" else "train"
        argv += [flag, str(v)]
    if rng.random() < 0.1:
        argv += ["--batch", pick(rng, ["0", "-2", "٣", "x"])]
        valid = False
    return Case((argv,), {}, False if valid is False else None, f"workloads {case.kind}", {})


@entry("cli workloads", "cli", gen_workloads_cli, weight=0.3)
def cli_workloads(case):
    return case.args[0]


_ = DTYPES  # the element types a GEMM list may name (shared with the API entries)
