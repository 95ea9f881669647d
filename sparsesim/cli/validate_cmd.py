"""``sparsesim validate`` and ``sparsesim calibrate``: compare the timing model with measured GPU GEMMs."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

DEFAULT_FIT = "dtype=fp16,source=S1"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "validate",
        help="predict measured GPU GEMMs (dense and 2:4) and report the errors",
        description="Predict dense and 2:4-sparse time for every row of measured-timing CSV files and "
        "report per-row and summary errors (MAPE, median APE; overall, per GPU/dtype, and for GEMMs >= 1024^3).",
    )
    p.add_argument("--measured", action="append", required=True, metavar="FILE",
                   help="measured-timing CSV (repeatable); columns gpu,dtype,m,n,k,sparse_operand,dense_us,sparse_us,speedup,backend,source,notes")
    p.add_argument("--arch-map", metavar="GPU=ARCH,...", default=None,
                   help="map GPU names to arch configs or override files (default A100=a100,H100=h100)")
    p.add_argument("--mode", default="statistical", help="engine mode passed to simulate (default statistical)")
    p.add_argument("--json", action="store_true", help="print rows and summary as JSON")
    p.add_argument("--out", metavar="DIR", help="write report.md, errors.csv, summary.json and plots here "
                   "(nothing is written without it)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=_validate)

    c = subparsers.add_parser(
        "calibrate",
        help="fit tensor-core efficiencies (and the power parameter) on measured rows; write a config override",
        description="Fit a few physically meaningful parameters of one GPU on a subset of its measured rows, "
        "report the error on the rows it did not fit, and write the result as a config override (TOML).",
    )
    c.add_argument("--measured", action="append", required=True, metavar="FILE", help="measured-timing CSV (repeatable)")
    c.add_argument("--arch", required=True, help="arch config name or path to calibrate (e.g. a100)")
    c.add_argument("--gpu", default=None, help="GPU name of the rows for this arch (default: from the arch name, A100 for a100)")
    c.add_argument("--fit", default=DEFAULT_FIT, metavar="COL=V[|V],...",
                   help=f"which of the GPU's rows to fit on (default '{DEFAULT_FIT}'); the rest are held out")
    c.add_argument("--min-mnk", type=int, default=2**30, help="fit only GEMMs with m*n*k at least this (default 2^30)")
    c.add_argument("--fit-power", action="store_true",
                   help="also fit technology.array_energy_factor, the energy table's one power parameter "
                        "(it sets where the board's power limit lowers the clock)")
    c.add_argument("--loo", action="store_true", help="also report leave-one-out error over the fit rows (slower)")
    c.add_argument("--mode", default="statistical", help="engine mode passed to simulate")
    c.add_argument("--out", metavar="FILE", default=None,
                   help="override file to write (default ./<arch>-calibrated.toml in the working directory)")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    c.set_defaults(func=_calibrate)


# ---------------------------------------------------------------- helpers
def _progress(label, args):
    from ..progress import Progress

    return Progress(label, enabled=not args.quiet, unit="row")


def _require_engine():
    from ..errors import InputError

    try:
        import sparsesim

        sparsesim.simulate  # noqa: B018
    except (ImportError, AttributeError) as exc:
        raise InputError(f"the timing engine (sparsesim.simulate) is not available: {exc}") from None


def _cmdline():
    return "sparsesim " + " ".join(shlex.quote(a) for a in sys.argv[1:])


# ---------------------------------------------------------------- validate
def _validate(args) -> int:
    import datetime as dt

    from ..validate.engine import EnginePredictor, parse_arch_map
    from ..validate.measured import read_measured_many
    from ..validate.metrics import evaluate, summarize
    from ..validate.report import (ROW_HEADER, SUMMARY_HEADER, format_text_table, row_table, summary_table,
                                   write_report)

    rows = read_measured_many(args.measured)
    arch_map = parse_arch_map(args.arch_map)
    _require_engine()
    pred = EnginePredictor(arch_map, mode=args.mode)
    with _progress("predicting", args) as bar:
        results = evaluate(rows, pred, progress=bar)
    from ..validate.calibrate import fitted_rows_of

    fitted = set()
    for g, a in arch_map.items():
        if isinstance(a, str) and a.endswith(".toml") and any(r.gpu.upper() == g.upper() for r in rows):
            fitted |= fitted_rows_of(a)
    summary = summarize(results, fitted)
    if args.json:
        print(json.dumps({"rows": [r.to_dict() for r in results], "summary": summary}, indent=2, default=str))
    else:
        print(format_text_table(ROW_HEADER, row_table(results, fitted)))
        print()
        print(format_text_table(SUMMARY_HEADER, summary_table(summary)))
    if args.out:
        used = {g: str(a) for g, a in arch_map.items() if any(r.gpu.upper() == g.upper() for r in rows)}
        meta = {
            "command": _cmdline(),
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "measured": ", ".join(args.measured),
            "arch_map": ", ".join(f"{g}={a}" for g, a in used.items()),
            "power": "; ".join(_power_line(pred, g) for g in used) or "none",
        }
        if fitted:
            meta["fitted"] = (f"{len(fitted)} rows were used to fit the calibration (marked * in the table); "
                              "the held-out groups leave them out")
        paths = write_report(args.out, results, summary, meta, extra_sections=_explanation_sections(results),
                             fitted=fitted)
        if not args.json:
            print(f"\nwrote {paths['report']} (+ errors.csv, summary.json, 3 plots)")
    return 0


def _power_line(pred, gpu):
    from ..cost import DEFAULT_ARRAY_ENERGY_FACTOR

    arch = pred.arch_for(gpu)
    board, tech = getattr(arch, "board", None), getattr(arch, "technology", None)
    if board is None or tech is None:
        return f"{gpu}: no board power limit (clock as configured)"
    k = tech.array_energy_factor if tech.array_energy_factor is not None else DEFAULT_ARRAY_ENERGY_FACTOR
    return (f"{gpu}: limit {board.power_limit_w:g} W, static {tech.static_w:g} W, array energy factor {k:g} "
            f"(clock from the energy table, sparsesim.cost.power)")


def _mhz(v):
    return "-" if v is None else f"{v:.0f}"


def _explanation_sections(results):
    """Short data-driven notes for the report: achieved throughput and modeled clocks of the large GEMMs."""
    from ..validate.report import markdown_table

    rows = []
    for r in results:
        w = r.row
        if not w.is_large:
            continue
        tf_d = w.flops / (w.dense_us * 1e-6) / 1e12
        tf_s = w.flops / (w.sparse_us_effective * 1e-6) / 1e12
        rows.append((w.gpu, w.dtype, f"{w.m}x{w.n}x{w.k}", w.source, w.backend[:10], f"{tf_d:.0f}", f"{tf_s:.0f}",
                     f"{w.sparse_us_effective / 1e3:.3g}",
                     _mhz(r.pred.info.get("dense_clock_mhz")), _mhz(r.pred.info.get("sparse_clock_mhz")),
                     r.pred.dense_bound or "-", r.pred.sparse_bound or "-"))
    if not rows:
        return []
    hdr = ("gpu", "dtype", "shape", "src", "backend", "dense T(FL)OPS", "2:4 T(FL)OPS (dense-equiv.)", "2:4 time (ms)",
           "model dense MHz", "model 2:4 MHz", "dense bound", "2:4 bound")
    return [("Achieved throughput of the large GEMMs and the modeled clocks", markdown_table(hdr, rows))]


# ---------------------------------------------------------------- calibrate
def _calibrate(args) -> int:
    from ..arch import load_arch
    from ..errors import InputError
    from ..validate import calibrate as cal
    from ..validate.engine import DEFAULT_ARCH_MAP, EnginePredictor
    from ..validate.measured import read_measured_many
    from ..validate.metrics import evaluate, summarize
    from ..validate.report import SUMMARY_HEADER, format_text_table, summary_table

    rows = read_measured_many(args.measured)
    arch = load_arch(args.arch)
    gpu = args.gpu
    if gpu is None:
        inv = {v: k for k, v in DEFAULT_ARCH_MAP.items()}
        gpu = inv.get(arch.name)
        if gpu is None:
            raise InputError(f"cannot tell which GPU's rows belong to arch {arch.name!r}; give --gpu NAME")
    fit_filter = cal.parse_filter(args.fit)
    fit_rows, held_rows = cal.split_rows(rows, gpu, fit_filter, args.min_mnk)
    _require_engine()

    from ..cost import DEFAULT_ARRAY_ENERGY_FACTOR

    params = tuple(cal.DEFAULT_PARAMS) + (tuple(cal.POWER_PARAMS) if args.fit_power else ())
    x0 = {"efficiency.tensor_dense": arch.efficiency.tensor_dense, "efficiency.tensor_sparse": arch.efficiency.tensor_sparse}
    if args.fit_power:
        tech = getattr(arch, "technology", None)
        k = getattr(tech, "array_energy_factor", None)
        x0["technology.array_energy_factor"] = DEFAULT_ARRAY_ENERGY_FACTOR if k is None else k

    def factory(values):
        return EnginePredictor({gpu: arch}, overrides={gpu: dict(values)}, mode=args.mode)

    print(f"fitting {len(params)} parameters on {len(fit_rows)} {gpu} rows ({len(held_rows)} held out)...", file=sys.stderr)
    from tqdm.auto import tqdm

    with tqdm(desc="fit", unit="evaluation", file=sys.stderr, disable=args.quiet,
              mininterval=0.1 if sys.stderr.isatty() else 10.0) as bar:
        def counted(values):  # one predictor per evaluation of the fit's objective
            bar.update(1)
            return factory(values)

        result = cal.fit(fit_rows, counted, params, x0)
    final = factory(result.values)
    fit_res = evaluate(fit_rows, final)
    held_res = evaluate(held_rows, final) if held_rows else []
    loo_res = None
    if args.loo:
        with _progress("leave-one-out", args) as bar:
            loo_res = cal.leave_one_out(fit_rows, factory, params, result.values, progress=bar)

    def brief(res):
        s = summarize(res)
        out = {}
        for key in ("all", next((k for k in s if k.startswith("large")), None)):
            if key and key in s:
                g = s[key]
                out[key] = {m: g[m]["mape"] for m in ("dense", "sparse", "speedup")}
        return out

    def fmt(b):
        return "; ".join(f"{k}: " + ", ".join(f"{m} MAPE {v:.1f}%" for m, v in d.items() if v is not None) for k, d in b.items())

    errors = {"fit-set error": fmt(brief(fit_res))}
    if held_res:
        errors["held-out error"] = fmt(brief(held_res))
    if loo_res:
        errors["leave-one-out error"] = fmt(brief(loo_res))

    # never onto the project's own files unless asked: the working directory by default
    out = Path(args.out) if args.out else Path(f"{arch.name}-calibrated.toml")
    arch_vals = dict(result.values)
    header = cal.provenance_lines(args.measured, fit_rows, held_rows, args.fit, args.min_mnk, errors)
    header += ["", "Fitted parameters (bounds):"]
    for p in params:
        header.append(f"  {p.key} = {result.values[p.key]:.6g}  [{p.lo:g}, {p.hi:g}]  {p.meaning}")
    if result.at_bound:
        header.append(f"  at a bound (not determined by the data): {', '.join(result.at_bound)}")
    base_ref = args.arch if not str(args.arch).endswith(".toml") else str(Path(args.arch).resolve())
    text = cal.render_override(base_ref, f"{arch.name}-calibrated", f"{arch.description}, calibrated on measured {gpu} rows",
                               arch_vals, header)
    written = [str(out)]

    if args.json:
        print(json.dumps({
            "gpu": gpu, "arch": arch.name, "values": result.values, "at_bound": result.at_bound,
            "fit_rows": len(fit_rows), "held_out_rows": len(held_rows), "nfev": result.nfev,
            "fit": summarize(fit_res), "held_out": summarize(held_res) if held_res else None,
            "leave_one_out": summarize(loo_res) if loo_res else None, "written": written,
        }, indent=2, default=str))
        cal.write_override(out, text, check=load_arch)
        return 0
    print(f"calibrated {arch.name} on {len(fit_rows)} {gpu} rows ({result.nfev} evaluations):")
    for p in params:
        flag = "  (at bound)" if p.key in result.at_bound else ""
        print(f"  {p.key:28s} = {result.values[p.key]:10.4g}{flag}   {p.meaning}")
    for label, res in (("fit rows", fit_res), ("held-out rows", held_res), ("leave-one-out", loo_res)):
        if res:
            print(f"\n{label}:")
            print(format_text_table(SUMMARY_HEADER, summary_table(summarize(res))))
    cal.write_override(out, text, check=load_arch)
    print(f"\nwrote {', '.join(written)}")
    return 0
