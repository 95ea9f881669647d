"""``sparsesim workloads``, ``sparsesim sweep`` and ``sparsesim report``."""

from __future__ import annotations

import os
import sys

from ._types import integer

DEFAULT_ARCHS = ("a100", "a100-4of8", "h100")
DEFAULT_WORKLOADS = ("bert-base", "resnet-50")
DEFAULT_DIR = "reports/default"
DEFAULT_BATCH = 8


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "workloads", help="list the workloads (networks as GEMM layers)",
        description="List the built-in workloads and those in the --workload-path folders; with NAME "
                    "(or a path to a .toml, a .csv GEMM list or a Hugging Face config.json), show its "
                    "GEMM layers (m, n, k, repeat).",
    )
    p.add_argument("name", nargs="?", help="a workload name or path to show layer by layer")
    p.add_argument("--batch", type=integer, metavar="N", help="batch size (images or sequences)")
    _workload_options(p)
    p.set_defaults(func=_workloads)

    p = subparsers.add_parser(
        "sweep", help="sweep archs x workloads x patterns x densities into a results table",
        description=(
            "Simulate every GEMM layer of the workloads on every arch for every sparsity pattern "
            "(N:M at its own density, unstructured formats over the density grid). --set varies "
            "config keys (one derived design per combination; rows carry the values as columns). "
            "Rows are appended to --out as they finish; rerunning the same command resumes. "
            "--default runs BERT-base + ResNet-50 (batch 8) on a100, a100-4of8 and h100 with all "
            f"patterns and writes the results and a report into {DEFAULT_DIR}/."
        ),
    )
    p.add_argument("--arch", action="append", metavar="NAME",
                   help="arch config name (repeatable), e.g. --arch a100 --arch h100")
    p.add_argument("--set", action="append", metavar="KEY=VALUES", dest="params",
                   help="vary a config key on every arch (repeatable; the sweep runs the Cartesian product): "
                        "a comma list or, for numbers, START:STOP:STEP (inclusive), e.g. "
                        "--set tensor_core.index_scheme=ordered,crossbar --set dram.bandwidth_gbps=1000:4000:500; "
                        "values are typed and each derived design validated like a config file")
    p.add_argument("--workload", action="append", metavar="NAME",
                   help="workload name, or path to a .toml, a .csv GEMM list (m,n,k[,count,name,dtype]) or "
                        "a Hugging Face config.json (repeatable); see `sparsesim workloads`")
    p.add_argument("--patterns", metavar="LIST",
                   help="comma list of dense, N:M, unstructured:csr|csb|bitmask "
                        "(default: dense,2:4,4:8,1:2,unstructured:csr,unstructured:csb,unstructured:bitmask)")
    p.add_argument("--densities", metavar="GRID",
                   help="START:STOP:STEP (inclusive) or a comma list, for unstructured patterns "
                        "(default 0.05:1.0:0.05)")
    p.add_argument("--batch", type=integer, metavar="N",
                   help="batch size for every workload (images, or sequences of the file's seq_len "
                        f"tokens); default: each file's own, {DEFAULT_BATCH} with --default")
    p.add_argument("--dtype", default="fp16", help="element type of A and B (default fp16)")
    p.add_argument("--mode", default="statistical", help="timing mode passed to the engine (default statistical)")
    _workload_options(p)
    p.add_argument("--out", metavar="FILE",
                   help="results table: .csv (plus a .parquet copy when pyarrow is installed), .parquet or "
                        ".sqlite; the rows are kept in FILE's .sqlite store while the sweep runs")
    p.add_argument("--jobs", type=integer, metavar="N", help="local worker processes (default: all cores; 1 = in-process)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on a Dask distributed cluster instead of local processes")
    p.add_argument("--retry-errors", action="store_true", help="recompute points whose stored row holds an error")
    p.add_argument("--evaluator", metavar="MODULE:FUNC", help="custom point model instead of sparsesim.simulate")
    p.add_argument("--weights", metavar="FILE.safetensors",
                   help="run every prunable layer in exec mode on the tensors of this file that carry its name "
                        "(pruned to each pattern and density; activations drawn with --seed); see docs/timing.md")
    p.add_argument("--seed", type=integer, default=0, help="seed of the activations of a --weights sweep")
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
    p.add_argument("results", help="results table written by `sparsesim sweep` (.csv, .parquet or .sqlite)")
    p.add_argument("--out", required=True, metavar="DIR", help="report folder, e.g. reports/NAME/")
    p.add_argument("--title", help="report title (default: derived from the results)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=_report)

    p = subparsers.add_parser(
        "study", help="the sparse-datapath study (2:4 + 3:1 muxes vs 4:8 + 5:1 muxes vs 4:8 + crossbar)",
        description="Run the committed study of reports/datapath: BERT-large, ResNet-50 and LLaMA-7B layers on "
                    "a100, a100-4of8 and a100-4of8-crossbar (speedup, DRAM traffic, energy, sparse-datapath "
                    "area), the kept-magnitude accuracy proxy on all-MiniLM-L6-v2 (needs the models extra), and "
                    "--set sweeps of the parameters that could decide between them; writes report.md, figures "
                    "and the results tables into --out (rerunning resumes).",
    )
    p.add_argument("name", choices=("datapath",), help="which study (datapath)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder, e.g. reports/datapath")
    p.add_argument("--jobs", type=integer, metavar="N", help="local worker processes (default: all cores)")
    p.add_argument("--weights", metavar="FILE",
                   help="model .safetensors for the accuracy proxy (default: the installed all-MiniLM-L6-v2)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or summary")
    p.set_defaults(func=_study)


def _workload_options(p) -> None:
    g = p.add_argument_group("Hugging Face config.json workloads")
    g.add_argument("--phase", default="prefill", choices=("prefill", "decode"),
                   help="prefill (batch x seq-len tokens) or decode (one new token per sequence); default prefill")
    g.add_argument("--seq-len", type=integer, metavar="N",
                   help="prompt length of prefill (default: min(2048, max_position_embeddings))")
    g.add_argument("--context", type=integer, metavar="N", help="tokens in the KV cache at decode (default: --seq-len)")


def _wl_kwargs(args) -> dict:
    return {"phase": args.phase, "seq_len": args.seq_len, "context": args.context}


def _workloads(args) -> int:
    from ..errors import ConfigError, SparsesimError
    from ..workloads import available_workloads, load_workload

    if args.name:
        wl = load_workload(args.name, batch=args.batch, **_wl_kwargs(args))
        print(f"{wl.name}: {wl.description}")
        for s in wl.sources:
            print(f"  source: {s}")
        print(f"  {'#':>3} {'layer':<26} {'op':<7} {'m':>7} {'n':>7} {'k':>7} {'repeat':>6}")
        for i, l in enumerate(wl.layers):
            tag = "" if l.prunable else "  (activations: dense)"
            print(f"  {i:>3} {l.name:<26} {l.op:<7} {l.m:>7} {l.n:>7} {l.k:>7} {l.repeat:>6}{tag}")
        print(f"  total: {wl.total_macs / 1e9:.3f} GMAC, {wl.total_weights / 1e6:.2f} M weights, "
              f"{len(wl.layers)} layers, {wl.gemm_count} GEMMs")
        return 0
    print(f"{'name':<30} {'layers':>6} {'GEMMs':>6} {'GMAC':>10}  description")
    bad = []
    for name, path in available_workloads().items():
        try:
            wl = load_workload(path, batch=args.batch, **_wl_kwargs(args))
        except SparsesimError as exc:  # one broken file hides nothing else
            bad.append(exc)
            print(f"{name:<30} {'-':>6} {'-':>6} {'-':>10}  INVALID: {exc}")
            continue
        print(f"{name:<30} {len(wl.layers):>6} {wl.gemm_count:>6} {wl.total_macs / 1e9:>10.3f}  {wl.description}")
    if bad:  # listed above with the others; the exit status says something is wrong
        sys.stdout.flush()
        raise ConfigError(f"{len(bad)} invalid workload file(s), first: {bad[0]}")
    return 0


def _sweep(args) -> int:
    from ..dse.api import prepare_sweep
    from ..dse.checks import SweepErrors
    from ..dse.sweep import DEFAULT_DENSITIES, DEFAULT_PATTERNS, run_sweep
    from ..errors import InputError
    from ..progress import Progress

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
    points, evaluator = prepare_sweep(
        args.arch, args.workload, args.patterns or ",".join(DEFAULT_PATTERNS), args.densities or DEFAULT_DENSITIES,
        dtype=args.dtype, mode=args.mode, batch=args.batch, params=args.params, evaluator=args.evaluator,
        weights=args.weights, seed=args.seed, jobs=args.jobs, scheduler=args.scheduler, out=args.out,
        report=report_dir, **_wl_kwargs(args))
    with Progress("sweep", enabled=not args.quiet, unit="pt") as bar:
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

        files = write_report(res.rows, report_dir, source=args.out, progress=not args.quiet)
        if not args.quiet:
            print(f"wrote report {files[0]} ({len(files)} files)")
    if res.errors:  # said even under -q: the table holds rows without a result
        first = next(r["error"] for r in res.rows if r["error"])
        sys.stdout.flush()
        raise SweepErrors(f"{res.errors} of {res.total} points failed, their rows in {args.out} hold the error "
                          f"(first: {first[:200]}); fix the cause and rerun with --retry-errors")
    return 0


def _report(args) -> int:
    from ..dse.store import read_results
    from ..errors import InputError
    from ..report import write_report

    rows = read_results(args.results)
    if not rows:
        raise InputError(f"{args.results} holds no result rows")
    files = write_report(rows, args.out, source=args.results, title=args.title, progress=not args.quiet)
    print(f"wrote {files[0]} and {len(files) - 1} figure files into {args.out}")
    return 0


def _study(args) -> int:
    from ..report.datapath_study import write_study

    command = f"sparsesim study {args.name} --out {args.out}"
    if args.weights:
        command += f" --weights {args.weights}"
    files = write_study(args.out, jobs=args.jobs, progress=not args.quiet, weights=args.weights, command=command)
    if not args.quiet:
        print(f"wrote {files[0]} and {len(files) - 1} more files into {args.out}")
    return 0
