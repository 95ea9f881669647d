"""Sweep throughput: BERT-large GEMMs x 3 archs x 5 sparse patterns x 20 densities.

Runs the same sweep (statistical timing mode, fp16) side by side with different
executors in one process and prints wall time, cost per point and scaling relative
to ``--jobs 1``.  Goal: the whole sweep in <= 60 s wall on a 2-core machine.

    .venv/bin/python benchmarks/bench_sweep.py                 # jobs 1 and 2
    .venv/bin/python benchmarks/bench_sweep.py --jobs 1 2 4 --dask

Each run writes to a fresh temporary results file, so nothing is resumed.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

GOAL_S = 60.0
ARCHS = ["a100", "a100-4of8", "h100"]
PATTERNS = "2:4,4:8,unstructured:csr,unstructured:csb,unstructured:bitmask"
DENSITIES = "0.05:1.0:0.05"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--dask", action="store_true", help="also run on a 2-worker Dask LocalCluster")
    ap.add_argument("--workload", default="bert-large")
    args = ap.parse_args(argv)

    from sparsesim.dse import plan_points, run_sweep, simulate_point

    points = plan_points(ARCHS, [args.workload], PATTERNS, DENSITIES, dtype="fp16")
    sims = len({p.sim_key for p in points})
    print(f"sweep: {args.workload} x {len(ARCHS)} archs x dense + {PATTERNS} x {DENSITIES}")
    print(f"       {len(points)} points, {sims} distinct simulations; "
          f"{os.cpu_count()} cores, Python {platform.python_version()}")

    t = time.perf_counter()
    simulate_point(points[0])  # imports + first-call setup, paid once per process
    print(f"first point in this process (imports, setup): {time.perf_counter() - t:.2f} s\n")

    runs = [(f"--jobs {j}", dict(jobs=j)) for j in args.jobs]
    cluster = None
    if args.dask:
        from distributed import LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        runs.append(("dask LocalCluster 2x1", dict(scheduler=cluster.scheduler_address)))

    base = None
    print(f"{'executor':<24} {'wall s':>8} {'ms/point':>9} {'ms/sim':>8} {'vs jobs 1':>9}  goal")
    try:
        for name, kw in runs:
            with tempfile.TemporaryDirectory() as tmp:
                t = time.perf_counter()
                res = run_sweep(points, Path(tmp) / "r.csv", simulate_point, **kw)
                wall = time.perf_counter() - t
            if res.errors:
                print(f"{name}: {res.errors} points failed", file=sys.stderr)
            base = base or wall
            ok = "ok" if wall <= GOAL_S else "MISSED"
            print(f"{name:<24} {wall:>8.2f} {1e3 * wall / len(points):>9.2f} "
                  f"{1e3 * wall / sims:>8.2f} {base / wall:>8.2f}x  {ok} (<= {GOAL_S:.0f} s)")
    finally:
        if cluster is not None:
            cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
