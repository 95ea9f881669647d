"""``sparsesim ports``: x86 execution-port model of the AVX-512 / VNNI GEMM micro-kernels."""

from __future__ import annotations

from ._types import integer, real

import argparse
import json
import math
import re

KERNEL_CHOICES = ("fp32", "avx512-int8", "vnni", "vnni-2to4", "vnni-2to4-mux", "avx512-int8-2to4-mux")
from ..cpu.portmodel import MAX_ITERATIONS  # noqa: E402 - the port model's own limit
_DIMS = re.compile(r"[0-9]{1,30}(?:[x*][0-9]{1,30})*", re.ASCII | re.IGNORECASE)


def _dims(text: str):
    if not _DIMS.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"expected positive integers (digits 0-9) joined by 'x', got {text!r}")
    vals = tuple(int(p) for p in re.split(r"[x*]", text.strip().lower()))
    if any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"dimensions must be positive, got {text!r}")
    return vals


def _gemm(text):
    v = _dims(text)
    if len(v) != 3:
        raise argparse.ArgumentTypeError(f"expected MxNxK, got {text!r}")
    return v


def _mk(text):
    v = _dims(text)
    if len(v) != 2:
        raise argparse.ArgumentTypeError(f"expected MxK, got {text!r}")
    return v


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ports",
        help="x86 port model of the int8/fp32 AVX-512 GEMM micro-kernels",
        description=(
            "Issue one micro-kernel's instruction stream to the execution ports of a CPU "
            "config (SimPy model) and report steady-state cycles per iteration, MACs per "
            "cycle and what bounds the loop; optionally the exact assembly, llvm-mca's "
            "prediction, a whole-GEMM estimate with cache/DRAM traffic, or where 2:4 "
            "weights beat dense VNNI."
        ),
    )
    p.add_argument("--arch", required=True, help="CPU config name (xeon-8180, xeon-8280, xeon-5120, xeon-8380, zen4-genoa) or path")
    p.add_argument("--kernel", required=True, choices=KERNEL_CHOICES, help="micro-kernel")
    p.add_argument("--mr", type=integer, default=None, help="activation rows (columns of X) per register tile (default 4; 16 for the -mux kernels)")
    p.add_argument("--nr", type=integer, default=None, help="zmm registers of weights per register tile (default 4; 1 for the -mux kernels)")
    p.add_argument("--emit-asm", action="store_true", help="print the loop's exact assembly (Intel syntax) and exit")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--iterations", type=integer, default=96,
                   help=f"loop iterations simulated (default 96, 8 .. {MAX_ITERATIONS})")
    p.add_argument("--ghz", type=real, default=None,
                   help="clock for TOPS figures (default: the config's all-core AVX-512 turbo)")
    p.add_argument("--cores", type=integer, default=None, help="cores used (default: all of one socket)")
    p.add_argument("--gemm", type=_gemm, default=None, metavar="MxNxK",
                   help="also estimate a whole GEMM C[m x n] = W[m x k] . X[k x n] (weights W)")
    p.add_argument("--crossover", type=_mk, default=None, metavar="MxK",
                   help="tabulate dense VNNI vs 2:4 weights over n for W[m x k]")
    p.add_argument("--compare-mca", default=None, metavar="LLVM_MCA",
                   help="also run this llvm-mca executable (e.g. llvm-mca-19) on the emitted loop")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..cpu import build_kernel, emit_asm, gemm_timing, llvm_mca_cycles, load_cpu_arch, simulate_kernel
    from ..cpu import sparse_crossover
    from ..cpu.microkernels import SPARSE_24
    from ..errors import InputError

    if not 8 <= args.iterations <= MAX_ITERATIONS:
        raise InputError(f"--iterations must be in 8..{MAX_ITERATIONS} (the loop is in its steady state long "
                         f"before), got {args.iterations}")
    for flag in ("mr", "nr", "cores"):
        v = getattr(args, flag)
        if v is not None and v < 1:
            raise InputError(f"--{flag} must be a positive integer, got {v}")
    if args.ghz is not None and not (math.isfinite(args.ghz) and args.ghz > 0):
        raise InputError(f"--ghz must be a positive, finite clock, got {args.ghz}")
    arch = load_cpu_arch(args.arch)
    kw = {}
    if args.mr is not None:
        kw["mr"] = args.mr
    if args.nr is not None:
        kw["nr"] = args.nr
    kernel = build_kernel(args.kernel, **kw)
    if args.emit_asm:
        print(emit_asm(kernel), end="")
        return 0
    ghz = args.ghz if args.ghz is not None else arch.clock.avx512_all_core_turbo_ghz
    cores = args.cores if args.cores is not None else arch.core.count
    if not ghz > 0:
        raise InputError(f"--ghz must be positive, got {ghz}")
    if not 1 <= cores <= arch.core.count:
        raise InputError(f"--cores must be in 1..{arch.core.count} for {arch.name}, got {cores}")
    res = simulate_kernel(arch, kernel, iterations=args.iterations)
    out = res.to_dict()
    out["ghz"] = ghz
    out["cores"] = cores
    out["peak_tops_socket"] = 2.0 * res.macs_per_cycle * cores * ghz / 1e3
    out["llvm_mcpu"] = arch.llvm_mcpu
    if args.compare_mca:
        out["llvm_mca_cycles_per_iteration"] = llvm_mca_cycles(emit_asm(kernel), arch.llvm_mcpu, args.compare_mca)
    if args.gemm:
        m, n, k = args.gemm
        out["gemm"] = gemm_timing(arch, args.kernel, m, n, k, cores=cores, ghz=ghz,
                                  mr=args.mr, nr=args.nr).to_dict()
    if args.crossover:
        m, k = args.crossover
        sparse = args.kernel if args.kernel in SPARSE_24 else "vnni-2to4"
        out["crossover"] = sparse_crossover(arch, m, k, cores=cores, ghz=ghz, mr=args.mr, nr=args.nr,
                                            sparse_kernel=sparse)

    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{arch.name}: {arch.description}")
    print(f"kernel {kernel.name} {kernel.mr}x{kernel.nr} ({kernel.accumulators} accumulator chains, "
          f"{out['uops_per_iteration']} uops/iteration)")
    print(f"  cycles/iteration   {res.cycles_per_iteration:8.3f}   bound: {res.bound}")
    print(f"  lower bounds       ports {res.port_bound_cycles:.2f}, latency {res.latency_bound_cycles:.2f}, "
          f"front end {res.frontend_bound_cycles:.2f}")
    print(f"  MACs/cycle/core    {res.macs_per_cycle:8.2f}")
    print(f"  peak per socket    {out['peak_tops_socket']:8.3f} TOPS  ({cores} cores x {ghz} GHz)")
    busy = ", ".join(f"{p} {c:.2f}" for p, c in res.port_cycles.items() if c > 0)
    print(f"  port cycles/iter   {busy}")
    if "llvm_mca_cycles_per_iteration" in out:
        v = out["llvm_mca_cycles_per_iteration"]
        print(f"  llvm-mca -mcpu={arch.llvm_mcpu}: {v:.3f} cycles/iteration "
              f"({100 * (res.cycles_per_iteration - v) / v:+.1f}% model vs llvm-mca)")
    if "gemm" in out:
        g = out["gemm"]
        print(f"GEMM {g['m']}x{g['n']}x{g['k']}: {g['seconds'] * 1e6:.1f} us, {g['tops']:.2f} TOPS, bound {g['bound']} "
              f"(compute {g['compute_seconds'] * 1e6:.1f} us, DRAM {g['dram_seconds'] * 1e6:.1f} us, "
              f"{g['dram_bytes']['total'] / 1e6:.2f} MB)")
    if "crossover" in out:
        c = out["crossover"]
        print(f"dense {c['dense_kernel']} vs 2:4 {c['sparse_kernel']}, W {args.crossover[0]}x{args.crossover[1]}:")
        print(f"  {'n':>6s} {'dense us':>10s} {'2:4 us':>10s} {'speedup':>8s}  bounds")
        for i, n in enumerate(c["n"]):
            print(f"  {n:6d} {c['dense_s'][i] * 1e6:10.2f} {c['sparse_s'][i] * 1e6:10.2f} {c['speedup'][i]:8.2f}  "
                  f"{c['dense_bound'][i]}/{c['sparse_bound'][i]}")
        w = c["sparse_wins_up_to_n"]
        print(f"  2:4 wins up to n = {w}" if w else "  2:4 never wins here")
    return 0
