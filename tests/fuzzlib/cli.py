"""Entry points of the command line: compress, decompress, traffic, simulate, ports, masks, archs."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np

from . import refs
from .api_formats import same_bits
from .core import Case, entry
from .values import matrix, pick

GEMMS = [("256x256x256", True), ("4096x4096x4096", True), ("1x1x1", True), ("64*64*64", True),
         ("٢x2x2", False), ("２５６x256x256", False), ("1_0x10x10", False), ("0x1x1", False), ("-1x1x1", False),
         ("1x1", False), ("axbxc", False), ("", False), ("99999999999999999999x1x1", None),
         ("1099511627776x4096x4096", None), (" 64x64x64", None), ("64x64x64x64", False), ("1e3x1x1", False)]


def _write_npy(rng, tmp, name="w.npy"):
    """A .npy input: valid matrices, and files that are not what they claim."""
    p = tmp / name
    style = rng.integers(14)
    if style < 6:
        dt = pick(rng, [np.float16, np.float32, np.int8, np.float64, np.int32, np.int64, np.uint64])
        w = matrix(rng, dt, (int(rng.integers(1, 9)), 4 * int(rng.integers(1, 9))))
        if rng.random() < 0.2 and w.dtype.itemsize > 1:
            w = w.astype(w.dtype.newbyteorder(">"))
        np.save(p, w)
        return p, None, w
    if style == 6:
        p.write_bytes(b"")
        return p, False, None
    if style == 7:
        p.write_bytes(b"\x93NUMPY\x01\x00garbage")
        return p, False, None
    if style == 8:
        np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        return p, False, None
    if style == 9:
        np.save(p, np.zeros(7, np.float32))
        return p, False, None
    if style == 10:
        np.save(p, np.zeros((2, 3, 4), np.float32))
        return p, False, None
    if style == 11:
        (tmp / "sub.npy").mkdir()
        return tmp / "sub.npy", False, None
    if style == 12:
        return tmp / "missing.npy", False, None
    np.save(p, np.array([[1, 2, 3, 4]], dtype=np.complex64))
    return p, False, None


def _out_path(rng, tmp, suffix):
    style = rng.integers(10)
    if style == 0:
        (tmp / "odir").mkdir(exist_ok=True)
        return tmp / "odir", False
    if style == 1:
        return "/proc/sparsesim-fuzz/out" + suffix, False
    if style == 2:
        (tmp / "afile").write_text("x")
        return tmp / "afile" / ("o" + suffix), False
    if style == 3:
        return tmp / "new" / "deeper" / ("o" + suffix), True
    return tmp / ("o" + suffix), True


def gen_compress(rng, tmp):
    src, valid, w = _write_npy(rng, tmp)
    out, ov = _out_path(rng, tmp, ".npz")
    pattern = pick(rng, ["2:4", "2:4", "4:8", "1:2", "dense", "٢:٤", "2:3", "unstructured", ""])
    enc = pick(rng, ["index", "combinatorial", "bitmask", "cutlass", "bogus"])
    argv = ["compress", src, "-o", out, "--pattern", pattern, "--encoding", enc]
    if rng.random() < 0.3:
        argv.append("--pad")
    ok = refs.pattern_ref(pattern)
    if ok is None or ok[0] != "nm" or enc == "bogus" or ov is False:
        valid = False
    return Case((argv,), {}, valid, f"compress {pattern} {enc} {str(src)[-12:]} -> {str(out)[-20:]}",
                {"w": w, "out": out})


def check_compress(case, run):
    from sparsesim.cli import main  # noqa: F401 - ensure the CLI imported

    out = case.ctx["out"]
    z = np.load(out)
    if "header" not in z or "values" not in z or "metadata" not in z:
        return "archive lacks header/values/metadata"
    # round trip through decompress must give the pruned matrix
    from .core import invoke

    back = out.parent / "back.npy"
    r = invoke(["decompress", out, "-o", back])
    if r.code != 0:
        return f"decompress of a fresh archive failed: {r.err.strip()[-120:]}"
    w = case.ctx["w"]
    w = w.astype(w.dtype.newbyteorder("="))
    argv = case.args[0]
    pat = refs.pattern_ref(argv[argv.index("--pattern") + 1])
    got = np.load(back)
    try:
        want = refs.prune_ref(w, pat[1], pat[2], "--pad" in argv)
    except ValueError:
        return None
    return None if same_bits(got, want) else "decompress(compress(W)) differs from the reference pruning"


@entry("cli compress", "cli", gen_compress, weight=0.6, check=check_compress)
def cli_compress(case):
    return case.args[0]


def _archive(rng, tmp):
    """An .npz for decompress: a fresh archive from the reference encoder, then corrupted."""
    n, m = pick(rng, [(2, 4), (4, 8), (1, 2)])
    enc = pick(rng, ["index", "combinatorial", "bitmask"])
    w = matrix(rng, np.float32, (int(rng.integers(1, 6)), m * int(rng.integers(1, 6))))
    vals, idx = refs.compress_ref(w, n, m)
    meta = refs.encode_ref(idx, n, m, enc)
    header = {"pattern": f"{n}:{m}", "encoding": enc, "k": int(w.shape[1]), "dtype": "float32"}
    arrays = {"values": vals, "metadata": meta}
    valid, label = True, "fresh"
    style = rng.integers(14)
    if style == 0:
        header["k"] = pick(rng, [-5, 0, w.shape[1] + 1, w.shape[1] + m, "12", None, 1.5, True])
        valid, label = False, f"header k={header['k']!r}"
    elif style == 1:
        arrays["values"] = vals[:, :-min(2, vals.shape[1])] if vals.shape[1] >= n else vals
        valid, label = False, "values short"
    elif style == 2:
        del arrays[pick(rng, ["values", "metadata"])]
        valid, label = False, "missing array"
    elif style == 3:
        header = pick(rng, ["not json", '{"pattern": 5}', "[1, 2]", '{"pattern": "2:4"}'])
        valid, label = False, "bad header"
    elif style == 4:
        header["pattern"] = pick(rng, ["٢:٤", "dense", "2:3", "", "16:32"])
        valid, label = False, "bad pattern"
    elif style == 5:
        header["encoding"] = pick(rng, ["bogus", "", 3])
        valid, label = False, "bad encoding"
    elif style == 6 and meta.size:
        meta = meta.copy()
        meta.flat[int(rng.integers(meta.size))] ^= np.uint8(1 << int(rng.integers(8)))
        arrays["metadata"] = meta
        valid = refs.decode_ref(meta, n, m, vals.shape[1] // n, enc) is not None
        label = "flipped metadata bit"
    elif style == 7:
        arrays["metadata"] = meta.astype(np.int16)
        valid, label = False, "metadata dtype"
    elif style == 8:
        header["dtype"] = "int8"
        valid, label = False, "header dtype disagrees"
    p = tmp / "a.npz"
    buf = io.BytesIO()
    hdr = header if isinstance(header, str) else json.dumps(header)
    np.savez(buf, header=np.array(hdr), **arrays)
    data = buf.getvalue()
    if style == 9:
        data = data[: int(rng.integers(len(data)))]
        valid, label = False, "truncated zip"
    elif style == 10:
        data = b"PK\x03\x04" + bytes(rng.integers(0, 256, 64, dtype=np.uint8))
        valid, label = False, "garbage zip"
    elif style == 11:
        zbuf = io.BytesIO()
        with zipfile.ZipFile(zbuf, "w") as zf:
            zf.writestr("values.npy", b"not an npy")
            zf.writestr("header.npy", b"x")
            zf.writestr("metadata.npy", b"y")
        data = zbuf.getvalue()
        valid, label = False, "zip of garbage members"
    elif style == 12:
        buf = io.BytesIO()
        np.savez(buf, header=np.array([json.dumps(header)], dtype=object), **arrays)
        data = buf.getvalue()
        valid, label = False, "pickled header"
    p.write_bytes(data)
    return p, valid, label, (w, n, m, enc, arrays, header)


def gen_decompress(rng, tmp):
    src, valid, label, ctx = _archive(rng, tmp)
    out, ov = _out_path(rng, tmp, ".npy")
    if ov is False:
        valid = False
    return Case((["decompress", src, "-o", out],), {}, valid, f"decompress {label} -> {str(out)[-20:]}",
                {"ref": ctx, "out": out})


def check_decompress(case, run):
    w, n, m, enc, arrays, header = case.ctx["ref"]
    got = np.load(case.ctx["out"])
    # what the archive holds: its values scattered to the positions its metadata names
    vals = arrays["values"]
    idx = refs.decode_ref(arrays["metadata"], n, m, vals.shape[1] // n, enc)
    want = refs.scatter_ref(vals, idx, n, m, header["k"])
    return None if same_bits(got, want) else f"wrote {got.shape} {got.dtype}, expected the pruned {want.shape} matrix"


@entry("cli decompress", "cli", gen_decompress, weight=0.6, check=check_decompress)
def cli_decompress(case):
    return case.args[0]


def gen_traffic(rng, tmp):
    shape, sv = pick(rng, [("4096x4096", True), ("64x128", True), ("1x1", True), ("٢x4", False), ("1_0x4", False),
                           ("0x4", False), ("-4x4", False), ("4x4x4", False), ("x", False), ("4X4", True),
                           ("99999999999999999999x1", True)])
    dts = [pick(rng, ["int8", "fp16", "bf16", "fp32", "int4", "", "float16"]) for _ in range(int(rng.integers(0, 3)))]
    pats = [pick(rng, ["dense", "2:4", "4:8", "unstructured", "unstructured:0.2", "٢:٤", "2:3", ""])
            for _ in range(int(rng.integers(0, 3)))]
    dens = pick(rng, [None, "0.5", "0", "nan", "inf", "1.5", "abc", "1e-3"])
    argv = ["traffic", "--shape", shape]
    for d in dts:
        argv += ["--dtype", d]
    for p in pats:
        argv += ["--pattern", p]
    if dens is not None:
        argv += ["--density", dens]
    if rng.random() < 0.5:
        argv.append("--json")
    valid = sv and all(d in ("int8", "fp16", "bf16", "fp32", "float16") for d in dts) \
        and all(refs.pattern_ref(p) is not None for p in pats)
    if valid and int(shape.lower().split("x")[1]) % 8:
        valid = None  # N:M patterns need K in whole groups
    if dens is not None and not (dens.replace(".", "", 1).replace("e-", "", 1).isdigit() and 0 < float(dens) <= 1):
        if not pats or any(p.startswith("unstructured") for p in pats):
            valid = False
        else:
            valid = valid and None
    return Case((argv,), {}, valid, " ".join(map(str, argv[1:]))[:80], {})


@entry("cli traffic", "cli", gen_traffic, weight=0.5)
def cli_traffic(case):
    return case.args[0]


def gen_simulate(rng, tmp):
    gemm, gv = pick(rng, GEMMS)
    arch, av = pick(rng, [("a100", True), ("h100", True), ("xeon-8280", None), ("nope", False), ("", False)])
    if rng.random() < 0.15:
        bad = tmp / "bad.toml"
        bad.write_bytes(pick(rng, [b"kind = \xff\n", b"[[[", b'base = "bad"\n', b""]))
        arch, av = bad, False
    argv = ["simulate", "--arch", arch, "--gemm", gemm]
    valid = False if av is False or gv is False else (None if av is None or gv is None else True)
    extra = []
    if rng.random() < 0.3:
        mode = pick(rng, ["statistical", "full", "exec", "bogus"])
        extra += ["--mode", mode]
        if mode == "bogus":
            valid = False
        elif mode != "statistical":
            valid = valid and None
    if rng.random() < 0.2:
        seed = pick(rng, ["0", "-1", "2**70", "abc", "18446744073709551616"])
        extra += ["--seed", seed]
        valid = False if seed in ("-1", "abc", "2**70") else (valid and None)
    if rng.random() < 0.3:
        pat = pick(rng, ["2:4", "4:8", "unstructured", "٢:٤", "dense"])
        extra += ["--pattern", pat]
        if pat == "٢:٤":
            valid = False
        if pat == "unstructured":
            d = pick(rng, ["0.3", "nan", None, "-1"])
            if d is None or d in ("nan", "-1"):
                valid = False
            if d is not None:
                extra += ["--density", d]
    if rng.random() < 0.2:
        dt = pick(rng, ["fp16", "int8", "fp32", ""])
        extra += ["--dtype", dt]
        if dt == "" or (dt == "fp32" and av is True):
            valid = False
        elif av is None:
            valid = None if valid is not False else False
    if rng.random() < 0.3:
        extra.append("--json")
    return Case((argv + extra,), {}, valid, " ".join(map(str, argv[1:] + extra))[:90], {})


@entry("cli simulate", "cli", gen_simulate, weight=0.6)
def cli_simulate(case):
    return case.args[0]


def gen_ports(rng, tmp):
    arch = pick(rng, ["xeon-8280", "zen4-genoa", "a100", "nope"])
    kernel = pick(rng, ["vnni", "fp32", "vnni-2to4", "avx512-int8", "bogus"])
    argv = ["ports", "--arch", arch, "--kernel", kernel]
    valid = None if arch in ("xeon-8280", "zen4-genoa") and kernel != "bogus" else False
    if rng.random() < 0.4:
        it = pick(rng, ["96", "8", "7", "0", "-1", "10000000", "abc", "1e3", "٩٦"])
        argv += ["--iterations", it]
        if it in ("7", "0", "-1", "abc", "1e3", "10000000", "٩٦"):
            valid = False
    if rng.random() < 0.2:
        argv += [pick(rng, ["--mr", "--nr"]), pick(rng, ["1", "4", "0", "-3", "99", "x"])]
        valid = valid and None
    if rng.random() < 0.2:
        g, gv = pick(rng, GEMMS[:7])
        argv += ["--gemm", g]
        valid = valid if gv else False
    if rng.random() < 0.15:
        argv += ["--crossover", pick(rng, ["64x64", "1x1", "0x4", "٢x4", "64"])]
        valid = valid and None
    if rng.random() < 0.15:
        argv += ["--ghz", pick(rng, ["2.0", "0", "-1", "nan", "inf", "1e300"])]
        valid = valid and None
    if rng.random() < 0.15:
        argv += ["--cores", pick(rng, ["1", "0", "-1", "1000"])]
        valid = valid and None
    if rng.random() < 0.1:
        argv.append("--emit-asm")
    if rng.random() < 0.3:
        argv.append("--json")
    return Case((argv,), {}, valid, " ".join(argv[1:])[:90], {})


@entry("cli ports", "cli", gen_ports, weight=0.4)
def cli_ports(case):
    return case.args[0]


def _safetensors(rng, tmp):
    p = tmp / "m.safetensors"
    style = rng.integers(8)
    if style < 4:
        from safetensors.numpy import save_file

        r, c = pick(rng, [(16, 32), (8, 16), (16, 16), (7, 16), (16, 12)])
        w = rng.standard_normal((r, c)).astype(pick(rng, [np.float32, np.float16]))
        if style == 3:
            w[0, 0] = np.nan
        save_file({"layer.0.dense.weight": w}, str(p))
        return p, None if style < 3 and r % 8 == 0 and c % 16 == 0 else False
    if style == 4:
        p.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    elif style == 5:
        p.write_bytes(b"")
    elif style == 6:
        p.write_bytes(b"\xff" * 64)
    else:
        return tmp / "missing.safetensors", False
    return p, False


def gen_masks(rng, tmp):
    src, valid = _safetensors(rng, tmp)
    out, ov = _out_path(rng, tmp, "")
    if str(out).endswith("odir"):
        ov = True  # --out names a directory
    argv = ["masks", "--weights", src, "--out", out, "--max-sweeps", pick(rng, ["1", "0", "-2", "x"])]
    if argv[-1] != "1":
        valid = False
    if ov is False:
        valid = False
    if rng.random() < 0.3:
        argv += ["--layers", pick(rng, ["1", "0", "-1"])]
        if argv[-1] != "1":
            valid = False
    return Case((argv,), {}, valid, " ".join(map(str, argv[1:]))[-90:], {})


@entry("cli masks", "cli", gen_masks, weight=0.3)
def cli_masks(case):
    return case.args[0]


def gen_misc(rng, tmp):
    argv, valid = pick(rng, [(["archs"], True), (["archs", "--json"], True), ([], False), (["bogus"], False),
                             (["--version"], True), (["simulate"], False), (["compress"], False),
                             (["traffic", "--shape"], False)])
    return Case((argv,), {}, valid, " ".join(argv) or "(no arguments)", {})


@entry("cli archs/top level", "cli", gen_misc, weight=0.1)
def cli_misc(case):
    return case.args[0]
