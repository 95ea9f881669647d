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
    p.add_argument("--gemm", type=_gemm, metavar="MxNxK",
                   help="GEMM shape, e.g. 4096x4096x4096 (with --weights: m and k come from the layer)")
    p.add_argument("--dtype", default="fp16",
                   help="operand type: int8, fp8 (e4m3), fp16, bf16, tf32 or fp4 (e2m1), as the arch's tensor cores "
                        "take them (default fp16; others are refused naming those it takes)")
    p.add_argument("--pattern", default="dense", help="dense, N:M (e.g. 2:4) or unstructured")
    p.add_argument("--density", type=real, default=None, help="density of an unstructured A")
    p.add_argument("--format", default=None, help="stored format of an unstructured A: csr, csb, bitmask")
    p.add_argument("--encoding", default=None, help="metadata encoding of an N:M A: index, combinatorial, bitmask")
    p.add_argument("--mode", default="statistical", choices=("statistical", "full", "exec"),
                   help="statistical (fast-forwarded, default), full (every event) or exec "
                        "(random int8/fp16 operands with the pattern, run through the functional kernels)")
    p.add_argument("--seed", type=integer, default=0, help="random seed of the exec-mode operands (>= 0)")
    p.add_argument("--limit", action="append", metavar="NAME=VALUE",
                   help="raise a resource limit (docs/limits.md): full_cta_iterations, exec_bytes, exec_macs")
    g = p.add_argument_group("real weights (exec mode)")
    g.add_argument("--weights", metavar="FILE.safetensors",
                   help="A = a layer of this file ([out, in]: m = out, k = in), pruned by magnitude to --pattern "
                        "(and --density), cast or quantized (int8: per output channel) to --dtype; implies --mode exec")
    g.add_argument("--layer", metavar="NAME", help="tensor name in --weights (the .weight suffix may be left out)")
    g.add_argument("--activations", metavar="FILE.npy",
                   help="B (k x n): float values cast / quantized (int8: per tensor) to --dtype; default: drawn "
                        "with --seed (int8 uniform -128..127, fp16/bf16 standard normal), n from --gemm or --tokens")
    g.add_argument("--tokens", type=integer, default=None, help="n of the drawn activations (default 128)")
    g.add_argument("--save-output", metavar="FILE.npy", help="write C (exec mode) to this .npy file")
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
    bad = [r for r in rows if r["kind"] == "?"]
    if bad:  # listed above with the others; the exit status says something is wrong
        sys.stdout.flush()
        raise ConfigError(f"{len(bad)} invalid config file(s), first {bad[0]['path']}: "
                          f"{bad[0]['description'][len('INVALID: '):]}")
    return 0


def _simulate(args) -> int:
    from ..timing import simulate
    from ..timing.limits import parse_overrides

    limits = parse_overrides(args.limit)
    if args.seed < 0:
        raise InputError(f"--seed must be a non-negative integer, got {args.seed}")
    if args.save_output:
        from ..io import check_output_file

        if args.mode != "exec" and not (args.weights or args.layer):
            raise InputError("--save-output writes C, which only mode exec computes (--mode exec or --weights)")
        check_output_file(args.save_output)  # before the simulation
    extra = {}
    if args.weights or args.layer:
        m, n, k = _weights_gemm(args, extra, limits)
    elif args.gemm is None:
        raise InputError("--gemm MxNxK is needed (or --weights FILE --layer NAME)")
    else:
        m, n, k = args.gemm
    if args.mode == "exec" and "a" not in extra:
        extra["a"], extra["b"] = _exec_operands(m, n, k, args, limits)
    res = simulate(args.arch, m, n, k, args.dtype, args.pattern, density=args.density,
                   mode=args.mode, format=args.format, encoding=args.encoding, limits=limits, **extra)
    if args.save_output and res.output is not None:
        from ..io import save_npy_atomic

        save_npy_atomic(args.save_output, res.output)
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
    if res.clock_mhz is not None:
        limit = "" if res.power_limit_w is None else f" of the {res.power_limit_w:g} W limit"
        why = {"clock": "clock ceiling", "power": "lowered by the power limit",
               "floor": "lowest clock, the power limit is not met"}.get(res.clock_limit, res.clock_limit)
        print(f"  clock       {res.clock_mhz:.0f} MHz ({why}; {res.vdd_v:.3f} V)   power {res.power_w:.1f} W{limit} "
              f"(at the ceiling {res.boost_power_w:.1f} W)", file=out)
    print("  utilization " + "  ".join(f"{u} {v:.2f}" for u, v in res.utilization.items()), file=out)
    db = res.dram_bytes
    print(f"  DRAM bytes  A values {db['a_values']}  A metadata {db['a_metadata']}  B {db['b']}  "
          f"C {db['c']}  total {db['total']}", file=out)
    if {"cta_m", "cta_n", "cta_k"} <= set(t or {}):  # GPU tiling (CPU results have none)
        print(f"  tiles       {t['cta_m']}x{t['cta_n']}x{t['cta_k']} ({res.ctas} CTAs, {res.ctas_per_sm}/SM, "
              f"{res.waves} waves)", file=out)
    if res.kernel:
        print(f"  kernel      {res.kernel['name']} ({res.kernel['candidates']} candidates)", file=out)
        print(f"              {res.kernel['why']}", file=out)
    if res.energy_j is not None:
        print(f"  energy      {res.energy_j * 1e3:.3f} mJ   avg power {res.avg_power_w:.1f} W "
              f"(static {res.energy_breakdown_j['static'] / res.seconds:.1f} W)", file=out)
        print("              " + "  ".join(f"{u} {v * 1e3:.3f}" for u, v in res.energy_breakdown_j.items())
              + "  mJ", file=out)
    if res.area is not None:
        a = res.area
        print(f"  area        sparse additions {a['sparse_um2']:.0f} um^2 per tensor core = "
              f"{a['sparse_fraction'] * 100:.2f} % of the dense datapath ({a['dense_um2']:.0f} um^2, {a['node']}); "
              f"chip {a['chip_sparse_mm2']:.2f} of {a['chip_dense_mm2']:.1f} mm^2", file=out)
    if res.exec_stats:
        e = res.exec_stats
        print(f"  exec        {e['items']} of {e['iterations']} CTA-iterations run ({e['skipped_iterations']} skipped, "
              f"{e['empty_ctas']} empty CTAs); A non-zeros {e['a_nonzeros']} (density {e['a_density']:.4f}); "
              f"wall {e['wall_seconds']:.2f} s", file=out)
    if args.save_output and res.output is not None:
        print(f"  output      C ({res.output.dtype}) written to {args.save_output}", file=out)
    if res.tile_cycles:
        tc = res.tile_cycles
        print(f"  tile rows   MAC cycles per CTA min {min(tc):.0f}  max {max(tc):.0f}  "
              f"(imbalance {max(tc) / max(min(tc), 1e-9):.2f}x)", file=out)
    return 0


def _weights_gemm(args, extra, limits):
    """m, n, k and the operands of a --weights --layer run (exec mode)."""
    from ..operands import layer_operands
    from ..timing.limits import check_exec

    if not (args.weights and args.layer):
        raise InputError("--weights FILE and --layer NAME go together")
    if args.mode not in ("statistical", "exec"):
        raise InputError(f"--weights runs in mode exec, not {args.mode}")
    args.mode = "exec"
    if args.tokens is not None and args.tokens < 1:
        raise InputError(f"--tokens must be a positive integer, got {args.tokens}")
    n = args.gemm[1] if args.gemm else args.tokens
    ops = layer_operands(args.weights, args.layer, args.pattern, args.density, args.dtype, n=n,
                         activations=args.activations, seed=args.seed, limits=limits)
    (m, k), n = ops.a.shape, ops.b.shape[1]
    if args.gemm and (args.gemm[0], args.gemm[2]) != (m, k):
        raise InputError(f"--gemm {args.gemm[0]}x{args.gemm[1]}x{args.gemm[2]} does not match layer "
                         f"{ops.info['layer']} ({m} x {k}: m = out-features, k = in-features)")
    check_exec(m, n, k, limits)
    extra["a"], extra["b"] = ops.a, ops.b
    if str(args.pattern).strip().lower() == "unstructured":
        args.density = None  # the pruned (and quantized) matrix's own density
    return m, n, k


def _exec_operands(m, n, k, args, limits):
    """Random operands for --mode exec: A drawn with the pattern, B dense."""
    import numpy as np

    from ..patterns import parse_pattern
    from ..timing.limits import check_dims, check_exec

    check_dims(m, n, k, limits)
    check_exec(m, n, k, limits)  # before the operands are drawn
    if args.dtype not in ("int8", "fp16", "bf16"):
        raise InputError(f"--mode exec runs int8, fp16 or bf16 operands, got --dtype {args.dtype}")
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
    if args.dtype == "bf16":
        from ..operands import to_bf16_bits

        a, b = to_bf16_bits(a), to_bf16_bits(b)
    return a, b
