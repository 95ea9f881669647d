"""``sparsesim workloads``, ``sparsesim sweep`` and ``sparsesim report``."""

from __future__ import annotations

import os
import sys
import time

DEFAULT_ARCHS = ("a100", "a100-4of8", "h100")
DEFAULT_WORKLOADS = ("bert-base", "resnet-50")
DEFAULT_DIR = "reports/default"
DEFAULT_BATCH = 8


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "workloads", help="list the workloads (networks as GEMM layers)",
        description="List workloads/*.toml; with NAME, show its GEMM layers (m, n, k, repeat).",
    )
    p.add_argument("name", nargs="?", help="a workload name or .toml path to show layer by layer")
    p.set_defaults(func=_workloads)

    p = subparsers.add_parser(
        "sweep", help="sweep archs x workloads x patterns x densities into a results table",
        description=(
            "Simulate every GEMM layer of the workloads on every arch for every sparsity pattern "
            "(N:M at its own density, unstructured formats over the density grid). Rows are "
            "appended to --out as they finish; rerunning the same command resumes. "
            "--default runs BERT-base + ResNet-50 (batch 8) on a100, a100-4of8 and h100 with all "
            f"patterns and writes the results and a report into {DEFAULT_DIR}/."
        ),
    )
    p.add_argument("--arch", action="append", metavar="NAME",
                   help="arch config name (repeatable), e.g. --arch a100 --arch h100")
    p.add_argument("--workload", action="append", metavar="NAME",
                   help="workload name or .toml path (repeatable), see `sparsesim workloads`")
    p.add_argument("--patterns", metavar="LIST",
                   help="comma list of dense, N:M, unstructured:csr|csb|bitmask "
                        "(default: dense,2:4,4:8,1:2,unstructured:csr,unstructured:csb,unstructured:bitmask)")
    p.add_argument("--densities", metavar="GRID",
                   help="START:STOP:STEP (inclusive) or a comma list, for unstructured patterns "
                        "(default 0.05:1.0:0.05)")
    p.add_argument("--batch", type=int, metavar="N",
                   help="batch size for every workload (images, or sequences of the file's seq_len "
                        f"tokens); default: each file's own, {DEFAULT_BATCH} with --default")
    p.add_argument("--dtype", default="fp16", help="element type of A and B (default fp16)")
    p.add_argument("--mode", default="statistical", help="timing mode passed to the engine (default statistical)")
    p.add_argument("--out", metavar="CSV", help="results table (CSV; a .parquet copy is written too when pyarrow is installed)")
    p.add_argument("--jobs", type=int, metavar="N", help="local worker processes (default: all cores; 1 = in-process)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on a Dask distributed cluster instead of local processes")
    p.add_argument("--retry-errors", action="store_true", help="recompute points whose stored row holds an error")
    p.add_argument("--evaluator", metavar="MODULE:FUNC", help="custom point model instead of sparsesim.simulate")
    p.add_argument("--default", action="store_true",
                   help="the default study: fills in arch/workload/batch/out and writes a report beside "
                        f"the results ({DEFAULT_DIR}/ unless --out or --report say otherwise)")
    p.add_argument("--report", metavar="DIR", help="also write a report of the results into DIR")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=_sweep)

    p = subparsers.add_parser(
        "report", help="figures and report.md from a results table",
        description="Write speedup/traffic-vs-density figures (PNG + SVG), a per-layer breakdown, "
                    "a roofline-style bound view and report.md into --out.",
    )
    p.add_argument("results", help="results CSV written by `sparsesim sweep`")
    p.add_argument("--out", required=True, metavar="DIR", help="report folder, e.g. reports/NAME/")
    p.add_argument("--title", help="report title (default: derived from the results)")
    p.set_defaults(func=_report)


def _workloads(args) -> int:
    from ..workloads import list_workloads, load_workload

    if args.name:
        wl = load_workload(args.name)
        print(f"{wl.name}: {wl.description}")
        for s in wl.sources:
            print(f"  source: {s}")
        print(f"  {'#':>3} {'layer':<22} {'op':<7} {'m':>7} {'n':>7} {'k':>7} {'repeat':>6}")
        for i, l in enumerate(wl.layers):
            print(f"  {i:>3} {l.name:<22} {l.op:<7} {l.m:>7} {l.n:>7} {l.k:>7} {l.repeat:>6}")
        print(f"  total: {wl.total_macs / 1e9:.3f} GMAC, {wl.total_weights / 1e6:.2f} M weights")
        return 0
    names = list_workloads()
    print(f"{'name':<18} {'layers':>6} {'GEMMs':>6} {'GMAC':>10}  description")
    for name in names:
        wl = load_workload(name)
        gemms = sum(l.repeat for l in wl.layers)
        print(f"{wl.name:<18} {len(wl.layers):>6} {gemms:>6} {wl.total_macs / 1e9:>10.3f}  {wl.description}")
    return 0


class _ProgressBar:
    """A one-line progress bar on stderr, drawn only on a terminal."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.t0 = time.monotonic()
        self.last = 0.0
        self.first = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self.last < 0.1:
            return
        self.last = now
        frac = done / total if total else 1.0
        width = 30
        fill = int(frac * width)
        if self.first is None:
            self.first = done  # rows already in the file from an earlier run
        rate = ""
        elapsed = now - self.t0
        if elapsed > 0.5 and self.first < done < total:
            eta = elapsed / (done - self.first) * (total - done)
            rate = f"  {elapsed:.0f}s elapsed, ~{eta:.0f}s left"
        sys.stderr.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {done}/{total} {100 * frac:5.1f}%{rate}\033[K")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _sweep(args) -> int:
    from ..dse.sweep import (DEFAULT_DENSITIES, DEFAULT_PATTERNS, load_evaluator, plan_points,
                             run_sweep, simulate_point)
    from ..errors import InputError

    report_dir = args.report
    if args.default:
        args.arch = args.arch or list(DEFAULT_ARCHS)
        args.workload = args.workload or list(DEFAULT_WORKLOADS)
        args.out = args.out or f"{DEFAULT_DIR}/results.csv"
        args.batch = args.batch or DEFAULT_BATCH
        # the report goes beside the results (reports/default/ unless --out moved them)
        report_dir = report_dir or os.path.dirname(args.out) or "."
    if not args.arch:
        raise InputError("sweep: give at least one --arch (or --default)")
    if not args.workload:
        raise InputError("sweep: give at least one --workload (or --default)")
    if not args.out:
        raise InputError("sweep: give --out RESULTS.csv (or --default)")
    evaluator = load_evaluator(args.evaluator) if args.evaluator else simulate_point
    points = plan_points(args.arch, args.workload,
                         args.patterns or ",".join(DEFAULT_PATTERNS),
                         args.densities or DEFAULT_DENSITIES, dtype=args.dtype, mode=args.mode,
                         batch=args.batch)
    bar = _ProgressBar(enabled=not args.quiet and sys.stderr.isatty())
    res = run_sweep(points, args.out, evaluator, jobs=args.jobs, scheduler=args.scheduler,
                    progress=bar, retry_errors=args.retry_errors)
    if not args.quiet:
        print(f"{res.total} points: {res.computed} computed ({res.simulations} simulations), "
              f"{res.reused} already in {args.out}, {res.errors} with errors; {res.seconds:.1f} s")
        if res.superseded:
            print(f"replaced {res.superseded} rows that an earlier model produced "
                  "(arch config, workload shape or timing code changed since)")
        for f in res.files:
            print(f"wrote {f}")
    if report_dir:
        from ..report import write_report

        files = write_report(res.rows, report_dir, source=args.out)
        if not args.quiet:
            print(f"wrote report {files[0]} ({len(files)} files)")
    return 1 if res.errors and res.errors == res.total else 0


def _report(args) -> int:
    from ..dse.store import read_results
    from ..errors import InputError
    from ..report import write_report

    rows = read_results(args.results)
    if not rows:
        raise InputError(f"{args.results} holds no result rows")
    files = write_report(rows, args.out, source=args.results, title=args.title)
    print(f"wrote {files[0]} and {len(files) - 1} figure files into {args.out}")
    return 0
