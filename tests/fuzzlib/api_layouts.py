"""Entry points of the CUTLASS layout, the unstructured formats and traffic_bytes."""

from __future__ import annotations

import numpy as np

from . import refs
from .api_formats import DENSITY_VALUES, _norm, same_bits, same_values
from .core import Case, entry
from .values import FLOAT_DTYPES, INT_DTYPES, PATTERN_SPECS, finite_number, is_int, layout, matrix, odd_matrix, pick

# --------------------------------------------------------------------------- CUTLASS
CUT = {np.dtype(np.int8): (16, 64), np.dtype(np.float16): (32, 32), np.dtype(np.float32): (32, 16)}


def _torch_conv():
    import torch  # noqa: F401 - the oracle
    from torch.sparse import _semi_structured_conversions as conv

    return conv


def _sparse_for_cutlass(rng, dt, shape):
    w = matrix(rng, dt, shape)
    epg = 2 if np.dtype(dt) == np.float32 else 4
    keep = 1 if epg == 2 else 2
    g = w.reshape(shape[0], -1, epg)
    for r in range(g.shape[0]):
        for j in range(g.shape[1]):
            drop = rng.choice(epg, epg - int(rng.integers(0, keep + 1)), replace=False)
            g[r, j, drop] = 0
    return g.reshape(shape)


def gen_to_cutlass(rng, tmp):
    dt = pick(rng, [np.int8, np.float16, np.float32])
    rmul, kmul = CUT[np.dtype(dt)]
    shape = (rmul * int(rng.integers(1, 3)), kmul * int(rng.integers(1, 3)))
    kind, valid = f"{np.dtype(dt).name} {shape}", True
    style = rng.integers(10)
    if style == 0:
        shape = (shape[0] + pick(rng, [-1, 1, 8]), shape[1])
        kind, valid = kind + " rows", False
    elif style == 1:
        shape = (shape[0], shape[1] + pick(rng, [-kmul // 2, 4, kmul // 2]))
        kind, valid = kind + " cols", False
    w = _sparse_for_cutlass(rng, dt, shape) if min(shape) > 0 and shape[1] % (2 if dt == np.float32 else 4) == 0 \
        else matrix(rng, dt, shape)
    if style == 2:
        w = matrix(rng, dt, shape)  # not pruned
        kind += " dense"
        epg, keep = (2, 1) if dt == np.float32 else (4, 2)
        valid = False if (w.reshape(shape[0], -1, epg) != 0).sum(axis=2).max() > keep else valid
    elif style == 3:
        w, lab = layout(rng, w)
        kind += " " + lab
        valid = None if lab == "big-endian" else valid
    elif style == 4:
        w = w.astype(pick(rng, [np.uint8, np.int16, np.float64, np.int32]))
        kind, valid = kind + " dtype", False
    elif style == 5:
        w, lab = odd_matrix(rng, shape)
        kind, valid = kind + " " + lab, False
    elif style == 6 and w.dtype.kind == "f" and w.size:
        w = w.copy()
        w.flat[int(rng.integers(w.size))] = pick(rng, [np.nan, np.inf])
        valid = False
    return Case((w,), {}, valid, kind, {})


def check_to_cutlass(case, out):
    w = _norm(case.args[0])
    v, meta = out
    back = None
    from sparsesim.formats import from_cutlass

    back = from_cutlass(v, meta)
    if not same_values(back, w) or not same_bits(back[w != 0], w[w != 0]):
        return "from_cutlass(to_cutlass(w)) != w"
    import torch

    conv = _torch_conv()
    tv, tm = conv.sparse_semi_structured_from_dense_cutlass(torch.from_numpy(np.ascontiguousarray(w)))
    if not (same_bits(v, tv.numpy()) and same_bits(meta, tm.numpy())):
        return "differs from torch's CUTLASS conversion"
    return None


@entry("formats.to_cutlass", "api", gen_to_cutlass, weight=3, check=check_to_cutlass)
def call_to_cutlass(case):
    from sparsesim.formats import to_cutlass

    return to_cutlass(*case.args)


def _nibbles_valid(meta, fp32):
    words = np.ascontiguousarray(meta).view(np.uint16 if meta.dtype == np.int16 else np.uint32).astype(np.uint64)
    per = 4 if meta.dtype == np.int16 else 8
    for j in range(per):
        nib = (words >> np.uint64(4 * j)) & np.uint64(0xF)
        lo, hi = nib & np.uint64(3), nib >> np.uint64(2)
        if fp32:
            ok = ((lo == 0) & (hi == 1)) | ((lo == 2) & (hi == 3))
        else:
            ok = lo < hi
        if not ok.all():
            return False
    return True


def gen_from_cutlass(rng, tmp):
    import torch

    conv = _torch_conv()
    dt = pick(rng, [np.int8, np.float16, np.float32])
    rmul, kmul = CUT[np.dtype(dt)]
    shape = (rmul * int(rng.integers(1, 3)), kmul * int(rng.integers(1, 3)))
    w = _sparse_for_cutlass(rng, dt, shape)
    tv, tm = conv.sparse_semi_structured_from_dense_cutlass(torch.from_numpy(w))
    v, meta = tv.numpy().copy(), tm.numpy().copy()
    kind, valid = np.dtype(dt).name, True
    style = rng.integers(8)
    if style == 0:
        meta.view(np.uint8)[...] = rng.integers(0, 256, size=meta.view(np.uint8).shape)
        kind += " random meta"
        valid = _nibbles_valid(meta, dt == np.float32)
    elif style == 1:
        meta.view(np.uint8).flat[int(rng.integers(meta.nbytes))] ^= np.uint8(1 << int(rng.integers(8)))
        kind += " flipped bit"
        valid = _nibbles_valid(meta, dt == np.float32)
    elif style == 2:
        meta = meta[:, :-1] if meta.shape[1] > 1 else meta[:-1]
        kind, valid = kind + " short meta", False
    elif style == 3:
        meta = meta.astype(np.int64)
        kind, valid = kind + " meta dtype", False
    elif style == 4:
        v = v[:, :-2]
        kind, valid = kind + " short values", False
    elif style == 5:
        v, lab = odd_matrix(rng, v.shape)
        kind, valid = kind + " " + lab, False
    return Case((v, meta), {}, valid, kind, {"w": w})


def check_from_cutlass(case, out):
    import torch

    v, meta = case.args
    if v.dtype == np.float32:
        want = case.ctx["w"]
        return None if same_values(out, want) else "differs from the matrix the layout was built from"
    conv = _torch_conv()
    want = conv.sparse_semi_structured_to_dense_cutlass(torch.from_numpy(v), torch.from_numpy(meta)).numpy()
    return None if same_bits(out, want) else "differs from torch's inverse conversion"


@entry("formats.from_cutlass", "api", gen_from_cutlass, weight=3, check=check_from_cutlass)
def call_from_cutlass(case):
    from sparsesim.formats import from_cutlass

    return from_cutlass(*case.args)


# --------------------------------------------------------------------------- CSR / CSB / bitmask
def gen_dense(rng, tmp, finite_share=0.9):
    rows, cols = int(rng.integers(0, 20)), int(rng.integers(0, 20))
    if rng.random() < 0.07:
        w, lab = odd_matrix(rng, (rows, cols))
        return w, lab, None if lab == "longdouble" else False
    dt = pick(rng, INT_DTYPES + FLOAT_DTYPES)
    finite = rng.random() < finite_share
    w = matrix(rng, dt, (rows, cols), finite=finite)
    if rng.random() < 0.5 and w.size:
        w[rng.random(w.shape) < rng.random()] = 0
    w, lab = layout(rng, w)
    ok = True
    if w.dtype.kind == "f" and not np.isfinite(w).all():
        ok = False
    if lab == "big-endian" and ok:
        ok = None
    return w, f"{np.dtype(dt).name} {rows}x{cols} {lab}", ok


BLOCKS = [(64, True), (2, True), (4, True), (8, True), (16, True), (1024, True), (-64, False), (3, False),
          (48, False), (0, False), (1, False), (True, False), (64.0, False), ("64", False), (None, False),
          (np.int64(8), True), (2**70, None)]


def gen_unstructured(rng, tmp):
    w, lab, ok = gen_dense(rng, tmp)
    block, b_ok = pick(rng, BLOCKS) if rng.random() < 0.3 else (pick(rng, [2, 4, 8, 64]), True)
    fmt = pick(rng, ["csr", "csb", "bitmask"])
    valid = ok if fmt != "csb" else (ok if b_ok else False) if ok is not False else False
    if fmt == "csb" and b_ok is None and ok is not False:
        valid = None
    return Case((w,), {"block": block}, valid, f"{fmt} {lab} block={block!r}", {"fmt": fmt})


def check_unstructured(case, enc):
    w = _norm(case.args[0])
    fmt = case.ctx["fmt"]
    item = w.dtype.itemsize
    nnz = int((w != 0).sum())
    if fmt == "csr":
        v, ci, rp = refs.csr_ref(w)
        if not (same_bits(enc.values, v) and np.array_equal(enc.col_idx, ci) and np.array_equal(enc.row_ptr, rp)):
            return "CSR arrays differ from scipy's"
        want = refs.csr_nbytes_ref(w.shape[0], w.shape[1], nnz, item)
    elif fmt == "csb":
        b = int(case.kwargs["block"])
        v, ri, ci, bp = refs.csb_ref(w, b)
        if not (same_bits(enc.values, v) and np.array_equal(enc.row_idx, ri) and np.array_equal(enc.col_idx, ci)
                and np.array_equal(enc.block_ptr, bp)):
            return "CSB arrays differ from the reference"
        want = refs.csb_nbytes_ref(w.shape[0], w.shape[1], nnz, item, b)
    else:
        v, mask = refs.bitmask_ref(w)
        if not (same_bits(enc.values, v) and same_bits(enc.mask, mask)):
            return "bitmask arrays differ from the reference"
        want = refs.bitmask_nbytes_ref(w.shape[0], w.shape[1], nnz, item)
    nb = enc.nbytes()
    if (nb["values"], nb["metadata"]) != want or nb["total"] != sum(want):
        return f"nbytes {nb} differ from the closed form {want}"
    if not same_values(enc.decode(), w):
        return "decode(encode(w)) != w"
    return None


@entry("formats.csr/csb/bitmask_encode", "api", gen_unstructured, weight=4, check=check_unstructured)
def call_unstructured(case):
    from sparsesim.formats import bitmask_encode, csb_encode, csr_encode

    fmt = case.ctx["fmt"]
    if fmt == "csr":
        return csr_encode(*case.args)
    if fmt == "csb":
        return csb_encode(*case.args, block=case.kwargs["block"])
    return bitmask_encode(*case.args)


def gen_unstructured_decode(rng, tmp):
    """Encoded arrays (from the references), then one of them corrupted."""
    from sparsesim.formats import CSB, CSR, Bitmask

    rows, cols = int(rng.integers(0, 12)), int(rng.integers(0, 12))
    w = rng.integers(-3, 4, size=(rows, cols)).astype(np.float32)
    fmt = pick(rng, ["csr", "csb", "bitmask"])
    block = pick(rng, [2, 4, 8])
    if fmt == "csr":
        parts = dict(zip(("values", "col_idx", "row_ptr"), refs.csr_ref(w)))
    elif fmt == "csb":
        parts = dict(zip(("values", "row_idx", "col_idx", "block_ptr"), refs.csb_ref(w, block)))
    else:
        parts = dict(zip(("values", "mask"), refs.bitmask_ref(w)))
    shape = (rows, cols)
    kind, valid = fmt, True
    style = rng.integers(10)
    names = list(parts)
    if style < 4:
        name = pick(rng, names)
        a = parts[name].copy()
        if a.size:
            v = pick(rng, [-1, 0, 1, 7, 100, 2**40]) if a.dtype.kind in "iu" else 5.0
            a.flat[int(rng.integers(a.size))] = np.array(v).astype(a.dtype)
        parts[name] = a
        kind += f" corrupt {name}"
        valid = None
    elif style == 4:
        name = pick(rng, names)
        parts[name] = parts[name][:-1] if parts[name].size else np.zeros(1, parts[name].dtype)
        kind, valid = kind + f" short {name}", None
    elif style == 5:
        name = pick(rng, names)
        parts[name] = parts[name].tolist()
        kind, valid = kind + f" list {name}", None
    elif style == 6:
        shape = pick(rng, [(-1, cols), (rows,), (rows, cols, 1), (rows + 1, cols), (rows, cols + 1), None,
                           (float(rows), cols), (True, cols), (2**63, 2**63)])
        kind, valid = kind + f" shape {shape!r}", None
    elif style == 7 and fmt == "csb":
        block = pick(rng, [-2, 3, 0, 1, True, 2.0])
        kind, valid = kind + f" block {block!r}", False
    if fmt == "csr":
        obj = CSR(shape, **parts)
    elif fmt == "csb":
        obj = CSB(shape, block, **parts)
    else:
        obj = Bitmask(shape, **parts)
    return Case((obj,), {}, valid, kind, {"w": w, "clean": style >= 8})


def check_unstructured_decode(case, out):
    obj = case.args[0]
    if case.ctx["clean"]:
        return None if same_values(out, case.ctx["w"]) else "decode of a valid encoding differs from the matrix"
    # a corrupted encoding that decodes must be self-consistent: encoding the result gives it back
    from sparsesim.formats import bitmask_encode, csb_encode, csr_encode

    if not isinstance(out, np.ndarray) or out.shape != tuple(obj.shape):
        return f"decoded shape {getattr(out, 'shape', None)} differs from {obj.shape}"
    if isinstance(obj.values, np.ndarray) and out.dtype != obj.values.dtype:
        return "decoded dtype differs from the values' dtype"
    re = {"CSR": csr_encode, "CSB": lambda x: csb_encode(x, obj.block), "Bitmask": bitmask_encode}[type(obj).__name__](out)
    if type(obj).__name__ == "Bitmask":
        return None if np.array_equal(re.mask, np.asarray(obj.mask)) and np.array_equal(re.values, obj.values) \
            else "accepted an encoding that is not the encoding of its decoded matrix"
    # CSR/CSB may list zeros explicitly: compare the non-zero entries only
    if int((np.asarray(obj.values) != 0).sum()) != int((out != 0).sum()):
        return "decoded matrix lost or invented non-zeros"
    return None


@entry("formats.CSR/CSB/Bitmask.decode", "api", gen_unstructured_decode, weight=3, check=check_unstructured_decode)
def call_unstructured_decode(case):
    return case.args[0].decode()


# --------------------------------------------------------------------------- traffic
DTYPE_ARGS = [("int8", 1), ("fp16", 2), ("bf16", 2), ("fp8", 1), ("fp32", 4), ("int32", 4), ("uint8", 1),
              ("float16", 2), ("FP16", 2), (np.dtype(np.float16), 2), (np.int8, 1), (np.dtype(np.float64), 8),
              (None, None), (object, None), (np.complex64, None), (np.bool_, None), ("", None), ("int4", None),
              ("complex64", None), (3, None), ("U3", None)]
TRAFFIC_ENC = [None, None, None, "index", "combinatorial", "bitmask", "csr", "csb", "", "dense", "INDEX", 0, "cutlass"]


def gen_traffic(rng, tmp):
    """A valid request; in most cases one argument made hostile."""
    hostile = pick(rng, ["", "", "m", "k", "dtype", "pattern", "encoding", "density", "block", "index_bits", "pad"])
    m = int(rng.integers(1, 5000)) if hostile != "m" else pick(rng, [0, -1, True, 64.0, None, "64", 2**80,
                                                                      np.int64(64)])
    k = int(rng.integers(1, 5000)) if hostile != "k" else pick(rng, [0, -8, True, 64.0, None, 2**80, np.int32(64)])
    if rng.random() < 0.5 and is_int(k) and k > 0:
        k = (int(k) // 16 + 1) * 16
    dtype, item = pick(rng, DTYPE_ARGS) if hostile == "dtype" else pick(rng, DTYPE_ARGS[:12])
    spec, sp_ok = pick(rng, PATTERN_SPECS) if hostile == "pattern" else \
        pick(rng, [("dense", True), ("2:4", True), ("4:8", True), ("1:2", True), ("unstructured", True),
                   ("unstructured:csb", True), ("unstructured:bitmask", True), ("unstructured:0.1", True)])
    pat = refs.pattern_ref(spec)
    if hostile == "encoding":
        enc = pick(rng, TRAFFIC_ENC)
    elif pat and pat[0] == "nm":
        enc = pick(rng, [None, "index", "combinatorial", "bitmask"])
    elif pat and pat[0] == "unstructured":
        enc = pick(rng, [None, "csr", "csb", "bitmask"]) if spec == "unstructured" else None
    else:
        enc = None
    density = None
    if pat and pat[0] == "unstructured" and pat[1] is None:
        density = pick(rng, [0.01, 0.3, 0.5, 1.0, np.float32(0.5)])
    if hostile == "density":
        density, _ = pick(rng, DENSITY_VALUES)
    block, b_ok = pick(rng, BLOCKS) if hostile == "block" else (pick(rng, [64, 8, 256]), True)
    index_bits = pick(rng, [None, 32, 8, 1, 0, -1, True, 16.0, 64]) if hostile == "index_bits" \
        else pick(rng, [None, None, 32])
    pad = pick(rng, ["yes", None, 1]) if hostile == "pad" else pick(rng, [False, False, True])
    kw = {"block": block, "index_bits": index_bits, "pad": pad}
    kind = f"{m!r}x{k!r} {dtype!r} {spec!r} enc={enc!r} d={density!r} {kw}"
    valid = _traffic_valid(m, k, item, spec, sp_ok, enc, density, block, b_ok, index_bits, pad)
    return Case((m, k, dtype, spec, enc, density), kw, valid, kind, {"item": item})


def _traffic_valid(m, k, item, spec, sp_ok, enc, density, block, b_ok, index_bits, pad):
    if not (is_int(m) and is_int(k) and int(m) > 0 and int(k) > 0) or item is None or sp_ok is False:
        return False
    if type(m) is not int or type(k) is not int:
        return None  # numpy integers: either way
    if sp_ok is None:
        return None
    pat = refs.pattern_ref(spec)
    if pat is None:
        return False
    if density is not None and not (finite_number(density) and 0 < float(density) <= 1):
        return False
    if pat[0] == "unstructured" and pat[1] is None and density is None:
        return False
    if pat[0] != "unstructured" and density is not None:
        fixed = 1.0 if pat[0] == "dense" else pat[1] / pat[2]
        if abs(float(density) - fixed) > 1e-12:
            return False
    if not isinstance(pad, bool):
        return False
    if index_bits is not None and (not is_int(index_bits) or index_bits <= 0):
        return False
    if not b_ok:
        return False if b_ok is False else None
    suffix = spec.strip().lower().rsplit(":", 1)[1] if ":" in spec else ""
    if enc is None and suffix in ("csr", "csb", "bitmask"):
        enc = suffix
    d = density if density is not None else (pat[1] if pat[0] == "unstructured" else None)
    r = refs.traffic_ref(m, k, item, pat, enc, d, block, index_bits, pad)
    return r is not None


def check_traffic(case, out):
    m, k, dtype, spec, enc, density = case.args
    kw = case.kwargs
    pat = refs.pattern_ref(spec)
    if pat is None or case.ctx["item"] is None:
        return None
    suffix = spec.strip().lower().rsplit(":", 1)[1] if ":" in spec else ""
    if enc is None and suffix in ("csr", "csb", "bitmask"):
        enc = suffix
    d = density if density is not None else (pat[1] if pat[0] == "unstructured" else None)
    if pat[0] == "unstructured" and density is not None:
        d = float(density)
    want = refs.traffic_ref(m, k, case.ctx["item"], pat, enc, d, kw["block"], kw["index_bits"], kw["pad"])
    got = (out["values"], out["metadata"], out["nnz"], out["format"])
    if got != want:
        return f"{got} != reference {want}"
    if out["total"] != out["values"] + out["metadata"] or out["dense"] != m * k * case.ctx["item"]:
        return "total/dense inconsistent"
    return None


@entry("formats.traffic_bytes", "api", gen_traffic, weight=5, check=check_traffic)
def call_traffic(case):
    from sparsesim.formats import traffic_bytes

    return traffic_bytes(*case.args, **case.kwargs)
