"""Entry points of sparsesim.patterns and sparsesim.formats."""

from __future__ import annotations

import numpy as np

from . import refs
from .core import Case, entry
from .values import (FLOAT_DTYPES, INT_DTYPES, PATTERN_SPECS, finite_number, is_int, layout, matrix,
                     odd_matrix, pick)

NM_PAIRS = [(2, 4), (2, 4), (2, 4), (1, 2), (4, 8), (2, 8), (1, 4), (3, 8), (8, 16), (1, 16)]
DENSITY_VALUES = [(0.3, True), (1, True), (np.float32(0.5), True), (1e-300, True), (float("nan"), False),
                  (float("inf"), False), (0.0, False), (-0.5, False), (1.5, False), (True, False),
                  ("0.3", False), (None, True), ([0.3], False)]


def same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype.kind != b.dtype.kind or a.dtype.itemsize != b.dtype.itemsize:
        return False
    a = a.astype(a.dtype.newbyteorder("="))
    b = b.astype(b.dtype.newbyteorder("="))
    return a.tobytes() == b.tobytes()


def same_values(a, b) -> bool:
    """Equal shapes and values; NaN equals NaN; -0.0 equals 0.0."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        return bool(np.array_equal(a.astype(np.float64), b.astype(np.float64), equal_nan=True))
    return bool(np.array_equal(a, b))


# --------------------------------------------------------------------------- patterns
def _valid_density(d) -> bool:
    return finite_number(d) and 0.0 < float(d) <= 1.0


def gen_pattern(rng, tmp):
    if rng.random() < 0.75:
        spec, valid = pick(rng, PATTERN_SPECS)
    else:  # random characters from a mix of scripts
        alphabet = list("0123456789:.-+e_ dnsu") + ["٢", "٤", "４", "\u00a0", "\u200b", "ⅰ", "¹", "𝟐"]
        spec = "".join(pick(rng, alphabet) for _ in range(int(rng.integers(1, 7))))
        valid = None
    density = None
    if rng.random() < 0.35:
        density, _ = pick(rng, DENSITY_VALUES)
    ref = refs.pattern_ref(spec)
    if valid is not None:
        valid = ref is not None if valid else False
    if valid is None and ref is None and isinstance(spec, str) and spec.isascii():
        valid = False  # ASCII junk the reference grammar refuses
    if valid is None and ref is not None:
        valid = True
    if valid and ref is not None:
        if density is not None and not _valid_density(density):
            valid = False
        elif ref[0] == "unstructured" and ref[1] is None and density is None:
            valid = False
        elif ref[0] in ("dense", "nm") and density is not None:
            fixed = 1.0 if ref[0] == "dense" else ref[1] / ref[2]
            valid = abs(float(density) - fixed) < 1e-12
    if ref is None and valid is None:
        valid = None
    return Case((spec,), {"density": density}, valid, f"spec {spec!r} density {density!r}", {"ref": ref})


def check_pattern(case, pat):
    ref = case.ctx["ref"]
    if ref is None:
        return None
    d = case.kwargs["density"]
    if pat.kind != ref[0]:
        return f"kind {pat.kind}, reference {ref[0]}"
    if ref[0] == "nm" and (pat.n, pat.m) != ref[1:]:
        return f"{pat.n}:{pat.m}, reference {ref[1]}:{ref[2]}"
    if ref[0] == "unstructured":
        want = float(d) if d is not None else ref[1]
        if abs(pat.density - want) > 1e-12:
            return f"density {pat.density}, reference {want}"
    return None


@entry("patterns.parse_pattern", "api", gen_pattern, weight=3, check=check_pattern)
def call_pattern(case):
    from sparsesim.patterns import parse_pattern

    return parse_pattern(*case.args, **case.kwargs)


# --------------------------------------------------------------------------- N:M
def gen_nm_args(rng):
    """``(n, m)`` as passed to the format functions (ints or a spec in n) and validity."""
    n, m = pick(rng, NM_PAIRS)
    r = rng.random()
    if r < 0.15:
        return f"{n}:{m}", None, (n, m), True
    if r < 0.25:
        spec, listed = pick(rng, PATTERN_SPECS)
        ref = refs.pattern_ref(spec)
        ok = ref is not None and ref[0] == "nm"
        if not isinstance(spec, str) or listed is None:
            ok = None if ok or not isinstance(spec, str) else False  # n alone (m defaults to 4), or unclear
        return spec, None, (ref[1], ref[2]) if ref is not None and ref[0] == "nm" else (2, 4), ok
    if r < 0.35:
        bad = pick(rng, [(0, 4), (4, 4), (2, 3), (2, 6), (2, 32), (-2, 4), (True, 4), (2, True), (2.0, 4),
                         (np.int64(2), np.int64(4)), ("2", 4), (None, 4), (2, 2**64), (2**63, 4)])
        ok = is_int(bad[0]) and is_int(bad[1]) and 0 < int(bad[0]) < int(bad[1]) <= 16 \
            and int(bad[1]) & (int(bad[1]) - 1) == 0
        return bad[0], bad[1], (int(bad[0]), int(bad[1])) if ok else None, ok
    return n, m, (n, m), True


def gen_weights(rng, m, finite_share=0.9):
    """A weight matrix for the N:M functions and what is known about it."""
    rows = int(rng.integers(0, 9)) if rng.random() < 0.9 else int(rng.integers(9, 40))
    groups = int(rng.integers(0, 9))
    k = groups * m
    if rng.random() < 0.2:
        k += int(rng.integers(1, m)) if m > 1 else 0
    r = rng.random()
    if r < 0.07:
        w, label = odd_matrix(rng, (rows, k))
        return w, label, None if label == "longdouble" else False
    dt = pick(rng, INT_DTYPES + FLOAT_DTYPES + [np.int64, np.uint64, np.float16])
    finite = rng.random() < finite_share
    w = matrix(rng, dt, (rows, k), finite=finite)
    w, lay = layout(rng, w)
    label = f"{np.dtype(dt).name} {rows}x{k} {lay}".strip()
    ok = True
    if np.dtype(dt).kind == "f" and not np.isfinite(w).all():
        ok = False
        label += " non-finite"
    if lay == "big-endian" and ok:
        ok = None
    return w, label, ok


def gen_prune(rng, tmp):
    n, m, nm, nm_ok = gen_nm_args(rng)
    w, label, w_ok = gen_weights(rng, nm[1] if nm else 4)
    pad = bool(rng.random() < 0.3)
    if rng.random() < 0.05:
        pad = pick(rng, ["no", 1, None])
    valid = nm_ok and w_ok
    if valid is not False and isinstance(w, np.ndarray) and w.ndim == 2 and nm and w.shape[1] % nm[1] and not pad:
        valid = False
    if valid is not False and not isinstance(pad, bool):
        valid = None
    return Case((w, n, m), {"pad": pad}, valid, f"{label} n={n!r} m={m!r}", {"nm": nm})


def _norm(w):
    return w.astype(w.dtype.newbyteorder("=")) if isinstance(w, np.ndarray) else w


def check_prune(case, out):
    w = _norm(case.args[0])
    n, m = case.ctx["nm"]
    want = refs.prune_ref(w, n, m, bool(case.kwargs["pad"]))
    if not same_bits(out, want):
        return "pruned matrix differs from the reference"
    return None


@entry("formats.prune", "api", gen_prune, weight=6, check=check_prune)
def call_prune(case):
    from sparsesim.formats import prune

    return prune(*case.args, **case.kwargs)


def check_compress(case, out):
    w = _norm(case.args[0])
    n, m = case.ctx["nm"]
    v, i = refs.compress_ref(w, n, m, bool(case.kwargs["pad"]))
    if not (same_bits(out[0], v) and np.array_equal(out[1], i) and out[1].dtype == np.uint8):
        return "values/indices differ from the reference"
    return None


@entry("formats.compress", "api", gen_prune, weight=6, check=check_compress)
def call_compress(case):
    from sparsesim.formats import compress

    return compress(*case.args, **case.kwargs)


ENC_VALUES = [("index", True), ("combinatorial", True), ("bitmask", True), ("", False), ("INDEX", False),
              (None, False), ("cutlass", False), (0, False)]


def gen_compress_packed(rng, tmp):
    case = gen_prune(rng, tmp)
    enc, ok = pick(rng, ENC_VALUES) if rng.random() < 0.3 else ("index", True)
    case.kwargs["encoding"] = enc
    if not ok:
        case.valid = False
    case.kind += f" enc={enc!r}"
    return case


def check_compress_packed(case, out):
    w = _norm(case.args[0])
    n, m = case.ctx["nm"]
    v, i = refs.compress_ref(w, n, m, bool(case.kwargs["pad"]))
    if not same_bits(out[0], v):
        return "values differ from the reference"
    if not same_bits(out[1], refs.encode_ref(i, n, m, case.kwargs["encoding"])):
        return "packed metadata differs from the reference"
    return None


@entry("formats.compress_packed", "api", gen_compress_packed, weight=4, check=check_compress_packed)
def call_compress_packed(case):
    from sparsesim.formats import compress_packed

    return compress_packed(*case.args, **case.kwargs)


def gen_decompress(rng, tmp):
    n, m = pick(rng, NM_PAIRS)
    rows, groups = int(rng.integers(0, 7)), int(rng.integers(0, 7))
    dt = pick(rng, INT_DTYPES + FLOAT_DTYPES)
    vals = matrix(rng, dt, (rows, groups * n))
    idx = np.zeros((rows, groups * n), dtype=np.uint8)
    for r in range(rows):
        for g in range(groups):
            idx[r, g * n:(g + 1) * n] = np.sort(rng.choice(m, n, replace=False))
    kind = "valid"
    valid = True
    k = None
    style = rng.integers(12)
    if style == 0 and idx.size:
        idx[rng.integers(rows), rng.integers(groups * n)] = rng.integers(0, 256)
        kind = "corrupt index"
        valid = refs.indices_valid(idx, n, m)
    elif style == 1 and idx.size:
        idx = idx.astype(pick(rng, [np.int8, np.int64, np.uint64, np.int16]))
        idx[0, 0] = np.array(pick(rng, [-1, m, 100])).astype(idx.dtype)
        kind, valid = "out-of-range index", False
    elif style == 2:
        idx = idx.astype(np.float32)
        kind, valid = "float indices", False
    elif style == 3:
        vals = vals[:, : max(vals.shape[1] - 1, 0)]
        kind, valid = "values short", vals.shape == idx.shape
    elif style == 4:
        k = pick(rng, [groups * m, groups * m - 1, groups * m + 1, 0, -5, True, 2.0, groups * m - m])
        kind = f"k={k!r}"
        valid = is_int(k) and groups * m - m < int(k) <= groups * m
    elif style == 5:
        vals, kind = _norm(vals).astype(vals.dtype.newbyteorder(">")) if vals.dtype.itemsize > 1 else vals, "big-endian"
        valid = None if vals.dtype.itemsize > 1 else True
    elif style == 6:
        vals, kind = odd_matrix(rng, idx.shape)
        valid = False
    elif style == 7 and n > 1 and idx.size:
        idx[0, 0], idx[0, 1] = idx[0, 1], idx[0, 0]
        kind, valid = "descending index", False
    return Case((vals, idx, n, m), {"k": k}, valid, kind, {"nm": (n, m)})


def check_decompress(case, out):
    vals, idx, n, m = case.args
    want = refs.scatter_ref(_norm(vals), idx, n, m, case.kwargs["k"])
    return None if same_bits(out, want) else "decompressed matrix differs from the reference scatter"


@entry("formats.decompress", "api", gen_decompress, weight=5, check=check_decompress)
def call_decompress(case):
    from sparsesim.formats import decompress

    return decompress(*case.args, **case.kwargs)


def gen_is_nm(rng, tmp):
    n, m, nm, ok = gen_nm_args(rng)
    w, label, w_ok = gen_weights(rng, nm[1] if nm else 4, finite_share=0.8)
    if w_ok is False and isinstance(w, np.ndarray) and w.ndim == 2 and w.dtype.kind == "f":
        w_ok = True  # NaN/Inf count as non-zeros here
    valid = False if ok is False or w_ok is False else (None if ok is None or w_ok is None else True)
    return Case((w, n, m), {}, valid, f"{label} n={n!r} m={m!r}", {"nm": nm})


def check_is_nm(case, out):
    w = case.args[0]
    n, m = case.ctx["nm"]
    if w.shape[1] % m:
        want = False
    else:
        want = bool(((w != 0).reshape(w.shape[0], -1, m).sum(axis=2) <= n).all()) if w.size else True
    return None if out is want else f"returned {out!r}, reference {want}"


@entry("formats.is_nm_sparse", "api", gen_is_nm, weight=2, check=check_is_nm)
def call_is_nm(case):
    from sparsesim.formats import is_nm_sparse

    return is_nm_sparse(*case.args)


# --------------------------------------------------------------------------- metadata
def _random_indices(rng, rows, groups, n, m):
    idx = np.zeros((rows, groups * n), dtype=np.uint8)
    for r in range(rows):
        for g in range(groups):
            idx[r, g * n:(g + 1) * n] = np.sort(rng.choice(m, n, replace=False))
    return idx


def gen_encode(rng, tmp):
    n, m = pick(rng, NM_PAIRS)
    rows, groups = int(rng.integers(0, 6)), int(rng.integers(0, 9))
    idx = _random_indices(rng, rows, groups, n, m)
    enc, valid = pick(rng, ENC_VALUES) if rng.random() < 0.2 else (pick(rng, ["index", "combinatorial", "bitmask"]), True)
    kind = f"{n}:{m} {enc!r}"
    style = rng.integers(8)
    if style == 0 and idx.size:
        idx = idx.astype(pick(rng, [np.int64, np.int8, np.uint16]))
        idx[rng.integers(rows), rng.integers(groups * n)] = np.array(pick(rng, [-1, m, 7, 0])).astype(idx.dtype)
        valid = valid and refs.indices_valid(idx, n, m)
        kind += " corrupt"
    elif style == 1:
        idx = idx.astype(np.float64)
        valid, kind = False, kind + " float indices"
    elif style == 2 and idx.shape[1]:
        idx = idx[:, :-1]
        valid = valid and idx.shape[1] % n == 0 and refs.indices_valid(idx, n, m)
        kind += " short"
    return Case((idx, n, m, enc), {}, valid, kind, {})


def check_encode(case, out):
    idx, n, m, enc = case.args
    want = refs.encode_ref(idx.astype(np.int64), n, m, enc)
    return None if same_bits(out, want) else "packed bytes differ from the reference"


@entry("formats.encode_metadata", "api", gen_encode, weight=3, check=check_encode)
def call_encode(case):
    from sparsesim.formats import encode_metadata

    return encode_metadata(*case.args)


def gen_decode(rng, tmp):
    n, m = pick(rng, NM_PAIRS)
    enc = pick(rng, ["index", "combinatorial", "bitmask"])
    rows, groups = int(rng.integers(0, 5)), int(rng.integers(0, 9))
    f, width = refs.field_bits(n, m, enc)
    need = (groups * f * width + 7) // 8
    if rng.random() < 0.5:
        packed = refs.encode_ref(_random_indices(rng, rows, groups, n, m), n, m, enc)
        if rng.random() < 0.3 and packed.size:
            packed[rng.integers(rows), rng.integers(need)] ^= np.uint8(1 << int(rng.integers(8)))
    else:
        packed = rng.integers(0, 256, size=(rows, need), dtype=np.uint8)
    g_arg = groups
    kind = f"{n}:{m} {enc}"
    valid = None
    style = rng.integers(10)
    if style == 0:
        g_arg = pick(rng, [-1, groups + 1, True, float(groups), None, 2**63])
        kind += f" groups={g_arg!r}"
        valid = False if not is_int(g_arg) or g_arg < 0 else None
    elif style == 1:
        packed = packed.astype(pick(rng, [np.int8, np.uint16, np.int64]))
        valid, kind = False, kind + " wrong dtype"
    elif style == 2:
        packed, k2 = odd_matrix(rng, (rows, need))
        valid, kind = False, kind + " " + k2
    if valid is None and is_int(g_arg) and g_arg >= 0 and isinstance(packed, np.ndarray) and packed.dtype == np.uint8:
        valid = refs.decode_ref(packed, n, m, int(g_arg), enc) is not None
    return Case((packed, n, m, g_arg, enc), {}, valid, kind, {})


def check_decode(case, out):
    packed, n, m, groups, enc = case.args
    want = refs.decode_ref(packed, n, m, groups, enc)
    return None if want is not None and same_bits(out, want) else "indices differ from the reference decoder"


@entry("formats.decode_metadata", "api", gen_decode, weight=4, check=check_decode)
def call_decode(case):
    from sparsesim.formats import decode_metadata

    return decode_metadata(*case.args)


def gen_metadata_bytes(rng, tmp):
    spec, sp_ok = pick(rng, PATTERN_SPECS)
    ref = refs.pattern_ref(spec)
    if rng.random() < 0.6:
        n, m = pick(rng, NM_PAIRS)
        spec, ref, sp_ok = f"{n}:{m}", ("nm", n, m), True
    rows = int(rng.integers(0, 100)) if rng.random() < 0.8 else pick(rng, [-1, True, 2.0, None, 10**20])
    k = (int(rng.integers(0, 20)) * (ref[2] if ref and ref[0] == "nm" else 4)) if rng.random() < 0.8 \
        else pick(rng, [-4, 3, True, 4.0, None, 2**70])
    enc, enc_ok = pick(rng, ENC_VALUES) if rng.random() < 0.3 else ("index", True)
    valid = bool(sp_ok) and ref is not None and ref[0] == "nm" and enc_ok and is_int(rows) and rows >= 0 \
        and is_int(k) and k >= 0 and k % ref[2] == 0
    if sp_ok is None:
        valid = None if ref is not None and ref[0] == "nm" else False
    return Case((rows, k, spec, enc), {}, valid, f"rows={rows!r} k={k!r} {spec!r} {enc!r}", {"ref": ref})


def check_metadata_bytes(case, out):
    rows, k, spec, enc = case.args
    _, n, m = case.ctx["ref"]
    f, w = refs.field_bits(n, m, enc)
    want = rows * ((k // m * f * w + 7) // 8)
    return None if out == want and type(out) is int else f"{out!r}, reference {want}"


@entry("formats.metadata_bytes", "api", gen_metadata_bytes, weight=1, check=check_metadata_bytes)
def call_metadata_bytes(case):
    from sparsesim.formats import metadata_bytes

    return metadata_bytes(*case.args)
