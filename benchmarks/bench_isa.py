"""Speed of the emulated int8 datapath, measured side by side in one run.

Times the fused emulated VPDPBUSD GEMM (sparsesim.kernels.int8_gemm) against
numpy's int32 matmul of the same product (numpy wraps int32 like VPDPBUSD, so the
two results must be bit-equal), plus the three-instruction path, the 2:4 path and
raw per-instruction throughput.  Best of ``--repeat`` runs after a JIT warm-up.

    .venv/bin/python benchmarks/bench_isa.py            # 1024 x 1024 x 1024
    .venv/bin/python benchmarks/bench_isa.py --size 512 --repeat 5
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def best(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=1024, help="M = K = N (default 1024)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--registers", type=int, default=1_000_000, help="registers for the per-instruction timing")
    args = p.parse_args(argv)

    from sparsesim.isa import vpaddd, vpdpbusd, vpdpbusds, vpmaddubsw, vpmaddwd
    from sparsesim.kernels.int8_gemm import (
        compress_weights_24,
        int8_gemm,
        int8_gemm_packed,
        pack_weights,
        sparse24_int8_gemm,
    )

    n = args.size
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (n, n), dtype=np.uint8)
    w = rng.integers(-128, 128, (n, n), dtype=np.int8)
    # warm-up: compile every kernel on a small problem
    small_a, small_w = a[:8, :64], w[:64, :32]
    for path in ("vnni", "avx512", "vnnis"):
        int8_gemm(small_a, small_w, path)
    sv, si = compress_weights_24(small_w)
    sparse24_int8_gemm(small_a, sv, si, "vnni")

    a32, w32 = a.astype(np.int32), w.astype(np.int32)
    t_np, ref = best(lambda: a32 @ w32, args.repeat)
    wp = pack_weights(w)
    t_pack, _ = best(lambda: pack_weights(w), args.repeat)
    t_vnni, got = best(lambda: int8_gemm_packed(a, wp, n, "vnni"), args.repeat)
    exact = bool(np.array_equal(got, ref))
    t_avx, _ = best(lambda: int8_gemm_packed(a, wp, n, "avx512"), args.repeat)
    t_vnnis, _ = best(lambda: int8_gemm_packed(a, wp, n, "vnnis"), args.repeat)
    values, indices = compress_weights_24(w)
    t_sp, sp = best(lambda: sparse24_int8_gemm(a, values, indices, "vnni"), args.repeat)

    gmac = n**3 / 1e9
    print(f"int8 GEMM {n}x{n}x{n} (best of {args.repeat}):")
    print(f"  numpy int32 matmul          {t_np * 1e3:9.1f} ms  {gmac / t_np:7.2f} GMAC/s")
    print(f"  emulated VPDPBUSD (vnni)    {t_vnni * 1e3:9.1f} ms  {gmac / t_vnni:7.2f} GMAC/s  "
          f"speed-up vs numpy {t_np / t_vnni:5.1f}x  bit-exact: {exact}")
    print(f"  emulated VPDPBUSDS (vnnis)  {t_vnnis * 1e3:9.1f} ms  speed-up vs numpy {t_np / t_vnnis:5.1f}x")
    print(f"  emulated 3-instr (avx512)   {t_avx * 1e3:9.1f} ms  speed-up vs numpy {t_np / t_avx:5.1f}x")
    print(f"  emulated 2:4 VPDPBUSD       {t_sp * 1e3:9.1f} ms  ({n**3 // 2 / 1e9 / t_sp:.2f} GMAC/s kept)")
    print(f"  weight packing (one-off)    {t_pack * 1e3:9.1f} ms")

    r = args.registers
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
        t, _ = best(fn, args.repeat)
        print(f"  {name:11s} {t * 1e3:8.1f} ms  {r / t / 1e6:7.1f} M registers/s")
    return 0 if exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
