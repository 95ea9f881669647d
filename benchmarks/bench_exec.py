"""Cost of exec mode against the statistical mode, side by side in one run.

Run:  .venv/bin/python benchmarks/bench_exec.py [--reps 5] [--arch a100]

For each GEMM (MiniLM-sized layers and a larger one) and operand kind, alternates an exec run
on seeded random operands with a statistical run of the same GEMM, and prints the median wall
times, the median ratio exec / statistical, exec mode's split (timing the tile candidates on
the real operand / the chosen tile's run with the functional MMAs) and its CTA-iterations.
No goal is asserted: exec mode is the slow, exact mode; this says how slow.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

CASES = [  # m, n, k, dtype, pattern, density, format
    (1536, 170, 384, "fp16", "unstructured", 0.1, "csb"),
    (1536, 170, 384, "int8", "2:4", None, None),
    (384, 170, 1536, "fp16", "dense", None, None),
    (2048, 512, 2048, "int8", "unstructured", 0.1, "bitmask"),
]


def operands(m, n, k, dtype, pattern, density, seed=0):
    from sparsesim.formats import prune

    rng = np.random.default_rng(seed)
    if dtype == "int8":
        a = rng.integers(-128, 128, (m, k)).astype(np.int8)
        b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    else:
        a = rng.standard_normal((m, k)).astype(np.float16)
        b = rng.standard_normal((k, n)).astype(np.float16)
    a[a == 0] = 1
    if pattern == "2:4":
        a = prune(a, 2, 4)
    elif pattern == "unstructured":
        a = np.where(rng.random((m, k)) < density, a, 0).astype(a.dtype)
    return a, b


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--arch", default="a100")
    args = ap.parse_args(argv)

    import sparsesim

    print(f"{'GEMM':>16} {'dtype':>5} {'A':>18} {'exec s':>8} {'stat s':>8} {'ratio':>7} "
          f"{'search s':>8} {'run s':>7} {'items':>7}")
    for m, n, k, dtype, pattern, density, fmt in CASES:
        a, b = operands(m, n, k, dtype, pattern, density)
        kw = dict(format=fmt)
        sparsesim.simulate(args.arch, m, n, k, dtype, pattern, mode="exec", a=a, b=b, **kw)  # warm-up: JIT
        ex, st, ratio = [], [], []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            r = sparsesim.simulate(args.arch, m, n, k, dtype, pattern, mode="exec", a=a, b=b, **kw)
            t1 = time.perf_counter()
            sparsesim.simulate(args.arch, m, n, k, dtype, pattern, density=density, **kw)
            t2 = time.perf_counter()
            ex.append(t1 - t0)
            st.append(t2 - t1)
            ratio.append((t1 - t0) / (t2 - t1))
        e = r.exec_stats
        label = pattern if pattern != "unstructured" else f"{density:g} {fmt}"
        print(f"{m}x{n}x{k:>5} {dtype:>5} {label:>18} {statistics.median(ex):8.3f} {statistics.median(st):8.4f} "
              f"{statistics.median(ratio):6.0f}x {e['tile_search_seconds']:8.2f} {e['run_seconds']:7.2f} {e['items']:7d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
