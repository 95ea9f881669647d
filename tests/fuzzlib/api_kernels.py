"""Entry points of sparsesim.kernels, sparsesim.isa and sparsesim.quant."""

from __future__ import annotations

import numpy as np

from . import refs
from .api_formats import NM_PAIRS, PATTERN_SPECS, same_bits, same_values
from .core import Case, entry
from .values import is_int, layout, matrix, odd_matrix, pick


# --------------------------------------------------------------------------- sparse MAC
def gen_spmac(rng, tmp):
    n, m = pick(rng, NM_PAIRS)
    dt = pick(rng, [np.int8, np.float16])
    rows, groups, cols = int(rng.integers(0, 6)), int(rng.integers(0, 6)), int(rng.integers(0, 9))
    a = matrix(rng, dt, (rows, groups * m))
    vals, idx = refs.compress_ref(a, n, m)
    b = matrix(rng, dt, (groups * m, cols), finite=rng.random() < 0.9)
    pattern = f"{n}:{m}"
    kind, valid = f"{np.dtype(dt).name} {n}:{m} {rows}x{groups * m}x{cols}", True
    style = rng.integers(12)
    if style == 0:
        b = b.astype(pick(rng, [np.float32, np.int16, np.uint8, np.float16 if dt == np.int8 else np.int8]))
        kind, valid = kind + " B dtype", False
    elif style == 1:
        b = b[: max(b.shape[0] - 1, 0)]
        kind, valid = kind + " B rows", b.shape[0] == groups * m
    elif style == 2 and idx.size:
        idx = idx.astype(pick(rng, [np.int64, np.uint8, np.int8]))
        bad = pick(rng, [m, -1, 127, 0])
        idx.flat[int(rng.integers(idx.size))] = np.array(bad).astype(idx.dtype)
        kind += " corrupt index"
        valid = refs.indices_valid(idx, n, m)
    elif style == 3:
        spec, ok = pick(rng, PATTERN_SPECS)
        pattern = spec
        ref = refs.pattern_ref(spec)
        kind += f" pattern {spec!r}"
        valid = ok is not False and ref is not None and ref[0] == "nm"
        if valid and (ok is None or ref[1:] != (n, m)):
            valid = None  # another N:M may still fit these shapes
    elif style == 4:
        b, lab = layout(rng, b)
        kind += " B " + lab
        valid = None if lab == "big-endian" else True
    elif style == 5:
        vals, lab = layout(rng, vals)
        kind += " values " + lab
        valid = None if lab == "big-endian" else True
    elif style == 6:
        b, lab = odd_matrix(rng, (groups * m, cols))
        kind, valid = kind + " B " + lab, False
    elif style == 7:
        idx = idx.astype(np.float32)
        kind, valid = kind + " float indices", False
    return Case((vals, idx, b, pattern), {}, valid, kind, {"nm": (n, m)})


def check_spmac(case, out):
    vals, idx, b, _ = case.args
    n, m = case.ctx["nm"]
    want = refs.spmac_ref(vals.astype(vals.dtype.newbyteorder("=")), idx, b.astype(b.dtype.newbyteorder("=")), n, m)
    ok = same_values(out, want) if out.dtype == np.float32 else same_bits(out, want)
    return None if ok and out.dtype == want.dtype else "differs from the reference sparse MAC"


@entry("kernels.spmac", "api", gen_spmac, weight=4, check=check_spmac)
def call_spmac(case):
    from sparsesim.kernels import spmac

    return spmac(*case.args)


# --------------------------------------------------------------------------- int8 GEMMs
PATHS = [("vnni", True), ("avx512", True), ("vnnis", True), ("VNNI", False), ("", False), (None, False), (1, False)]


def _gemm_operands(rng):
    m_, k, n = int(rng.integers(0, 6)), int(rng.integers(0, 14)), int(rng.integers(0, 40))
    a = rng.integers(0, 256, size=(m_, k), dtype=np.uint8)
    w = rng.integers(-128, 128, size=(k, n)).astype(np.int8)
    if rng.random() < 0.3:
        a[:] = 255
        w[:] = pick(rng, [-128, 127])
    return a, w


def gen_int8_gemm(rng, tmp):
    a, w = _gemm_operands(rng)
    path, ok = pick(rng, PATHS) if rng.random() < 0.2 else (pick(rng, ["vnni", "avx512", "vnnis"]), True)
    bias = None
    fn = pick(rng, ["int8_gemm", "int8_gemm_registers", "sparse24_int8_gemm", "s16_saturations",
                    "split_outlier_gemm", "int8_gemm_packed"])
    if fn == "int8_gemm_registers" and a.size * w.shape[1] > 400:
        a = a[:1]
    if rng.random() < 0.3:
        bias = rng.integers(-(2**31), 2**31, size=w.shape[1], dtype=np.int64).astype(np.int32)
        if rng.random() < 0.3:
            bias = pick(rng, [bias.astype(np.int64), bias[:-1], [1, 2], "b"])
            if fn in ("int8_gemm", "sparse24_int8_gemm", "int8_gemm_packed") and not (
                    isinstance(bias, np.ndarray) and bias.dtype == np.int32 and bias.shape == (w.shape[1],)):
                ok = False
    if fn == "s16_saturations":
        ok = True  # no path and no bias argument
    kind, valid = f"{fn} {a.shape}x{w.shape} {path!r}", ok
    style = rng.integers(10)
    if style == 0:
        a = a.astype(pick(rng, [np.int8, np.uint16, np.float32]))
        kind, valid = kind + " A dtype", False
    elif style == 1:
        w = w.astype(pick(rng, [np.uint8, np.int16, np.float32]))
        kind, valid = kind + " W dtype", False
    elif style == 2 and a.shape[1]:
        a = a[:, :-1]
        kind += " K mismatch"
        valid = False if fn not in ("sparse24_int8_gemm", "int8_gemm_packed") else None
    elif style == 3:
        a, lab = layout(rng, a)
        w, lab2 = layout(rng, w)
        kind += f" {lab} {lab2}"
    elif style == 4:
        a, lab = odd_matrix(rng, a.shape)
        kind, valid = kind + " A " + lab, False
    return Case((a, w, path), {"bias": bias, "fn": fn}, valid, kind, {})


def check_int8_gemm(case, out):
    a, w, path = case.args
    fn = case.kwargs["fn"]
    bias = case.kwargs["bias"]
    if fn == "s16_saturations":
        k = a.shape[1]
        kp = k + (k % 2)
        A = np.zeros((a.shape[0], kp), np.int64)
        A[:, :k] = a
        W = np.zeros((kp, w.shape[1]), np.int64)
        W[:k] = w
        cnt = np.zeros((a.shape[0], w.shape[1]), np.int64)
        for p in range(kp // 2):
            s = np.outer(A[:, 2 * p], W[2 * p]) + np.outer(A[:, 2 * p + 1], W[2 * p + 1])
            cnt += (s > 32767) | (s < -32768)
        return None if np.array_equal(out, cnt) else "saturation counts differ"
    if fn == "split_outlier_gemm":
        c, frac = out
        return None if same_bits(c, refs.int8_gemm_ref(a, w, "vnni")) else "split GEMM differs from the exact product"
    if fn == "sparse24_int8_gemm":
        wd = case.ctx["w_dense"]
        ap = np.zeros((a.shape[0], wd.shape[0]), np.uint8)  # a shorter K is zero-padded
        ap[:, : a.shape[1]] = a
        want = refs.int8_gemm_ref(ap, wd, path, None if bias is None else np.asarray(bias, np.int64))
    elif fn == "int8_gemm_registers":
        want = refs.int8_gemm_ref(a, w, path)
    else:
        ap = np.zeros((a.shape[0], w.shape[0]), np.uint8)  # a shorter K is zero-padded (packed path)
        ap[:, : a.shape[1]] = a
        want = refs.int8_gemm_ref(ap, w, path, None if bias is None else np.asarray(bias, np.int64))
    return None if same_bits(out, want) else "differs from the instruction-level reference"


@entry("kernels.int8_gemm*", "api", gen_int8_gemm, weight=4, check=check_int8_gemm)
def call_int8_gemm(case):
    from sparsesim.kernels import int8_gemm as g

    a, w, path = case.args
    fn, bias = case.kwargs["fn"], case.kwargs["bias"]
    if fn == "int8_gemm":
        return g.int8_gemm(a, w, path, bias)
    if fn == "int8_gemm_registers":
        return g.int8_gemm_registers(a, w, path)
    if fn == "s16_saturations":
        return g.s16_saturations(a, w)
    if fn == "split_outlier_gemm":
        return g.split_outlier_gemm(a, w, path)
    if fn == "int8_gemm_packed":
        wn = np.asarray(w)
        packed = g.pack_weights(wn)
        out = g.int8_gemm_packed(a, packed, wn.shape[1], path, bias)
        if not np.array_equal(g.unpack_weights(packed, wn.shape[0], wn.shape[1]), wn):
            raise AssertionError("unpack_weights(pack_weights(w)) != w")
        return out
    # 2:4 on compressed weights: W columns pruned along K
    wn = np.asarray(w)
    wt = np.ascontiguousarray(wn.T) if isinstance(wn, np.ndarray) and wn.ndim == 2 else wn
    vals, idx = g.compress_weights_24(np.ascontiguousarray(wt.T) if isinstance(wt, np.ndarray) and wt.ndim == 2 else wt)
    dense = refs.scatter_ref(vals, idx, 2, 4)[:, : wn.shape[0]].T
    case.ctx["w_dense"] = np.ascontiguousarray(dense)
    return g.sparse24_int8_gemm(a, vals, idx, path, bias)


# --------------------------------------------------------------------------- ISA
OPS = {"vpmaddubsw": ((np.uint8, 8), (np.int8, 8)), "vpmaddwd": ((np.int16, 16), (np.int16, 16)),
       "vpaddd": ((np.int32, 32), (np.int32, 32)),
       "vpdpbusd": ((np.int32, 32), (np.uint8, 8), (np.int8, 8)),
       "vpdpbusds": ((np.int32, 32), (np.uint8, 8), (np.int8, 8))}


def gen_isa(rng, tmp):
    op = pick(rng, list(OPS))
    bits = pick(rng, [512, 256])
    lead = tuple(int(x) for x in rng.integers(0, 4, size=int(rng.integers(0, 3))))
    regs = []
    for dt, lane in OPS[op]:
        info = np.iinfo(dt)
        regs.append(rng.integers(info.min, info.max, size=lead + (bits // lane,), dtype=dt, endpoint=True))
    kind, valid = f"{op} {bits} {lead}", True
    style = rng.integers(10)
    i = int(rng.integers(len(regs)))
    if style == 0:
        regs[i] = regs[i].astype(pick(rng, [np.int64, np.uint16, np.float32, np.int8, np.uint8]))
        valid = regs[i].dtype == np.dtype(OPS[op][i][0])
        kind += " dtype"
    elif style == 1:
        regs[i] = regs[i][..., :-1] if regs[i].shape[-1] else regs[i]
        kind, valid = kind + " lanes", False
    elif style == 2:
        regs[i] = regs[i][None]
        kind, valid = kind + " leading", False
    elif style == 3 and regs[i].dtype.itemsize > 1:
        regs[i] = regs[i].astype(regs[i].dtype.newbyteorder(">"))
        kind, valid = kind + " big-endian", None
    elif style == 4:
        regs[i] = pick(rng, [regs[i].tolist(), None, 3, np.float32(1)])
        kind, valid = kind + " not an array", False
    elif style == 5:
        other = 256 if bits == 512 else 512
        dt, lane = OPS[op][i]
        regs[i] = np.zeros(lead + (other // lane,), dtype=dt)
        kind, valid = kind + " mixed widths", False
    return Case(tuple(regs), {}, valid, kind, {"op": op})


def check_isa(case, out):
    regs = [np.asarray(r).astype(np.asarray(r).dtype.newbyteorder("=")) for r in case.args]
    want = refs.isa_ref(case.ctx["op"], *regs)
    return None if same_bits(out, want) else "differs from the instruction definition"


@entry("isa.*", "api", gen_isa, weight=3, check=check_isa)
def call_isa(case):
    import sparsesim.isa as isa

    return getattr(isa, case.ctx["op"])(*case.args)


# --------------------------------------------------------------------------- quantization
def _tensor(rng, shape):
    style = rng.integers(10)
    if style < 6:
        return rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 3), True, "finite"
    if style == 6:
        a = rng.standard_normal(shape)
        if a.size:
            a.flat[0] = pick(rng, [np.nan, np.inf, -np.inf])
            return a, False, "non-finite"
        return a, True, "empty"
    if style == 7:
        return pick(rng, [["a", "b"], "x", None, {"a": 1}, [1, [2, 3]]]), False, "junk"
    if style == 8:
        return (rng.standard_normal(shape) + 1j).astype(np.complex64), False, "complex"
    return rng.integers(-5, 5, size=(max(shape[0], 1), shape[1])).tolist(), True, "list of ints"


SCALES = [(1.0, True), (0.5, True), (127.0, True), (0.0, False), (-1.0, False), (np.nan, False), (np.inf, False),
          ("2", False), (None, False), ([1.0, 2.0], None), (1e-300, True), (True, None)]
BITS = [(8, True), (7, True), (6, False), (16, False), (8.0, None), ("8", False), (None, False), (np.int64(8), True)]


def _quant_valid(fn, x, x_ok, q, q_ok, bits, b_ok):
    """Validity of the arguments as each function reads them (None: either outcome is fine)."""
    def both(*flags):
        if any(f is False for f in flags):
            return False
        return None if any(f is None for f in flags) else True

    shift_ok = is_int(bits) and 0 <= int(bits) < 32
    nonempty = x_ok and np.asarray(x).size > 0
    if fn == "quantize_weights":
        return both(x_ok, q_ok)
    if fn in ("quantize_activations", "quantize_signed_activations", "requantize"):
        return both(x_ok, q_ok, b_ok)
    if fn == "tensor_range":
        return both(x_ok, nonempty)
    if fn in ("quantize_bias", "dequantize"):
        return both(x_ok, q_ok)
    if fn == "requantize_shift":
        return both(x_ok, shift_ok)
    if fn in ("power_of_two", "weight_scale"):
        return q_ok
    if fn == "activation_scale":
        return both(q_ok, b_ok)
    if fn == "quantize_linear":
        return both(x_ok, nonempty, q_ok, b_ok)
    if fn == "fold_batchnorm":
        if x_ok and np.asarray(x).size == 0:
            return None
        q_bn = None if isinstance(q, list) or q is True else (q_ok and float(q) >= 0) if q_ok is not False \
            else (isinstance(q, float) and q == 0.0) or False
        return both(x_ok, q_bn)
    return x_ok  # shift_corrected_bias


def gen_quant(rng, tmp):
    fn = pick(rng, ["quantize_weights", "quantize_activations", "quantize_signed_activations", "tensor_range",
                    "quantize_bias", "requantize", "requantize_shift", "power_of_two", "activation_scale",
                    "weight_scale", "quantize_linear", "fold_batchnorm", "dequantize", "shift_corrected_bias"])
    shape = (int(rng.integers(0, 5)), int(rng.integers(1, 6)))
    x, ok, lab = _tensor(rng, shape)
    q, q_ok = pick(rng, SCALES) if rng.random() < 0.4 else (float(rng.random() * 100 + 0.01), True)
    bits, b_ok = pick(rng, BITS) if rng.random() < 0.3 else (8, True)
    valid = _quant_valid(fn, x, ok, q, q_ok, bits, b_ok)
    kind = f"{fn} {lab} q={q!r} bits={bits!r}"
    return Case((x, q, bits), {"fn": fn}, valid, kind, {"shape": shape})


def check_quant(case, out):
    fn = case.kwargs["fn"]
    if fn == "quantize_weights":
        return None if out.dtype == np.int8 and (np.abs(out.astype(int)) <= 127).all() else "weights outside -127..127"
    if fn == "quantize_activations":
        return None if out.dtype == np.uint8 else "activations not uint8"
    return None


def _ints(x, dtype=np.int32):
    """Finite float tensors as integers (what the integer functions take); junk as it is."""
    if isinstance(x, np.ndarray) and x.dtype.kind == "f" and np.isfinite(x).all():
        return np.clip(x, -1e6, 1e6).astype(dtype)
    if isinstance(x, list) and x and isinstance(x[0], list) and all(isinstance(v, int) for r in x for v in r):
        return np.array(x).astype(dtype)
    return x


@entry("quant.*", "api", gen_quant, weight=3, check=check_quant)
def call_quant(case):
    import sparsesim.quant as qn

    x, q, bits = case.args
    fn = case.kwargs["fn"]
    if fn == "quantize_weights":
        return qn.quantize_weights(x, q)
    if fn == "quantize_activations":
        return qn.quantize_activations(x, q, bits)
    if fn == "quantize_signed_activations":
        return qn.quantize_signed_activations(x, q, bits)
    if fn == "tensor_range":
        return qn.tensor_range(x, axis=None if bits == 8 else 0)
    if fn == "quantize_bias":
        return qn.quantize_bias(x, q, q)
    if fn == "requantize":
        return qn.requantize(_ints(x), q, bits)
    if fn == "requantize_shift":
        return qn.requantize_shift(_ints(x), bits, 8)
    if fn == "power_of_two":
        return qn.power_of_two(q, "floor" if bits == 8 else "nearest")
    if fn == "activation_scale":
        return qn.activation_scale(q, bits)
    if fn == "weight_scale":
        return qn.weight_scale(q)
    if fn == "quantize_linear":
        cols = x.shape[-1] if isinstance(x, np.ndarray) and x.ndim == 2 else 1
        b = None if q == 1.0 else np.zeros(cols)
        return qn.quantize_linear(x, b, q, bits=bits)
    if fn == "fold_batchnorm":
        c = x.shape[0] if isinstance(x, np.ndarray) and x.ndim >= 1 else 1
        v = np.full(c, q) if isinstance(q, float) else q
        return qn.fold_batchnorm(x, None, v, v, v, v)
    if fn == "dequantize":
        return qn.dequantize(x, q, q)
    w = _ints(x, np.int8)
    cols = w.shape[-1] if isinstance(w, np.ndarray) and w.ndim == 2 else 1
    return qn.shift_corrected_bias(np.zeros(cols, np.int32), w, 128)
