"""Entry points of sparsesim.timing: simulate (GPU and CPU archs) and the x86 port model."""

from __future__ import annotations

import math

import numpy as np

from . import refs
from .api_formats import DENSITY_VALUES, same_bits, same_values
from .core import Case, entry
from .values import PATTERN_SPECS, is_int, pick

GPU_ARCHS = ["a100", "h100", "a100-4of8"]
GOOD_DIMS = [1, 7, 16, 64, 100, 128, 255, 1000, 4096, 8192, 12288]
HUGE_DIMS = [2**20, 2**24, 2**32, 2**40, 2**48, 2**63 - 1, 10**30]
BAD_DIMS = [0, -1, -4096, True, False, 2.5, 64.0, "64", None, float("nan"), [64]]
MODES = [("statistical", True), ("full", True), ("exec", True), ("", False), ("Statistical", False), (None, False),
         ("fast", False), (0, False)]
DTYPES = [("fp16", True), ("int8", True), ("bf16", True), ("fp8", None), ("fp32", False), ("", False),
          ("FP16", False), (None, False), (np.float16, False)]
FORMATS = [(None, True), ("csr", True), ("csb", True), ("bitmask", True), ("", False), ("CSR", False), ("coo", False)]
ENCODINGS = [(None, True), ("index", True), ("combinatorial", True), ("bitmask", True), ("", False), ("csr", False)]
TILES = [(None, True), (0, True), (2, True), (5, None), (99, False), (-1, False), ((128, 128, 32), None),
         ((1, 2, 3), False), ("x", False), (True, False), (2.0, False)]


def _dim(rng, hostile):
    if not hostile:
        return (pick(rng, GOOD_DIMS) if rng.random() < 0.5 else int(rng.integers(1, 20000))), True
    if rng.random() < 0.5:
        return pick(rng, HUGE_DIMS), None
    d = pick(rng, BAD_DIMS + [np.int64(64)])
    return d, (None if isinstance(d, np.integer) else False)


def _both(*flags):
    if any(f is False for f in flags):
        return False
    return None if any(f is None for f in flags) else True


def gen_simulate(rng, tmp):
    """A valid request; in half the cases one argument made hostile."""
    hostile = pick(rng, ["", "", "", "", "m", "n", "k", "dtype", "pattern", "density", "mode", "format", "encoding",
                         "tile", "arch"])
    arch = pick(rng, GPU_ARCHS) if hostile != "arch" else pick(rng, ["xeon-8280", "zen4-genoa"])
    cpu = hostile == "arch"
    (m, mv), (n, nv), (k, kv) = (_dim(rng, hostile == x) for x in "mnk")
    dtype, dv = pick(rng, DTYPES) if hostile == "dtype" else (pick(rng, ["fp16", "int8", "bf16"]), True)
    spec, sv = pick(rng, PATTERN_SPECS) if hostile == "pattern" else \
        pick(rng, [("dense", True), ("2:4", True), ("4:8", True), ("1:2", True), ("unstructured", True),
                   ("unstructured:csb", True), ("unstructured:0.3", True), ("unstructured:bitmask", True)])
    ref = refs.pattern_ref(spec) if sv is not False else None
    if sv is None:
        sv = None if ref is not None else False
    density, dens_ok = None, True
    if ref and ref[0] == "unstructured" and ref[1] is None:
        density = pick(rng, [0.05, 0.3, 0.5, 0.9, 1.0])
    if hostile == "density":
        density, dens_ok = pick(rng, DENSITY_VALUES)
        if density is None and ref and ref[0] == "unstructured" and ref[1] is None:
            dens_ok = False
        if ref and ref[0] != "unstructured" and density is not None and dens_ok:
            fixed = 1.0 if ref[0] == "dense" else ref[1] / ref[2]
            dens_ok = abs(float(density) - fixed) < 1e-12
    mode, mo = pick(rng, MODES) if hostile == "mode" else ("statistical", True)
    fmt, fo = (None, True)
    enc, eo = (None, True)
    if hostile == "format" or (ref and ref[0] == "unstructured" and rng.random() < 0.3):
        fmt, fo = pick(rng, FORMATS)
        if fmt is not None and ref and ref[0] != "unstructured":
            fo = False
    if hostile == "encoding" or (ref and ref[0] == "nm" and rng.random() < 0.3):
        enc, eo = pick(rng, ENCODINGS)
        if enc is not None and ref and ref[0] != "nm":
            eo = False
    tile, to = pick(rng, TILES) if hostile == "tile" else (None, True)
    kw = {"density": density, "mode": mode, "format": fmt, "encoding": enc, "tile": tile}
    valid = _both(mv, nv, kv, dv, sv, dens_ok, mo, fo, eo, to)
    if cpu:
        valid = None if valid is not False else False
    if mode == "full" and valid is not False:
        # keep the event-by-event mode to GEMMs it is meant for
        m, n, k = (min(x, 2048) if is_int(x) else x for x in (m, n, k))
    if mode == "exec" and valid is not False:
        m, n, k = (min(x, 300) if is_int(x) else x for x in (m, n, k))
        if dtype in ("int8", "fp16") and all(is_int(x) and x > 0 for x in (m, n, k)) and ref:
            a, b = _exec_operands(rng, int(m), int(n), int(k), dtype, ref)
            kw["a"], kw["b"] = a, b
            if ref[0] == "unstructured" and a.size:
                real = float(np.count_nonzero(a)) / a.size
                kw["density"] = real if density is None or rng.random() < 0.8 else density
            if ref[0] == "nm" and k % ref[2] or kw["density"] == 0:
                valid = None
        else:
            valid = False if dtype not in ("int8", "fp16") else None
    label = f"{arch} {m!r}x{n!r}x{k!r} {dtype!r} {spec!r} " + " ".join(f"{a}={v!r}" for a, v in kw.items()
                                                                        if a not in ("a", "b"))
    return Case((arch, m, n, k, dtype, spec), kw, valid, label, {"ref": ref})


def _exec_operands(rng, m, n, k, dtype, ref):
    if dtype == "int8":
        a = rng.integers(-128, 128, (m, k)).astype(np.int8)
        b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    else:
        a = rng.standard_normal((m, k)).astype(np.float16)
        b = rng.standard_normal((k, n)).astype(np.float16)
    if ref[0] == "nm" and k % ref[2] == 0:
        a = refs.prune_ref(a, ref[1], ref[2]) if a.size <= 4096 else _fast_prune(a, ref[1], ref[2])
    elif ref[0] == "unstructured":
        a = np.where(rng.random((m, k)) < (ref[1] or 0.3), a, 0).astype(a.dtype)
    return a, b


def _fast_prune(a, n, m):
    g = a.reshape(a.shape[0], -1, m)
    mag = np.abs(g.astype(np.float64))
    order = np.argsort(-mag, axis=2, kind="stable")
    keep = np.zeros_like(g, dtype=bool)
    np.put_along_axis(keep, order[:, :, :n], True, axis=2)
    return np.where(keep, g, 0).reshape(a.shape).astype(a.dtype)


def check_simulate(case, res):
    arch, m, n, k, dtype, spec = case.args
    for name in ("seconds", "cycles", "tops"):
        v = getattr(res, name)
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            return f"{name} = {v!r}"
    if not res.seconds > 0:
        return f"seconds = {res.seconds!r}"
    for u, v in (res.utilization or {}).items():
        if not (0.0 <= v <= 1.0 + 1e-6):
            return f"utilization {u} = {v}"
    db = res.dram_bytes
    if db["total"] != sum(v for key, v in db.items() if key != "total"):
        return "dram_bytes total is not the sum of its parts"
    if arch.startswith(("xeon", "zen")):
        return None
    ref = case.ctx["ref"]
    if ref is not None and ref[0] == "nm" and isinstance(res.compulsory_bytes, dict):
        item = refs.ITEM[dtype]
        enc = case.kwargs["encoding"] or "index"
        want = refs.traffic_ref(int(m), int(k), item, ref, enc, None, pad=True)
        got = (res.compulsory_bytes["a_values"], res.compulsory_bytes["a_metadata"])
        if got != want[:2]:
            return f"compulsory A bytes {got} != {want[:2]}"
    if case.kwargs.get("a") is not None:
        a, b = case.kwargs["a"], case.kwargs["b"]
        if dtype == "int8":
            want = refs.wrap32(a.astype(np.int64) @ b.astype(np.int64))
            if not same_bits(res.output, want):
                return "exec-mode output differs from the integer product"
        elif ref[0] == "nm":
            vals, idx = refs.compress_ref(a, ref[1], ref[2])
            if not same_values(res.output, refs.spmac_ref(vals, idx, b, ref[1], ref[2])):
                return "exec-mode output differs from the reference sparse MAC"
    return None


@entry("timing.simulate", "api", gen_simulate, weight=5, check=check_simulate)
def call_simulate(case):
    from sparsesim.timing import simulate

    return simulate(*case.args, **case.kwargs)


KERNELS = [("vnni", True), ("avx512-int8", True), ("fp32", True), ("vnni-2to4", True), ("VNNI", False), ("", False),
           (None, False)]


def gen_ports(rng, tmp):
    arch = pick(rng, ["xeon-8280", "xeon-8180", "xeon-5120", "xeon-8380", "zen4-genoa"])
    av = True
    if rng.random() < 0.1:
        arch, av = pick(rng, [("a100", False), ("nope", False), ("", False), (None, False)])
    kernel, kv = pick(rng, KERNELS)
    if kv and kernel.startswith("vnni") and arch in ("xeon-8180", "xeon-5120"):
        kv = None  # no VNNI on Skylake-SP: refused
    fn = pick(rng, ["simulate_kernel", "gemm_timing"])
    if fn == "simulate_kernel":
        it = pick(rng, [8, 16, 96, 200]) if rng.random() < 0.8 else pick(rng, [7, 0, -1, True, 96.0, "96", None])
        iv = is_int(it) and it >= 8
        return Case((arch, kernel), {"fn": fn, "iterations": it}, _both(av, kv, iv),
                    f"{fn} {arch!r} {kernel!r} it={it!r}", {})
    dims = [pick(rng, [64, 128, 1000, 4096, 2**20]) if rng.random() < 0.8 else pick(rng, BAD_DIMS) for _ in range(3)]
    dv = all(is_int(d) and d > 0 for d in dims)
    if dv and dims[2] % 4:
        dv = None  # k must fit the kernel's K step
    cores, cv = pick(rng, [(None, True), (1, True), (4, True), (0, False), (-1, False), (10**6, False),
                           (2.0, False), (True, False)])
    ghz, gv = pick(rng, [(None, True), (2.0, True), (0.0, False), (-1.0, False), (float("nan"), False),
                         (float("inf"), False), ("2", False), (1e300, None)])
    return Case((arch, kernel, *dims), {"fn": fn, "cores": cores, "ghz": ghz}, _both(av, kv, dv, cv, gv),
                f"{fn} {arch!r} {kernel!r} {dims} cores={cores!r} ghz={ghz!r}", {})


def check_ports(case, res):
    vals = [res.cycles_per_iteration] if case.kwargs["fn"] == "simulate_kernel" else [res.seconds, res.tops]
    return None if all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in vals) else f"non-finite {vals}"


@entry("cpu (simulate_kernel, gemm_timing)", "api", gen_ports, weight=1.5, check=check_ports,
       )
def call_ports(case):
    from sparsesim import cpu as ports

    kw = dict(case.kwargs)
    fn = kw.pop("fn")
    return getattr(ports, fn)(*case.args, **kw)
