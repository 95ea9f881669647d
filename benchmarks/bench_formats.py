"""Formats and sparse-MAC speed, each measured beside its baseline in the same run.

    python benchmarks/bench_formats.py [--quick]

Prints:
* 2:4 compression (prune + compress + 'index' metadata) of an 8192 x 8192 fp16 matrix
  vs a memcpy of the same bytes: ``numpy.copyto`` into a buffer allocated once, and
  ``ndarray.copy`` (allocates its output, as compression does) (goal >= 0.8x);
* 2:4 int8 sparse MAC 4096^3 (bit-exact, int32 wrap-around) vs ``torch._int_mm`` on the
  same shape with the decompressed (dense) A: the same int8 x int8 -> int32 product
  (goal >= 1.0x; throughput counts the dense-equivalent 2*M*N*K operations for both).
  Measured twice: with A interleaved once ahead (``spmac.pack``, as weights are; B is
  packed inside every call, as torch packs its operands inside every call), and
  ``spmac(values, indices, B)`` from the compressed arrays, packing both per call;
* first-call JIT compile time of the kernels, and the import time of ``sparsesim``.
Baseline and kernel run alternately after a warm-up; times and ratios are medians
(the ratio is the median of back-to-back pairs).  Both sides use every core: numba's
thread count and torch.get_num_threads() are printed.
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
    from sparsesim.formats import compress, compress_packed, decompress
    from sparsesim.kernels import spmac

    rng = np.random.default_rng(0)
    n = 2048 if args.quick else 8192
    w = rng.standard_normal((n, n)).astype(np.float16)
    dst = np.empty_like(w)

    def compress_all():
        compress_packed(w, 2, 4, "index")

    compress_all()
    t_copy, t_comp, r_comp = paired_times(lambda: np.copyto(dst, w), compress_all, 9)
    t_new, _, r_new = paired_times(lambda: w.copy(), compress_all, 9)
    gbs = w.nbytes / 1e9
    print(f"compress 2:4 fp16 {n}x{n}: {t_comp * 1e3:8.1f} ms ({gbs / t_comp:6.2f} GB/s of input)"
          f" | numpy.copyto {t_copy * 1e3:7.1f} ms ({gbs / t_copy:6.2f} GB/s) | ratio {r_comp:.2f}x"
          f" | ndarray.copy {t_new * 1e3:7.1f} ms, ratio {r_new:.2f}x  (goal >= 0.8x)")

    import numba
    import torch

    from sparsesim.kernels import simd
    from sparsesim.kernels.spmac import pack, spmac_packed

    s = 1024 if args.quick else 4096
    a = rng.integers(-128, 128, (s, s)).astype(np.int8)
    b = rng.integers(-128, 128, (s, s)).astype(np.int8)
    va, ia = compress(a, 2, 4)
    packed = pack(va, ia)
    spmac(va[:16], ia[:16], b[:, :64])
    ta = torch.from_numpy(decompress(va, ia, 2, 4))
    tb = torch.from_numpy(b)
    exact = np.array_equal(spmac_packed(packed, b), torch._int_mm(ta, tb).numpy())
    ops = 2 * s ** 3 / 1e9
    print(f"threads: numba {numba.get_num_threads()}, torch {torch.get_num_threads()}; "
          f"int8 kernels on {'AVX512_VNNI' if simd.has_path('vnni') else 'the portable path'}")
    for label, fn in (("A packed once", lambda: spmac_packed(packed, b)),
                      ("from (values, indices)", lambda: spmac(va, ia, b))):
        t_mm, t_sp, r_sp = paired_times(lambda: torch._int_mm(ta, tb), fn, 9)
        print(f"spmac 2:4 int8 {s}^3, {label:22s}: {t_sp * 1e3:7.1f} ms ({ops / t_sp:6.1f} dense-equiv GOP/s)"
              f" | torch._int_mm {t_mm * 1e3:7.1f} ms ({ops / t_mm:6.1f} GOP/s) | ratio {r_sp:.2f}x"
              f"  (goal >= 1.0x; bit-exact: {exact})")

    t_jit_compress, t_jit_spmac = first_call_jit()
    print(f"first call (JIT compile or cache load): compress+metadata {t_jit_compress:.2f} s, spmac {t_jit_spmac:.2f} s")
    print(f"import sparsesim: {import_time() * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
