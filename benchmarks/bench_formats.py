"""Formats and sparse-MAC speed, each measured beside its baseline in the same run.

    python benchmarks/bench_formats.py [--quick]

Prints:
* 2:4 compression (prune + compress + 'index' metadata) of an 8192 x 8192 fp16 matrix
  vs ``numpy.copyto`` of the same bytes (goal >= 0.5x memcpy throughput);
* 2:4 int8 sparse MAC 4096^3 (bit-exact, int32 accumulate) vs numpy float32 matmul of
  the same shape (goal >= 1.0x the float32 BLAS throughput; throughput counts the
  dense-equivalent 2*M*N*K operations for both);
* first-call JIT compile time of the kernels, and the import time of ``sparsesim``.
Baseline and kernel run alternately after a warm-up; times and ratios are medians
(the ratio is the median of back-to-back pairs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np


def paired_times(baseline, candidate, repeat):
    """Run baseline and candidate alternately; medians of each and of the per-pair ratio.

    Alternating keeps slow drift of a shared machine's speed out of the ratio: each
    ratio compares two runs taken back to back.
    """
    tb, tc = [], []
    for _ in range(repeat):
        for fn, times in ((baseline, tb), (candidate, tc)):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    ratio = statistics.median(b / c for b, c in zip(tb, tc))
    return statistics.median(tb), statistics.median(tc), ratio


def import_time():
    code = "import time; t=time.perf_counter(); import sparsesim; print(time.perf_counter()-t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
            for _ in range(5)]
    return statistics.median(runs)


def first_call_jit():
    code = (
        "import time, numpy as np\n"
        "from sparsesim.formats import compress, compress_packed\n"
        "from sparsesim.kernels import spmac\n"
        "w = np.ones((8, 16), np.float16); a = np.ones((8, 16), np.int8); b = np.ones((16, 4), np.int8)\n"
        "t = time.perf_counter(); compress_packed(w, 2, 4); t1 = time.perf_counter() - t\n"
        "va, ia = compress(a, 2, 4)\n"
        "t = time.perf_counter(); spmac(va, ia, b); t2 = time.perf_counter() - t\n"
        "print(t1, t2)\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_CACHE="0")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    return tuple(float(x) for x in out.split())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller shapes (for a smoke run)")
    args = ap.parse_args(argv)
    from sparsesim.formats import compress, compress_packed
    from sparsesim.kernels import spmac

    rng = np.random.default_rng(0)
    n = 2048 if args.quick else 8192
    w = rng.standard_normal((n, n)).astype(np.float16)
    dst = np.empty_like(w)

    def compress_all():
        compress_packed(w, 2, 4, "index")

    compress_all()
    t_copy, t_comp, r_comp = paired_times(lambda: np.copyto(dst, w), compress_all, 9)
    gbs = w.nbytes / 1e9
    print(f"compress 2:4 fp16 {n}x{n}: {t_comp * 1e3:8.1f} ms ({gbs / t_comp:6.2f} GB/s of input)"
          f" | numpy.copyto {t_copy * 1e3:7.1f} ms ({gbs / t_copy:6.2f} GB/s) | ratio {r_comp:.2f}x  (goal >= 0.5x)")

    s = 1024 if args.quick else 4096
    a = rng.integers(-128, 128, (s, s)).astype(np.int8)
    b = rng.integers(-128, 128, (s, s)).astype(np.int8)
    va, ia = compress(a, 2, 4)
    spmac(va[:16], ia[:16], b)
    af = rng.standard_normal((s, s)).astype(np.float32)
    bf = rng.standard_normal((s, s)).astype(np.float32)
    af @ bf
    t_blas, t_sp, r_sp = paired_times(lambda: af @ bf, lambda: spmac(va, ia, b), 7)
    ops = 2 * s ** 3 / 1e9
    print(f"spmac 2:4 int8 {s}^3:       {t_sp * 1e3:8.1f} ms ({ops / t_sp:6.1f} dense-equiv GOP/s)"
          f" | numpy f32 matmul {t_blas * 1e3:7.1f} ms ({ops / t_blas:6.1f} GFLOP/s) | ratio {r_sp:.2f}x  (goal >= 1.0x)")

    t_jit_compress, t_jit_spmac = first_call_jit()
    print(f"first call (JIT compile or cache load): compress+metadata {t_jit_compress:.2f} s, spmac {t_jit_spmac:.2f} s")
    print(f"import sparsesim: {import_time() * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
