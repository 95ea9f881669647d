"""Speed of the int8 datapath kernels, each measured beside its baseline in one run.

    .venv/bin/python benchmarks/bench_isa.py                 # GEMM 4096^3 vs torch, kernels at 1024^3
    .venv/bin/python benchmarks/bench_isa.py --gemm-size 2048 --size 512 --repeat 5

1. Dense int8 GEMM (``--gemm-size``, default 4096^3) against ``torch._int_mm`` of the same
   shape, baseline and kernel alternating, median of back-to-back ratios (goal >= 0.5x):
   ``int8_gemm_packed(A_u8, W, "vnni")`` with W packed once ahead (the seed's u8 x s8
   layout) and ``int8_matmul(A_s8, B_s8)`` (the s8 x s8 product torch computes: +128
   shift, exact correction, B packed inside every call, as torch does).  Both use every
   core (numba and torch thread counts are printed).
2. The fused GEMM paths (``--size``, default 1024^3) on the real instructions and on the
   portable kernels, against numpy's int32 matmul (which wraps like VPDPBUSD: results
   are compared for bit equality), plus the 2:4 path.
3. Per-instruction emulation throughput (``sparsesim.isa``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from bench_formats import paired_times as paired  # alternating pairs, median ratio (same folder)


def best(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def gemm_vs_torch(size, repeat):
    import numba
    import torch

    from sparsesim.kernels import simd
    from sparsesim.kernels.dense import int8_matmul
    from sparsesim.kernels.int8_gemm import int8_gemm_packed, pack_weights

    rng = np.random.default_rng(1)
    a = rng.integers(-128, 128, (size, size), dtype=np.int8)
    w = rng.integers(-128, 128, (size, size), dtype=np.int8)
    au = a.view(np.uint8)
    wp = pack_weights(w)
    ta, tw = torch.from_numpy(a), torch.from_numpy(w)
    ref = torch._int_mm(ta, tw).numpy()
    exact = np.array_equal(int8_matmul(a, w), ref)
    int8_gemm_packed(au, wp, size, "vnni")
    ops = 2 * size**3 / 1e9
    print(f"dense int8 GEMM {size}^3 vs torch._int_mm (threads: numba {numba.get_num_threads()}, "
          f"torch {torch.get_num_threads()}; kernels on "
          f"{'AVX512_VNNI' if simd.has_path('vnni') else 'the portable path'}):")
    for label, fn in (("int8_gemm_packed u8 x s8, W packed once", lambda: int8_gemm_packed(au, wp, size, "vnni")),
                      ("int8_matmul s8 x s8, packs B per call", lambda: int8_matmul(a, w))):
        t_mm, t_k, ratio = paired(lambda: torch._int_mm(ta, tw), fn, repeat)
        print(f"  {label:40s} {t_k * 1e3:8.1f} ms {ops / t_k:7.1f} GOP/s | torch._int_mm {t_mm * 1e3:8.1f} ms "
              f"{ops / t_mm:7.1f} GOP/s | ratio {ratio:.2f}x (goal >= 0.5x)")
    print(f"  int8_matmul bit-exact vs torch._int_mm: {exact}")
    return exact


def paths_vs_numpy(n, repeat):
    from sparsesim.kernels import simd
    from sparsesim.kernels.int8_gemm import compress_weights_24, int8_gemm, int8_gemm_packed, pack_weights
    from sparsesim.kernels.int8_gemm import sparse24_int8_gemm

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (n, n), dtype=np.uint8)
    w = rng.integers(-128, 128, (n, n), dtype=np.int8)
    a32, w32 = a.astype(np.int32), w.astype(np.int32)
    t_np, ref = best(lambda: a32 @ w32, repeat)
    wp = pack_weights(w)
    t_pack, _ = best(lambda: pack_weights(w), repeat)
    values, indices = compress_weights_24(w)
    gmac = n**3 / 1e9
    print(f"int8 GEMM {n}x{n}x{n} (best of {repeat}); numpy int32 matmul {t_np * 1e3:9.1f} ms "
          f"{gmac / t_np:7.2f} GMAC/s; weight packing (one-off) {t_pack * 1e3:.1f} ms")
    exact = True
    for backend in ("auto", "portable"):
        simd.set_backend(backend)
        try:
            if backend == "auto" and not simd.has_path("vnni"):
                continue
            int8_gemm(a[:8, :64], w[:64, :32], "vnni")
            sparse24_int8_gemm(a[:8, :64], *compress_weights_24(w[:64, :32]), "vnni")
            name = "instructions" if backend == "auto" else "portable"
            t_vnni, got = best(lambda: int8_gemm_packed(a, wp, n, "vnni"), repeat)
            exact &= bool(np.array_equal(got, ref))
            t_vnnis, _ = best(lambda: int8_gemm_packed(a, wp, n, "vnnis"), repeat)
            t_avx, _ = best(lambda: int8_gemm_packed(a, wp, n, "avx512"), repeat)
            t_sp, sp = best(lambda: sparse24_int8_gemm(a, values, indices, "vnni"), repeat)
            print(f"  [{name}] VPDPBUSD {t_vnni * 1e3:8.1f} ms {gmac / t_vnni:7.2f} GMAC/s ({t_np / t_vnni:6.1f}x numpy,"
                  f" bit-exact {np.array_equal(got, ref)}) | VPDPBUSDS {t_vnnis * 1e3:8.1f} ms | 3-instr "
                  f"{t_avx * 1e3:8.1f} ms | 2:4 VPDPBUSD {t_sp * 1e3:8.1f} ms ({n**3 // 2 / 1e9 / t_sp:.2f} GMAC/s kept)")
        finally:
            simd.set_backend(None)
    return exact


def per_instruction(r, repeat):
    from sparsesim.isa import vpaddd, vpdpbusd, vpdpbusds, vpmaddubsw, vpmaddwd

    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (r, 64), dtype=np.uint8)
    s8 = rng.integers(-128, 128, (r, 64), dtype=np.int8)
    s16 = rng.integers(-32768, 32768, (r, 32), dtype=np.int16)
    s32 = rng.integers(-(2**31), 2**31, (r, 16), dtype=np.int32)
    ops = {
        "vpmaddubsw": lambda: vpmaddubsw(u8, s8),
        "vpmaddwd": lambda: vpmaddwd(s16, s16),
        "vpaddd": lambda: vpaddd(s32, s32),
        "vpdpbusd": lambda: vpdpbusd(s32, u8, s8),
        "vpdpbusds": lambda: vpdpbusds(s32, u8, s8),
    }
    print(f"per-instruction emulation, {r} zmm registers:")
    for name, fn in ops.items():
        fn()
        t, _ = best(fn, repeat)
        print(f"  {name:11s} {t * 1e3:8.1f} ms  {r / t / 1e6:7.1f} M registers/s")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gemm-size", type=int, default=4096, help="M = K = N of the GEMM vs torch (default 4096)")
    p.add_argument("--size", type=int, default=1024, help="M = K = N of the path comparison (default 1024)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--pairs", type=int, default=7, help="alternating pairs in the torch comparison")
    p.add_argument("--registers", type=int, default=1_000_000, help="registers for the per-instruction timing")
    args = p.parse_args(argv)
    exact = gemm_vs_torch(args.gemm_size, args.pairs)
    exact &= paths_vs_numpy(args.size, args.repeat)
    per_instruction(args.registers, args.repeat)
    return 0 if exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
