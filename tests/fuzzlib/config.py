"""Entry points of the architecture config loader: files, base chains, names, derive()."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import numpy as np

from .core import Case, entry
from .values import pick

ROOT = Path(__file__).resolve().parents[2]
BASES = {"gpu": ROOT / "arch_configs" / "a100.toml", "cpu": ROOT / "arch_configs" / "xeon-8280.toml"}
MAX_BASE_DEPTH = 32  # documented in docs/limits.md
INT_MAX = 2**31 - 1
FLOAT_MAX = 1e12


# ------------------------------------------------------------------ a small TOML writer
def _scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        r = repr(v)
        return r if any(c in r for c in ".e") else r + ".0"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_scalar(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def dumps(doc: dict) -> str:
    lines = []
    tables = []
    for k, v in doc.items():
        if isinstance(v, dict):
            tables.append((k, v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            tables.append((k, v))
        else:
            lines.append(f"{json.dumps(k)} = {_scalar(v)}")
    for k, v in tables:
        if isinstance(v, dict):
            lines.append(f"\n[{json.dumps(k)}]")
            lines.extend(f"{json.dumps(kk)} = {_scalar(vv)}" for kk, vv in v.items())
        else:
            for item in v:
                lines.append(f"\n[[{json.dumps(k)}]]")
                lines.extend(f"{json.dumps(kk)} = {_scalar(vv)}" for kk, vv in item.items())
    return "\n".join(lines) + "\n"


def _leaves(doc, prefix=()):
    for k, v in doc.items():
        path = prefix + (k,)
        if isinstance(v, dict):
            yield from _leaves(v, path)
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for i, item in enumerate(v):
                yield from _leaves(item, path + (i,))
        else:
            yield path, v


def _set(doc, path, value):
    cur = doc
    for p in path[:-1]:
        cur = cur[p]
    if value is _DELETE:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value


_DELETE = object()


def _mutate_leaf(rng, old):
    """A new value for a leaf and whether the config stays valid (None: cannot tell)."""
    if isinstance(old, bool):
        return pick(rng, [(not old, None), (1, False), ("yes", False)])
    if isinstance(old, int):
        return pick(rng, [(2**63 - 1, False), (2**31, None), (INT_MAX, None), (0, False), (-1, False),
                          (1.5, None), ("8", False), (max(1, int(old * rng.uniform(0.5, 2.0))), None),
                          (old * 2, None), ([old], False)])
    if isinstance(old, float):
        return pick(rng, [(math.inf, False), (-math.inf, False), (math.nan, False), (0.0, False), (-1.0, False),
                          (1e300, False), (float(2**63 - 1), False), (FLOAT_MAX, None), (1e-300, None),
                          (old * float(rng.uniform(0.5, 2.0)), None), ("1.0", False), (True, False)])
    if isinstance(old, str):
        return pick(rng, [("x", None), ("", None), (7, False), ("\u0663\u0664", None)])
    return pick(rng, [(1, False), ("x", False)])


def _base_doc(rng):
    kind = "gpu" if rng.random() < 0.7 else "cpu"
    with open(BASES[kind], "rb") as f:
        return kind, tomllib.load(f)


def gen_config_file(rng, tmp):
    kind, doc = _base_doc(rng)
    doc.pop("name", None)
    valid, label = True, kind
    style = rng.integers(12)
    if style <= 5:
        leaves = [p for p, _ in _leaves(doc) if p not in (("kind",),)]
        path = leaves[int(rng.integers(len(leaves)))]
        old = doc
        for p in path:
            old = old[p]
        new, valid = _mutate_leaf(rng, old)
        _set(doc, path, new)
        label += f" {'.'.join(map(str, path))}={new!r}"
    elif style == 6:
        leaves = [p for p, _ in _leaves(doc)]
        path = leaves[int(rng.integers(len(leaves)))]
        _set(doc, path, _DELETE)
        valid, label = None, label + f" without {'.'.join(map(str, path))}"
    elif style == 7:
        tables = [k for k, v in doc.items() if isinstance(v, dict)]
        t = pick(rng, tables)
        doc[t]["bogus_key"] = 1
        valid, label = False, label + f" unknown key in {t}"
    elif style == 8:
        tables = [k for k, v in doc.items() if isinstance(v, dict)]
        doc[pick(rng, tables)] = pick(rng, [1, "x", [1, 2]])
        valid, label = False, label + " table replaced by a scalar"
    text = dumps(doc).encode("utf-8")
    if style == 9:
        pos = int(rng.integers(len(text)))
        text = text[:pos] + pick(rng, [b"\xff", b"\xc3(", b"\xe9", b"\x80\x80"]) + text[pos:]
        valid, label = False, label + " non-UTF-8 byte"
    elif style == 10:
        text = text[: int(rng.integers(len(text)))]
        valid, label = None, label + " truncated"
    elif style == 11:
        text = b"\xef\xbb\xbf" + text
        valid, label = None, label + " UTF-8 BOM"
    path = tmp / "cfg.toml"
    path.write_bytes(text)
    return Case((path,), {}, valid, label, {"kind": kind})


def _run_arch(arch):
    """What a user does with a loaded config: one small simulation."""
    if getattr(arch, "kind", None) == "gpu":
        from sparsesim.timing import simulate

        dt = next(iter(arch.tensor_core.dense_macs_per_cycle))
        r = simulate(arch, 256, 256, 256, dt, "2:4")
        return ("gpu", r.seconds, r.cycles, r.tops)
    from sparsesim.cpu import gemm_timing, simulate_kernel

    kern = "vnni" if arch.has_isa("avx512_vnni") else "fp32"
    p = simulate_kernel(arch, kern, iterations=16)
    g = gemm_timing(arch, kern, 256, 256, 256)
    return ("cpu", p.cycles_per_iteration, g.seconds, g.tops)


def check_run(case, res):
    vals = res[1:]
    return None if all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in vals) and vals[0] > 0 \
        else f"non-finite or non-positive results {vals}"


@entry("arch.load_arch(file) + simulate", "config", gen_config_file, weight=5, check=check_run)
def call_config_file(case):
    from sparsesim.arch import load_arch

    return _run_arch(load_arch(*case.args))


def gen_base_chain(rng, tmp):
    style = rng.integers(8)
    base_name = "a100"
    depth = int(pick(rng, [1, 2, 5, 16, 32, 33, 64, 200, 1200]))
    if style == 0:  # a cycle
        n = int(rng.integers(1, 4))
        for i in range(n):
            (tmp / f"c{i}.toml").write_text(f'base = "c{(i + 1) % n}"\nname = "c{i}"\n')
        return Case((tmp / "c0.toml",), {}, False, f"base cycle of {n}", {})
    if style == 1:
        (tmp / "bad.toml").write_bytes(b'kind = "gpu"\ndescription = "caf\xe9"\n')
        base_name, label, valid = "bad", "base not UTF-8", False
    elif style == 2:
        base_name, label, valid = pick(rng, ["nonexistent", "", "a100\x00", "../../etc/passwd", "adir.toml",
                                             "\u0663"]), "bad base name", False
        (tmp / "adir.toml").mkdir(exist_ok=True)
    elif style == 3:
        base_name, label, valid = None, "base of another type", False
    else:
        label, valid = f"chain of {depth}", True if depth <= MAX_BASE_DEPTH else (None if depth < 1000 else False)
        depth_files = depth
        for i in range(depth_files):
            nxt = f"c{i + 1}" if i + 1 < depth_files else "a100"
            (tmp / f"c{i}.toml").write_text(f'base = "{nxt}"\nname = "c{i}"\ndescription = "link {i}"\n'
                                             f'[dram]\nlatency_ns = {300 + i}.0\n')
        return Case((tmp / "c0.toml",), {}, valid, label, {})
    text = f'base = {json.dumps(base_name) if base_name is not None else "7"}\nname = "top"\n'
    (tmp / "top.toml").write_text(text)
    return Case((tmp / "top.toml",), {}, valid, label, {})


@entry("arch.load_arch(base chain)", "config", gen_base_chain, weight=1.5, check=check_run)
def call_base_chain(case):
    from sparsesim.arch import load_arch

    return _run_arch(load_arch(*case.args))


NAMES = [("a100", True), ("h100", True), ("xeon-8280", True), ("A100", False), ("a100 ", False), ("", False),
         ("\u0663", False), ("a100\x00", False), ("nonexistent", False), ("/nonexistent.toml", False),
         ("arch_configs", False), (7, False), (None, False), (b"a100", False), (["a100"], False),
         ("../../../../etc/hostname", False)]


def gen_arch_name(rng, tmp):
    name, valid = pick(rng, NAMES)
    if rng.random() < 0.2:
        (tmp / "dir.toml").mkdir(exist_ok=True)
        name, valid = pick(rng, [(tmp / "dir.toml", False), (str(tmp), False), (tmp / "missing.toml", False)])
    return Case((name,), {}, valid, f"name {name!r}", {})


@entry("arch.load_arch(name)", "config", gen_arch_name, weight=1, check=check_run)
def call_arch_name(case):
    from sparsesim.arch import load_arch

    return _run_arch(load_arch(*case.args))


def gen_derive(rng, tmp):
    arch = pick(rng, ["a100", "h100", "xeon-8280"])
    cands = [("dram.bandwidth_gbps", 1000.0, True), ("dram.bandwidth_gbps", math.inf, False),
             ("dram.latency_ns", math.nan, False), ("sm.count", 2**63 - 1, False), ("sm.count", 64, True),
             ("sm.count", 0, False), ("clock.sustained_mhz", math.inf, False), ("clock.sustained_mhz", 1e-300, None),
             ("l2.usable_fraction", 1.5, False), ("efficiency.dram", 0.5, True), ("bogus.key", 1, False),
             ("sm", 5, False), ("sm", {"count": 12}, True), ("tiles.stages", 2**31, False), ("tiles.stages", 4, True),
             ("sm.count", np.int64(64), None), ("dram.bandwidth_gbps", np.float64(900.0), True), ("", 1, False),
             ("dram..latency_ns", 1.0, False), ("sm.count.x", 1, False), (7, 1, False)]
    if arch.startswith("xeon"):
        cands = [("core.count", 2**63 - 1, False), ("core.count", 8, True), ("clock.base_ghz", math.inf, False),
                 ("memory.dram_efficiency", math.nan, False), ("memory.l2_kib", 2048, True), ("bogus", 1, False)]
    ov, oks = {}, {}
    for _ in range(int(rng.integers(1, 3))):
        key, val, ok = pick(rng, cands)
        ov[key], oks[key] = val, ok
    flags = list(oks.values())
    valid = False if False in flags else (None if None in flags else True)
    if len(ov) == 2 and any(str(k).startswith(("sm", "core")) for k in ov):
        valid = None if valid is not False else False
    overrides = ov if rng.random() < 0.9 else pick(rng, [None, [("sm.count", 4)], "sm.count=4"])
    if overrides is not ov:
        valid = False
    return Case((arch, overrides), {}, valid, f"derive {arch} {overrides!r}", {})


@entry("arch.derive", "config", gen_derive, weight=1.5, check=check_run)
def call_derive(case):
    from sparsesim.arch import derive

    return _run_arch(derive(*case.args))
