"""Sweep throughput: named archs and a parameter grid, per-point cost side by side.

Two cases, each timed from planning to the written table (plan_points, the dtype/pattern
check, run_sweep), statistical timing mode, fp16, BERT-large, patterns
2:4, 4:8, unstructured csr/csb/bitmask (dense baselines added):

* ``named``: 3 archs (a100, a100-4of8, h100) x densities 0.05:1.0:0.05 (756 points);
* ``grid``:  a100 with 2 parameters x 10 values (``--set dram.bandwidth_gbps=1000:5500:500
  --set tensor_core.decoder_bits_per_cycle=32:320:32``: 100 derived designs) x densities
  0.25:1.0:0.25 (6,000 points).

Every run is a fresh process (imports and a first point paid before the clock starts) writing
to a fresh temporary table, so nothing is resumed or cached across runs.  ``--baseline DIR``
also runs the ``named`` case on the source tree DIR (e.g. ``git archive main | tar -x -C DIR``),
alternating with this tree's runs (baseline first in even repeats, last in odd ones), and prints
each case's per-point cost relative to it (median over ``--repeat`` runs).  Goals: the named sweep in <= 60 s wall on a 2-core machine;
the grid's per-point cost within the baseline's.

    .venv/bin/python benchmarks/bench_sweep.py                    # both cases, jobs 1 and 2
    .venv/bin/python benchmarks/bench_sweep.py --jobs 1 2 --baseline /tmp/main-src --repeat 3
    .venv/bin/python benchmarks/bench_sweep.py --cases named --dask
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_S = 60.0
ROOT = Path(__file__).resolve().parent.parent
PATTERNS = "2:4,4:8,unstructured:csr,unstructured:csb,unstructured:bitmask"
CASES = {
    "named": dict(archs=["a100", "a100-4of8", "h100"], densities="0.05:1.0:0.05", params=None),
    "grid": dict(archs=["a100"], densities="0.25:1.0:0.25",
                 params=["dram.bandwidth_gbps=1000:5500:500", "tensor_core.decoder_bits_per_cycle=32:320:32"]),
}


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished worker processes (user + system)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def run_case(case: str, workload: str, jobs: int | None, scheduler: str | None) -> dict:
    """Time one case in this process (the child side); returns what it measured: wall seconds and
    CPU seconds (this process and its pool's workers; a Dask cluster's workers are not counted)."""
    from sparsesim.dse import check_supported, plan_points, run_sweep, simulate_point

    spec = CASES[case]
    kw = {"params": spec["params"]} if spec["params"] else {}
    warm = plan_points(spec["archs"][:1], [workload], "dense", "1.0")
    t = time.perf_counter()
    simulate_point(warm[0])  # imports + first-call setup, paid once per process
    first = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        t, cpu = time.perf_counter(), _cpu_seconds()
        points = plan_points(spec["archs"], [workload], PATTERNS, spec["densities"], dtype="fp16", **kw)
        check_supported(points)
        res = run_sweep(points, Path(tmp) / "r.csv", simulate_point, jobs=jobs, scheduler=scheduler)
        wall, cpu = time.perf_counter() - t, _cpu_seconds() - cpu
    return {"case": case, "points": len(points), "sims": res.simulations, "errors": res.errors,
            "wall": wall, "cpu": None if scheduler else cpu, "first": first}


def _child(src: Path, case: str, workload: str, jobs: int | None, scheduler: str | None) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), str(ROOT / "benchmarks")]))
    code = ("import json, sys, bench_sweep as b; "
            "print(json.dumps(b.run_case(sys.argv[1], sys.argv[2], "
            "int(sys.argv[3]) if sys.argv[3] != '-' else None, sys.argv[4] if sys.argv[4] != '-' else None)))")
    if not (src / "sparsesim" / "dse" / "grid.py").is_file() and case == "grid":
        raise SystemExit(f"{src} has no parameter grids (sparsesim/dse/grid.py); run only the named case there")
    out = subprocess.run([sys.executable, "-c", code, case, workload, str(jobs) if jobs else "-",
                          scheduler or "-"], env=env, cwd=src, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{case} on {src} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--baseline", type=Path, metavar="DIR",
                    help="source tree to compare with (its named case runs alternately with this tree's)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per case; medians are reported")
    ap.add_argument("--dask", action="store_true", help="also run on a 2-worker Dask LocalCluster")
    ap.add_argument("--workload", default="bert-large")
    args = ap.parse_args(argv)

    print(f"sweep benchmark: {args.workload}, dense + {PATTERNS}; {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")
    for case in args.cases:
        spec = CASES[case]
        print(f"  {case}: archs {','.join(spec['archs'])}, densities {spec['densities']}"
              + (f", --set {' --set '.join(spec['params'])}" if spec["params"] else ""))
    cluster = None
    runs = [(f"--jobs {j}", j, None) for j in args.jobs]
    if args.dask:
        from distributed import LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        runs.append(("dask LocalCluster 2x1", None, cluster.scheduler_address))
    trees = ([("baseline", args.baseline.resolve(), ["named"])] if args.baseline else []) + [
        ("this tree", ROOT, args.cases)]
    results: dict = {}
    try:
        for rep in range(args.repeat):
            for name, jobs, sched in runs:
                # alternate the order (ABBA): baseline first in even repeats, this tree first in odd ones
                for tree, src, cases in (trees if rep % 2 == 0 else trees[::-1]):
                    for case in cases:
                        r = _child(src, case, args.workload, jobs, sched)
                        if r["errors"]:
                            print(f"{tree} {case} {name}: {r['errors']} points failed", file=sys.stderr)
                        results.setdefault((tree, case, name), []).append(r)
    finally:
        if cluster is not None:
            cluster.close()
    _print(results, runs, trees)
    return 0


def _print(results, runs, trees) -> None:
    print(f"\n{'tree':<10} {'case':<6} {'executor':<22} {'points':>6} {'wall s':>8} {'ms/point':>9} "
          f"{'vs base':>8} {'cpu ms/pt':>9} {'vs base':>8}  goal")
    for name, _, _ in runs:
        base = results.get(("baseline", "named", name))
        base_pp = _median(base, "wall") if base else None
        base_cpu = _median(base, "cpu") if base else None
        for tree, _, cases in trees:
            for case in cases:
                rs = results[(tree, case, name)]
                wall = statistics.median(r["wall"] for r in rs)
                pp, cpu = _median(rs, "wall"), _median(rs, "cpu")
                goal = (f"{'ok' if wall <= GOAL_S else 'MISSED'} (<= {GOAL_S:.0f} s)" if case == "named"
                        else f"{'ok' if base_pp is None or pp <= base_pp else 'MISSED'} (ms/point <= baseline)")
                print(f"{tree:<10} {case:<6} {name:<22} {rs[0]['points']:>6} {wall:>8.2f} {1e3 * pp:>9.2f} "
                      f"{_ratio(pp, base_pp)} {_ms(cpu)} {_ratio(cpu, base_cpu)}  {goal}")


def _median(rs, key):
    """Median per point of ``key`` (None when not measured)."""
    vals = [r[key] / r["points"] for r in rs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def _ratio(x, base) -> str:
    return f"{x / base:>7.2f}x" if x is not None and base else f"{'-':>8}"


def _ms(x) -> str:
    return f"{1e3 * x:>9.2f}" if x is not None else f"{'-':>9}"


if __name__ == "__main__":
    sys.exit(main())
