"""Timing-engine cost: simulation wall time vs GEMM size, and fast-forward vs full accuracy.

Run:  .venv/bin/python benchmarks/bench_timing.py [--reps 5] [--arch a100] [--json out.json] [--cost-only]

Prints, side by side in one run:
1. wall time of ``simulate`` (statistical mode, 2:4 and dense, fp16) for 1024^3, 4096^3,
   16384^3 and 65536^3, the median of ``--reps`` runs after one warm-up, and the ratio
   largest / smallest;
2. the deviation of the fast-forwarded result from the full (every event) simulation on
   shapes where the full simulation is affordable, with both wall times and event counts;
3. what the power-capped clock, energy and area (sparsesim.cost) add to ``simulate``: the
   same calls with and without the cost annotation, alternated, on an arch object seen for
   the first time ("cold": tables and datapath derived again, as for every point of a
   design sweep); the median ratio with / without.  The last rows run on a board whose power
   limit binds (the clock found by bisection, the kernel re-timed at it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def _time(fn, reps):
    out = None
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--arch", default="a100")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--cost-only", action="store_true", help="run only section 3 (energy/area overhead)")
    args = ap.parse_args(argv)

    import sparsesim
    from sparsesim.io import write_text_atomic

    arch = sparsesim.load_arch(args.arch)
    sparsesim.simulate(arch, 1024, 1024, 1024, "fp16", "2:4")  # warm-up: imports, JIT
    report = {"arch": arch.name, "reps": args.reps, "scaling": [], "fast_forward": []}
    if args.cost_only:
        report["cost_overhead"] = _cost_overhead(arch, max(args.reps, 5))
        if args.json:
            write_text_atomic(args.json, json.dumps(report, indent=2))
        return 0

    print(f"# simulate() wall time, statistical mode, {arch.name}, fp16 (median of {args.reps})")
    print(f"{'GEMM':>8} {'pattern':>8} {'wall ms':>9} {'events':>7} {'waves':>6} {'sim. us':>12}")
    for pattern in ("2:4", "dense"):
        walls = []
        for s in (1024, 4096, 16384, 65536):
            wall, r = _time(lambda: sparsesim.simulate(arch, s, s, s, "fp16", pattern), args.reps)
            walls.append(wall)
            report["scaling"].append({"size": s, "pattern": pattern, "wall_s": wall, "events": r.events,
                                      "waves": r.waves, "simulated_us": r.seconds * 1e6})
            print(f"{s:>8} {pattern:>8} {wall * 1e3:>9.1f} {r.events:>7} {r.waves:>6} {r.seconds * 1e6:>12.1f}")
        ratio = walls[-1] / walls[0]
        report[f"ratio_largest_smallest_{pattern}"] = ratio
        print(f"# {pattern}: 65536^3 / 1024^3 wall-time ratio = {ratio:.2f}  (max {max(walls) * 1e3:.1f} ms)")

    print()
    print("# statistical (fast-forwarded) vs full simulation, same tile shape")
    print(f"{'arch':>10} {'shape':>16} {'dtype':>5} {'pattern':>17} {'tile':>10} {'dev %':>7} "
          f"{'ff ms':>7} {'full ms':>8} {'ff ev':>6} {'full ev':>8}")
    cases = [("a100", (1024, 1024, 8192), "fp16", "dense", 3), ("a100", (2048, 2048, 2048), "fp16", "2:4", 2),
             ("a100", (4096, 4096, 1024), "fp16", "2:4", 0), ("a100", (1024, 1024, 1024), "int8", "2:4", 3),
             ("a100", (4096, 16, 4096), "fp16", "2:4", 6), ("a100", (4096, 128, 4096), "fp16", "2:4", 3),
             ("a100", (768, 768, 3072), "fp16", "dense", 3), ("h100", (8192, 16, 2048), "fp16", "2:4", 5),
             ("a100-4of8", (1024, 1024, 2048), "fp16", "4:8", 5), ("a100-4of8", (2048, 1024, 1024), "int8", "4:8", 0),
             ("a100", (2048, 2048, 1024), "fp16", "unstructured:0.1", 5),
             ("h100", (1024, 1024, 1024), "fp16", "2:4", 3), ("h100", (1024, 1024, 512), "fp16", "2:4", 3),
             ("a100", (1536, 1536, 512), "int8", "dense", 3)]
    worst = 0.0
    for name, shape, dtype, pattern, tile in cases:
        ff_wall, ff = _time(lambda: sparsesim.simulate(name, *shape, dtype, pattern, tile=tile), 1)
        tile_used = (ff.tile["cta_m"], ff.tile["cta_n"], ff.tile["cta_k"])
        full_wall, full = _time(lambda: sparsesim.simulate(name, *shape, dtype, pattern, tile=tile_used,
                                                           mode="full"), 1)
        dev = (ff.cycles / full.cycles - 1.0) * 100
        worst = max(worst, abs(dev))
        report["fast_forward"].append({"arch": name, "shape": shape, "dtype": dtype, "pattern": pattern,
                                       "tile": tile_used, "deviation_pct": dev, "ff_wall_s": ff_wall,
                                       "full_wall_s": full_wall, "ff_events": ff.events, "full_events": full.events})
        print(f"{name:>10} {'x'.join(map(str, shape)):>16} {dtype:>5} {pattern:>17} {'x'.join(map(str, tile_used)):>10} "
              f"{dev:>7.3f} {ff_wall * 1e3:>7.1f} {full_wall * 1e3:>8.1f} {ff.events:>6} {full.events:>8}", flush=True)
    report["worst_deviation_pct"] = worst
    print(f"# worst |deviation| = {worst:.4f} %")

    print()
    report["cost_overhead"] = _cost_overhead(arch, max(args.reps, 5))
    if args.json:
        write_text_atomic(args.json, json.dumps(report, indent=2))
    return 0


def _cost_overhead(arch, reps):
    """Energy/area annotation inside simulate: runs with and without it alternated (median
    ratio), and the annotation's own time measured inside the runs that have it.  Every run
    gets a new arch object, so tables and the sparse datapath are derived again each time
    (the cold case of a design sweep, where each point is a derived arch)."""
    import sparsesim
    import sparsesim.timing.driver as driver
    from sparsesim.arch import derive

    with_cost = driver.annotate_cost
    inside = []

    def timed(res, a):
        t0 = time.perf_counter()
        out = with_cost(res, a)
        inside.append(time.perf_counter() - t0)
        return out

    rows = []
    # a board whose limit binds on these GEMMs: a costlier tensor-core lane and a lower limit
    capped = {"technology.array_energy_factor": 12.0, "board.power_limit_w": 250.0}
    print(f"# clock + energy + area inside simulate, fp16, new arch object per run (median of {reps} alternated pairs)")
    print(f"{'GEMM':>8} {'pattern':>8} {'clock':>6} {'without ms':>11} {'with ms':>8} {'ratio':>6} {'annot. us':>9} "
          f"{'share':>7}")
    try:
        for s, pattern, over in ((1024, "dense", {}), (1024, "2:4", {}), (4096, "2:4", {}), (16384, "2:4", {}),
                                 (1024, "2:4", capped), (16384, "2:4", capped)):
            t = {False: [], True: []}
            inside.clear()
            for i in range(reps):
                for on in ((False, True) if i % 2 == 0 else (True, False)):
                    a = derive(arch, over)
                    driver.annotate_cost = timed if on else (lambda res, _arch: res)
                    t0 = time.perf_counter()
                    sparsesim.simulate(a, s, s, s, "fp16", pattern)
                    t[on].append(time.perf_counter() - t0)
            off_s, on_s = statistics.median(t[False]), statistics.median(t[True])
            ann = statistics.median(inside)
            clock = "capped" if over else "free"
            row = {"size": s, "pattern": pattern, "clock": clock, "without_s": off_s, "with_s": on_s,
                   "ratio": on_s / off_s, "annotate_s": ann, "annotate_share": ann / off_s}
            rows.append(row)
            print(f"{s:>8} {pattern:>8} {clock:>6} {off_s * 1e3:>11.2f} {on_s * 1e3:>8.2f} {row['ratio']:>6.3f} "
                  f"{ann * 1e6:>9.1f} {row['annotate_share'] * 100:>6.2f}%")
    finally:
        driver.annotate_cost = with_cost
    worst = max(r["annotate_share"] for r in rows)
    med = statistics.median(r["ratio"] for r in rows)
    print(f"# annotation (power-capped clock, energy, area): worst share of simulate = {worst * 100:.2f} % (goal <= 10 %); "
          f"with/without median ratio = {med:.3f} (wall-clock noise of a loaded machine included)")
    return {"rows": rows, "worst_annotate_share": worst, "median_ratio": med}


if __name__ == "__main__":
    sys.exit(main())
