"""Entry points of sparsesim.masks and sparsesim.io."""

from __future__ import annotations

import os

import numpy as np

from . import refs
from .api_formats import same_values
from .core import Case, entry
from .values import is_int, layout, matrix, odd_matrix, pick

MASK_NM = [(2, 4), (1, 2), (4, 8), (1, 4), (2, 8)]


def _mask_matrix(rng, m, both=True):
    r = m * int(rng.integers(1, 3)) if both else int(rng.integers(1, 5))
    c = 2 * m * int(rng.integers(1, 3))
    dt = pick(rng, [np.float32, np.float64, np.float16, np.int8, np.int32])
    w = matrix(rng, dt, (r, c), finite=rng.random() < 0.9)
    w, lab = layout(rng, w)
    ok = not (w.dtype.kind == "f" and not np.isfinite(w).all())
    if lab == "big-endian" and ok:
        ok = None
    return w, f"{np.dtype(dt).name} {r}x{c} {lab}", ok


def _transposable_ok(mask, n, m):
    b = mask.reshape(mask.shape[0] // m, m, mask.shape[1] // m, m).transpose(0, 2, 1, 3)
    return bool((b.sum(axis=3) == n).all() and (b.sum(axis=2) == n).all())


def gen_masks(rng, tmp):
    fn = pick(rng, ["transposable_mask", "is_transposable", "hierarchical_prune", "hierarchical_compress",
                    "search_permutation", "nm_kept_l1", "mask_diversity", "permutation_cost", "kept_fraction",
                    "compress_permuted", "count_regular_blocks", "hierarchical_traffic_bytes"])
    n, m = pick(rng, MASK_NM)
    valid = True
    kind = f"{fn} {n}:{m}"
    if rng.random() < 0.1:
        n, m = pick(rng, [(0, 4), (4, 4), (2, 3), (True, 4), (2.5, 4), ("2", 4), (None, 4), (2, 32)])
        valid, kind = False, f"{fn} n={n!r} m={m!r}"
    mm = m if is_int(m) and m in (2, 4, 8) else 4
    if fn == "hierarchical_traffic_bytes":
        valid = valid if valid is False else True
        args = (int(rng.integers(1, 300)), int(rng.integers(1, 300)), pick(rng, ["int8", "fp16", 2]),
                f"h{pick(rng, [1, 8, 64])}:{mm}/{2 * mm}:{n}:{mm}" if is_int(n) else f"h8:4/8:{n}:{m}")
        if args[0] % 64 or args[1] % (2 * mm):
            valid = False if valid is not False else False
        if rng.random() < 0.2:
            args = (pick(rng, [-1, 0, True, 64.0, 2**70]),) + args[1:]
            valid = False if args[0] != 2**70 else None
        return Case(args, {"fn": fn}, valid if args[0] % 64 == 0 or not is_int(args[0]) else None, kind, {})
    if fn in ("mask_diversity", "count_regular_blocks", "permutation_cost"):
        ints = [int(rng.integers(1, 17)), int(rng.integers(1, 17))]
        if rng.random() < 0.2:
            ints[int(rng.integers(2))] = pick(rng, [0, -1, True, 2.0, None, 10**6])
        kindarg = pick(rng, ["unstructured", "nm", "transposable", "sequential", "bogus"])
        valid = None if valid or fn in ("permutation_cost", "count_regular_blocks") else False
        return Case((kindarg, n, m, *ints), {"fn": fn}, valid, kind + f" {kindarg} {ints}", {})
    both = fn in ("transposable_mask", "is_transposable")
    w, lab, ok = _mask_matrix(rng, mm, both)
    if rng.random() < 0.07:
        w, lab = odd_matrix(rng, (mm, mm))
        ok = None if lab == "longdouble" else False
    kind += " " + lab
    valid = False if not valid or ok is False else (None if ok is None else True)
    if fn == "kept_fraction" and valid is False and lab not in ("odd-dtype", "scalar"):
        valid = None  # any shape has an L1 fraction; n and m are not used
    if fn == "is_transposable" and valid is False and is_int(n) and is_int(m):
        valid = None  # a predicate: False for what is not a transposable mask
    if lab == "list" and valid is False and is_int(n) and is_int(m):
        valid = None  # nested lists of numbers are read as arrays
    if fn.startswith("hierarchical") and isinstance(n, str):
        valid = None  # n is written into the spec text
    return Case((w, n, m), {"fn": fn, "method": pick(rng, ["exact", "approx", "bruteforce", "exact"]),
                            "solver": pick(rng, ["assignment", "lp"])}, valid, kind, {})


def check_masks(case, out):
    fn = case.kwargs["fn"]
    w, n, m = case.args[:3] if len(case.args) >= 3 else (None, None, None)
    w = np.asarray(w) if isinstance(w, list) else w
    if fn == "transposable_mask":
        if out.dtype != bool or out.shape != w.shape:
            return "mask has the wrong shape or dtype"
        return None if _transposable_ok(out, n, m) else "mask is not transposable N:M"
    if fn == "hierarchical_compress":
        from sparsesim.masks import hierarchical_decompress, hierarchical_prune

        return None if same_values(hierarchical_decompress(out), hierarchical_prune(w, case.ctx["pat"])) \
            else "decompress(compress(w)) != prune(w)"
    if fn == "search_permutation":
        p = np.asarray(out.perm)
        return None if np.array_equal(np.sort(p), np.arange(w.shape[1])) else "not a permutation"
    return None


@entry("masks.*", "api", gen_masks, weight=3, check=check_masks)
def call_masks(case):
    import sparsesim.masks as mk

    fn = case.kwargs["fn"]
    if fn == "hierarchical_traffic_bytes":
        return mk.hierarchical_traffic_bytes(*case.args)
    if fn == "mask_diversity":
        kindarg, n, m, r, c = case.args
        scale = m if is_int(m) and m > 0 else 1
        return mk.mask_diversity(kindarg, n, m, r * scale if is_int(r) else r, c * scale if is_int(c) else c)
    if fn == "count_regular_blocks":
        return mk.count_regular_blocks(case.args[1], case.args[3] if case.args[3] in (0, 1, 2, 3, 4, 5, 6) else case.args[3])
    if fn == "permutation_cost":
        _, n, m, k, cols = case.args
        return mk.permutation_cost(k, cols, 2, pick_mode(k))
    w, n, m = case.args
    if fn == "transposable_mask":
        method = case.kwargs["method"]
        if method == "bruteforce" and is_int(m) and m > 4:
            method = "exact"
        return mk.transposable_mask(w, n, m, method, solver=case.kwargs["solver"])
    if fn == "is_transposable":
        return mk.is_transposable(w, n, m)
    if fn in ("hierarchical_prune", "hierarchical_compress"):
        mm = m if is_int(m) else 4
        pat = f"h{_rows_cols(w)[0]}:{mm}/{2 * mm}:{n}:{m}"
        case.ctx["pat"] = pat
        return getattr(mk, fn)(w, pat)
    if fn == "search_permutation":
        return mk.search_permutation(w, n, m, max_sweeps=1)
    if fn == "nm_kept_l1":
        return mk.nm_kept_l1(w, n, m)
    if fn == "kept_fraction":
        return mk.kept_fraction(w, np.asarray(w) != 0) if isinstance(w, np.ndarray) else mk.kept_fraction(w, w)
    perm = np.arange(_rows_cols(w)[1])
    return mk.compress_permuted(w, n, m, perm)


def _rows_cols(w):
    """Shape of a 2-D input for building the call's other arguments; (1, 1) for anything else."""
    a = w if isinstance(w, np.ndarray) else np.asarray(w, dtype=object) if isinstance(w, list) else None
    return a.shape if a is not None and a.ndim == 2 else (1, 1)


def pick_mode(k):
    return ("absorbed", "extra_pass", "offline", "bogus")[int(k) % 4] if is_int(k) else "absorbed"


# --------------------------------------------------------------------------- io
def gen_io(rng, tmp):
    fn = pick(rng, ["write_text_atomic", "write_bytes_atomic", "save_npy_atomic"])
    style = rng.integers(8)
    (tmp / "adir").mkdir(exist_ok=True)
    (tmp / "afile").write_text("x")
    paths = {
        0: (tmp / "out.txt", True), 1: (tmp / "new" / "sub" / "out.txt", True), 2: (tmp / "adir", False),
        3: ("/proc/sparsesim-fuzz/x.npz", False), 4: (tmp / "afile" / "x.txt", False), 5: ("", False),
        6: (str(tmp / "a\x00b"), False), 7: (tmp / ("x" * 300), False),
    }
    path, valid = paths[int(style)]
    data = {"write_text_atomic": "héllo\n", "write_bytes_atomic": b"\x00\xff", "save_npy_atomic": np.arange(3)}[fn]
    return Case((path, data), {"fn": fn}, valid, f"{fn} {str(path)[-40:]!r}", {})


def check_io(case, out):
    path, data = case.args
    fn = case.kwargs["fn"]
    if fn == "save_npy_atomic":
        ok = np.array_equal(np.load(path), data)
    elif fn == "write_text_atomic":
        ok = open(path, encoding="utf-8").read() == data
    else:
        ok = open(path, "rb").read() == data
    leftovers = [p for p in os.listdir(os.path.dirname(path)) if p.endswith(".tmp")]
    return None if ok and not leftovers else "file content differs or a temporary file was left"


@entry("io.atomic writes", "api", gen_io, weight=1, check=check_io)
def call_io(case):
    import sparsesim.io as sio

    return getattr(sio, case.kwargs["fn"])(*case.args)


