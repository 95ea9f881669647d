"""``sparsesim archs`` and ``sparsesim simulate``: argument parsing and printing only."""

from __future__ import annotations

from ._types import integer, real

import argparse
import json
import re
import sys

from ..errors import InputError

_GEMM = re.compile(r"\s*([0-9]{1,30})[x*]([0-9]{1,30})[x*]([0-9]{1,30})\s*", re.ASCII | re.IGNORECASE)


def _gemm(text: str):
    found = _GEMM.fullmatch(text)
    dims = tuple(int(x) for x in found.groups()) if found else ()
    if len(dims) != 3 or min(dims) <= 0:
        raise argparse.ArgumentTypeError(
            f"--gemm {text!r}: expected three positive sizes MxNxK in digits 0-9, e.g. 4096x4096x4096")
    return dims


def register(subparsers) -> None:
    p = subparsers.add_parser("archs", help="list the architecture configs found",
                              description="List architecture configs (arch_configs/*.toml and $SPARSESIM_ARCH_PATH).")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_archs)

    p = subparsers.add_parser(
        "simulate", help="time one GEMM on an architecture",
        description="Simulate C[m x n] = A[m x k] . B[k x n] with A sparse along k on a GPU config.")
    p.add_argument("--arch", required=True, help="config name (see `sparsesim archs`) or path to a .toml")
    p.add_argument("--gemm", required=True, type=_gemm, metavar="MxNxK", help="GEMM shape, e.g. 4096x4096x4096")
    p.add_argument("--dtype", default="fp16", help="int8, fp8, fp16 or bf16 (default fp16)")
    p.add_argument("--pattern", default="dense", help="dense, N:M (e.g. 2:4) or unstructured")
    p.add_argument("--density", type=real, default=None, help="density of an unstructured A")
    p.add_argument("--format", default=None, help="stored format of an unstructured A: csr, csb, bitmask")
    p.add_argument("--encoding", default=None, help="metadata encoding of an N:M A: index, combinatorial, bitmask")
    p.add_argument("--mode", default="statistical", choices=("statistical", "full", "exec"),
                   help="statistical (fast-forwarded, default), full (every event) or exec "
                        "(random int8/fp16 operands with the pattern, run through the functional kernels)")
    p.add_argument("--seed", type=integer, default=0, help="random seed of the exec-mode operands (>= 0)")
    p.add_argument("--limit", action="append", metavar="NAME=VALUE",
                   help="raise a resource limit (docs/limits.md): full_wave_iterations, exec_bytes, exec_macs")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_simulate)


def _archs(args) -> int:
    from ..arch import available_archs, load_arch
    from ..errors import ConfigError

    rows = []
    for name, path in available_archs().items():
        try:
            a = load_arch(path)
            rows.append({"name": name, "kind": a.kind, "description": a.description, "path": str(path)})
        except ConfigError as exc:
            rows.append({"name": name, "kind": "?", "description": f"INVALID: {exc}", "path": str(path)})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        width = max((len(r["name"]) for r in rows), default=4)
        for r in rows:
            print(f"{r['name']:<{width}}  {r['kind']:<4}  {r['description']}")
    return 0


def _simulate(args) -> int:
    from ..timing import simulate
    from ..timing.limits import parse_overrides

    m, n, k = args.gemm
    limits = parse_overrides(args.limit)
    if args.seed < 0:
        raise InputError(f"--seed must be a non-negative integer, got {args.seed}")
    extra = {}
    if args.mode == "exec":
        extra["a"], extra["b"] = _exec_operands(m, n, k, args, limits)
    res = simulate(args.arch, m, n, k, args.dtype, args.pattern, density=args.density,
                   mode=args.mode, format=args.format, encoding=args.encoding, limits=limits, **extra)
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
        return 0
    out = sys.stdout
    t = res.tile
    print(f"{res.arch}: C[{m}x{n}] = A[{m}x{k}] . B[{k}x{n}]  {res.dtype}  A {res.pattern}"
          + (f" ({res.format})" if res.format else ""), file=out)
    print(f"  time        {res.seconds * 1e6:.2f} us  ({res.kernel_cycles:.0f} cycles + launch "
          f"{res.launch_seconds * 1e6:.1f} us)", file=out)
    print(f"  throughput  {res.tops:.1f} TOPS (dense-equivalent)", file=out)
    print(f"  bound       {res.bound}   datapath {res.datapath}", file=out)
    print("  utilization " + "  ".join(f"{u} {v:.2f}" for u, v in res.utilization.items()), file=out)
    db = res.dram_bytes
    print(f"  DRAM bytes  A values {db['a_values']}  A metadata {db['a_metadata']}  B {db['b']}  "
          f"C {db['c']}  total {db['total']}", file=out)
    if {"cta_m", "cta_n", "cta_k"} <= set(t or {}):  # GPU tiling (CPU results have none)
        print(f"  tiles       {t['cta_m']}x{t['cta_n']}x{t['cta_k']} ({res.ctas} CTAs, {res.ctas_per_sm}/SM, "
              f"{res.waves} waves)", file=out)
    if res.tile_cycles:
        tc = res.tile_cycles
        print(f"  tile rows   MAC cycles per CTA min {min(tc):.0f}  max {max(tc):.0f}  "
              f"(imbalance {max(tc) / max(min(tc), 1e-9):.2f}x)", file=out)
    return 0


def _exec_operands(m, n, k, args, limits):
    """Random operands for --mode exec: A drawn with the pattern, B dense."""
    import numpy as np

    from ..patterns import parse_pattern
    from ..timing.limits import check_dims, check_exec

    check_dims(m, n, k, limits)
    check_exec(m, n, k, limits)  # before the operands are drawn
    if args.dtype not in ("int8", "fp16"):
        raise InputError(f"--mode exec runs int8 or fp16 operands, got --dtype {args.dtype}")
    pat = parse_pattern(args.pattern, args.density)
    rng = np.random.default_rng(args.seed)
    if args.dtype == "int8":
        a = rng.integers(-128, 128, (m, k)).astype(np.int8)
        b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    else:
        a = rng.standard_normal((m, k)).astype(np.float16)
        b = rng.standard_normal((k, n)).astype(np.float16)
    a[a == 0] = 1
    if pat.is_nm:
        from ..formats import prune

        a = prune(a, pat.n, pat.m)
    elif pat.is_unstructured:
        a = np.where(rng.random((m, k)) < pat.density, a, 0).astype(a.dtype)
        args.density = float(np.count_nonzero(a)) / a.size
    return a, b
