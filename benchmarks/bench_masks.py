"""Speed of the mask searches, measured side by side in one run.

    .venv/bin/python benchmarks/bench_masks.py            # all cases
    .venv/bin/python benchmarks/bench_masks.py --quick    # skip 4096 x 4096 and the LP solver

Cases (random Gaussian float32 weights, seed 0):

* exact transposable 4:8 masks (one SciPy linear_sum_assignment per 8 x 8
  block) for a BERT-base FFN layer (768 x 3072) and a 4096 x 4096 matrix; goal:
  the BERT-base layer in under 10 s;
* the greedy 2-approximation on the same matrices (Numba, all threads and one
  thread); goal: at least 50x faster than exact; also the fraction of the
  exact optimum it keeps;
* the HiGHS transportation LP (the min-cost-flow formulation, 256 blocks per
  call) on the BERT-base layer, for comparison;
* the channel-permutation search (2:4 and 4:8) on a 3072 x 768 layer.

Prints one table; timings are wall-clock seconds, best of ``--repeat`` for the
fast cases (the machine may be shared).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np


def _best(fn, repeat):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="skip 4096 x 4096 and the LP solver")
    ap.add_argument("--repeat", type=int, default=5, help="repeats of the fast (approx) cases, best taken")
    args = ap.parse_args(argv)

    import numba

    from sparsesim.masks import kept_l1, search_permutation, transposable_mask

    threads = numba.get_num_threads()

    rng = np.random.default_rng(0)
    # compile the Numba kernels outside the timed region
    warm = rng.standard_normal((64, 64)).astype(np.float32)
    transposable_mask(warm, 4, 8, "approx")
    search_permutation(warm, 2, 4, max_sweeps=1)
    search_permutation(warm, 4, 8, max_sweeps=1)

    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"{'case':52s} {'seconds':>9s}  notes")
    shapes = [(768, 3072)] + ([] if args.quick else [(4096, 4096)])
    for shape in shapes:
        w = rng.standard_normal(shape).astype(np.float32)
        blocks = shape[0] * shape[1] // 64
        t_ex, ex = _best(lambda: transposable_mask(w, 4, 8, "exact"), 1)
        t_ap, ap = _best(lambda: transposable_mask(w, 4, 8, "approx"), args.repeat)
        numba.set_num_threads(1)
        t_ap1, ap1 = _best(lambda: transposable_mask(w, 4, 8, "approx"), args.repeat)
        numba.set_num_threads(threads)
        assert np.array_equal(ap, ap1)
        q = kept_l1(w, ap) / kept_l1(w, ex)
        goal = "  (goal < 10 s)" if shape == (768, 3072) else ""
        print(f"{'4:8-T exact (assignment) ' + f'{shape[0]}x{shape[1]}':52s} {t_ex:9.3f}  "
              f"{blocks} blocks, {1e6 * t_ex / blocks:.1f} us/block{goal}")
        print(f"{'4:8-T approx (greedy 2-approx) ' + f'{shape[0]}x{shape[1]}':52s} {t_ap:9.4f}  "
              f"{threads} threads; exact/approx = {t_ex / t_ap:.1f}x (goal >= 50x); keeps {100 * q:.3f}% of exact L1")
        print(f"{'4:8-T approx, 1 thread ' + f'{shape[0]}x{shape[1]}':52s} {t_ap1:9.4f}  "
              f"exact/approx = {t_ex / t_ap1:.1f}x (exact runs on 1 thread)")
        if shape == (768, 3072) and not args.quick:
            t_lp, lp = _best(lambda: transposable_mask(w, 4, 8, "exact", solver="lp", chunk_blocks=256), 1)
            same = abs(kept_l1(w, lp) - kept_l1(w, ex)) <= 1e-9 * kept_l1(w, ex)
            print(f"{'4:8-T exact (HiGHS LP, 256 blocks/call) 768x3072':52s} {t_lp:9.3f}  "
                  f"same optimum as assignment: {same}; LP/assignment = {t_lp / t_ex:.2f}x")
    w = rng.standard_normal((3072, 768)).astype(np.float32)
    for n, m in ((2, 4), (4, 8)):
        t, r = _best(lambda: search_permutation(w, n, m), 1)
        print(f"{f'permutation search {n}:{m} 3072x768 (6 sweeps max)':52s} {t:9.3f}  "
              f"kept {100 * r.fraction_identity:.2f}% -> {100 * r.fraction_permuted:.2f}% "
              f"(gain {100 * r.gain:.2f}%), {r.swaps} swaps, {r.sweeps} sweeps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
