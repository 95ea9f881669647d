"""``sparsesim validate`` and ``sparsesim calibrate``: compare the timing model with measured GPU GEMMs."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from ._types import integer

DEFAULT_CALIBRATION_GPU = {"a100-pcie": "A100-PCIe-80GB", "a100": "A100"}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "validate",
        help="predict measured GPU GEMMs (dense and 2:4) and report the errors",
        description="Predict dense and 2:4-sparse time for every row of measured-timing CSV files and report "
        "errors per GPU, dtype and shape family (MAPE of speedup, dense and sparse time, the correlation of "
        "predicted and measured speedup) and the benchmark's own noise floor.",
    )
    p.add_argument("--measured", action="append", required=True, metavar="FILE",
                   help="measured-timing CSV (repeatable); columns gpu,dtype,m,n,k,sparse_operand,dense_us,sparse_us,speedup,backend,source,notes")
    p.add_argument("--arch-map", metavar="GPU=ARCH,...", default=None,
                   help="map GPU names to arch configs or override files (default A100=a100,H100=h100)")
    p.add_argument("--calibration", metavar="FILE", default=None,
                   help="a `sparsesim calibrate` override: its fitted values apply to every GPU (the rows it was "
                        "fitted on are marked and left out of the held-out groups)")
    p.add_argument("--noise-reference", action="append", default=[], metavar="FILE",
                   help="further measured CSVs used only for the noise floor (shapes measured again)")
    p.add_argument("--cross-validation", metavar="FILE", default=None,
                   help="the JSON `calibrate --cv-out` wrote: its cross-validated errors go into the report")
    p.add_argument("--skip-backend", action="append", default=[], metavar="TEXT",
                   help="leave out rows whose backend contains TEXT (repeatable; e.g. 'default algorithm': the "
                        "model predicts the best of the library's algorithm search)")
    p.add_argument("--cold-l2", action="store_true",
                   help="time every call from a cold L2 (default: operands that fit stay in L2 between the "
                        "benchmark's repeated calls)")
    p.add_argument("--mode", default="statistical", help="engine mode passed to simulate (default statistical)")
    p.add_argument("--rows", action="store_true", help="also print the per-row table")
    p.add_argument("--json", action="store_true", help="print rows, summary and noise floor as JSON")
    p.add_argument("--out", metavar="DIR", help="write report.md, errors.csv, summary.json and plots here "
                   "(nothing is written without it)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=_validate)

    c = subparsers.add_parser(
        "calibrate",
        help="fit the efficiency parameters on one GPU's measured rows with k-fold cross-validation",
        description="Fit tensor-core, DRAM efficiency and the per-call overhead of one GPU on its measured rows "
        "(GEMMs >= --min-mnk), report the fit and the k-fold cross-validated errors, and write the values as a "
        "config override (TOML).",
    )
    c.add_argument("--measured", action="append", required=True, metavar="FILE", help="measured-timing CSV (repeatable)")
    c.add_argument("--arch", required=True, help="arch config name or path to calibrate (e.g. a100-pcie)")
    c.add_argument("--gpu", default=None, help="GPU name of the rows for this arch (default: from the arch name, "
                   "A100-PCIe-80GB for a100-pcie)")
    c.add_argument("--min-mnk", type=integer, default=2**30, help="fit only GEMMs with m*n*k at least this (default 2^30)")
    c.add_argument("--folds", type=integer, default=5, help="k of the k-fold cross-validation by layer (default 5)")
    c.add_argument("--no-power", action="store_true",
                   help="do not fit technology.array_energy_factor (the clock stays as the config's energy table sets it)")
    c.add_argument("--out", metavar="FILE", default=None,
                   help="override file to write (default ./<arch>-calibrated.toml in the working directory)")
    c.add_argument("--cv-out", metavar="FILE", default=None,
                   help="also write the fit and the cross-validated errors as JSON (for `validate --cross-validation`)")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    c.set_defaults(func=_calibrate)


def _progress(label, args, unit="row"):
    from ..progress import Progress

    return Progress(label, enabled=not args.quiet, unit=unit)


def _cmdline():
    return "sparsesim " + " ".join(shlex.quote(a) for a in sys.argv[1:])


# ---------------------------------------------------------------- validate
def _validate(args) -> int:
    import datetime as dt

    from ..validate import calibrate as cal
    from ..validate.engine import EnginePredictor, parse_arch_map
    from ..validate.measured import read_measured_many
    from ..validate.metrics import evaluate, noise_floor, summarize
    from ..validate.report import (ROW_HEADER, format_text_table, row_table, summary_rows, write_report)

    from ..io import check_output_dir

    if args.out:
        check_output_dir(args.out, "report folder")
    cv = _read_cv(args.cross_validation) if args.cross_validation else None
    rows = read_measured_many(args.measured)
    skip = [t.lower() for t in args.skip_backend]
    rows = [r for r in rows if not any(t in r.backend.lower() for t in skip)]
    if not rows:
        from ..errors import InputError

        raise InputError("--skip-backend left no rows to validate")
    reference = read_measured_many(args.noise_reference) if args.noise_reference else []
    arch_map = parse_arch_map(args.arch_map)
    overrides, fitted = {}, set()
    if args.calibration:
        overrides = {"*": cal.fitted_values_of(args.calibration)}
        fitted = cal.fitted_rows_of(args.calibration)
    pred = EnginePredictor(arch_map, overrides=overrides, mode=args.mode, warm_l2=not args.cold_l2)
    with _progress("predicting", args) as bar:
        results = evaluate(rows, pred, progress=bar)
    summary = summarize(results, fitted)
    noise = noise_floor(rows + reference, pred.board_of)
    if args.json:
        print(json.dumps({"rows": [r.to_dict() for r in results], "summary": summary, "noise_floor": noise},
                         indent=2, default=str))
    else:
        if args.rows:
            print(format_text_table(ROW_HEADER, row_table(results, fitted)))
            print()
        header, table = summary_rows(summary, noise, pred.board_of)
        print(format_text_table(header, table))
    if args.out:
        used = {g: str(a) for g, a in arch_map.items() if any(r.gpu.upper() == g.upper() for r in rows)}
        meta = {
            "command": _cmdline(),
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "measured": ", ".join(args.measured),
            "arch_map": ", ".join(f"{g}={a}" for g, a in used.items()),
            "calibration": (f"{args.calibration}: " + ", ".join(f"{k} = {v:.4g}" for k, v in overrides["*"].items())
                            + " (fitted on the A100 rows it lists; applied to every GPU)") if overrides
            else "none (configs as shipped)",
        }
        if args.noise_reference:
            meta["noise_reference"] = ", ".join(args.noise_reference)
        if fitted:
            meta["fitted"] = (f"{len(fitted)} rows were used to fit the calibration (marked * in errors.csv); "
                              "the held-out groups leave them out")
        paths = write_report(args.out, results, summary, meta, noise=noise, board_of=pred.board_of, fitted=fitted,
                             cross_validation=cv)
        if not args.json:
            print(f"\nwrote {paths['report']} (+ errors.csv, summary.json, 3 plots)")
    return 0


# ---------------------------------------------------------------- calibrate
def _calibrate(args) -> int:
    from ..arch import load_arch
    from ..errors import InputError
    from ..validate import calibrate as cal
    from ..validate.measured import read_measured_many
    from ..validate.metrics import summarize
    from ..validate.report import format_text_table, summary_rows

    from ..io import check_output_file

    if args.min_mnk < 1:
        raise InputError(f"--min-mnk must be a positive integer, got {args.min_mnk}")
    if args.gpu is not None and not args.gpu.strip():
        raise InputError("--gpu: expected a GPU name as in the measured file's gpu column, got an empty name")
    rows = read_measured_many(args.measured)
    arch = load_arch(args.arch)
    out = Path(args.out) if args.out else Path(f"{arch.name}-calibrated.toml")
    check_output_file(out, "calibration override")  # before the long part
    if args.cv_out:
        check_output_file(args.cv_out, "cross-validation JSON")
    gpu = args.gpu or DEFAULT_CALIBRATION_GPU.get(arch.name)
    if gpu is None:
        raise InputError(f"cannot tell which GPU's rows belong to arch {arch.name!r}; give --gpu NAME")
    fit_rows, other = cal.split_rows(rows, gpu, args.min_mnk)
    cal.folds_of(fit_rows, args.folds)  # refuse a bad --folds before the long part

    if not args.quiet:
        print(f"simulating {len(fit_rows)} {gpu} rows on a {len(cal.EFF_GRID)} x {len(cal.DRAM_GRID)} efficiency "
              "grid (dense and 2:4)...", file=sys.stderr)
    with _progress("grid", args, unit="point") as bar:
        sur = cal.Surrogate(fit_rows, arch, power=not args.no_power, progress=bar)
    params = sur.params
    x0 = {"efficiency.tensor_dense": arch.efficiency.tensor_dense, "efficiency.tensor_sparse": arch.efficiency.tensor_sparse,
          "efficiency.dram": arch.efficiency.dram, "launch.overhead_us": arch.launch.overhead_us}
    if sur.power:
        from ..cost.energy import array_energy_factor

        x0[cal.POWER_KEY] = array_energy_factor(arch)
    result = cal.fit(sur, None, params, x0)
    fit_res = sur.results(result.values)
    cv_res, per_fold = cal.cross_validate(sur, args.folds, params, result.values)

    def brief(res):
        g = summarize(res)
        key = next(k for k in g if k.startswith("large"))
        s = g[key]
        return (f"dense MAPE {s['dense']['mape']:.1f}%, sparse MAPE {s['sparse']['mape'] or 0:.1f}%, "
                f"speedup MAPE {s['speedup']['mape']:.1f}%, speedup corr {s['speedup_corr'] or 0:.2f}")

    errors = {"fit-set error (surrogate)": brief(fit_res),
              f"{args.folds}-fold cross-validated error (by layer)": brief(cv_res)}
    header = cal.provenance_lines(args.measured, fit_rows, other, args.min_mnk, errors)
    header += ["", "Fitted parameters (bounds):"]
    for p in params:
        spread = ", ".join(f"{v[p.key]:.4g}" for v in per_fold)
        header.append(f"  {p.key} = {result.values[p.key]:.6g}  [{p.lo:g}, {p.hi:g}]  {p.meaning}; per fold: {spread}")
    if result.at_bound:
        header.append(f"  at a bound of its range: {', '.join(result.at_bound)}")
    for p in params:
        lo, hi = result.band[p.key]
        header.append(f"  {p.key}: the objective stays within 1 % of its best for {lo:.4g} .. {hi:.4g}")
    if result.undetermined:
        header.append(f"  not determined by the rows (the config value lies in that range and is kept): "
                      f"{', '.join(result.undetermined)}")
    base_ref = args.arch if not str(args.arch).endswith(".toml") else str(Path(args.arch).resolve())
    text = cal.render_override(base_ref, f"{arch.name}-calibrated",
                               f"{arch.description}, efficiencies fitted on measured {gpu} rows", result.values, header)
    payload = {
        "command": _cmdline(), "gpu": gpu, "arch": arch.name, "folds": args.folds, "values": result.values,
        "at_bound": result.at_bound, "undetermined": result.undetermined, "band": result.band, "per_fold": per_fold, "fit_rows": len(fit_rows), "nfev": result.nfev,
        "fit": summarize(fit_res), "cross_validated": summarize(cv_res), "written": str(out),
    }
    if args.cv_out:
        from ..io import write_text_atomic

        write_text_atomic(args.cv_out, json.dumps(payload, indent=2, default=str) + "\n")
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(f"calibrated {arch.name} on {len(fit_rows)} {gpu} rows ({result.nfev} evaluations of the surrogate):")
        for p in params:
            flag = "  (at bound)" if p.key in result.at_bound else ""
            flag += "  (not determined by the rows: config value kept)" if p.key in result.undetermined else ""
            print(f"  {p.key:28s} = {result.values[p.key]:10.4g}{flag}   {p.meaning}")
        for label, res in (("fit rows (surrogate)", fit_res), (f"{args.folds}-fold cross-validation", cv_res)):
            print(f"\n{label}:")
            hdr, table = summary_rows(summarize(res), {}, None)
            print(format_text_table(hdr, table))
    cal.write_override(out, text, check=load_arch)
    if not args.json:
        print(f"\nwrote {out}")
    return 0


CV_KEYS = {"cross_validated": dict, "values": dict, "gpu": str, "folds": int, "command": str}


def _read_cv(path) -> dict:
    """The JSON ``calibrate --cv-out`` wrote, with the keys the report uses."""
    from ..errors import InputError
    from ..io import decode_text, is_file, read_bytes

    if not is_file(path) and not Path(path).exists():
        raise InputError(f"cross-validation file {str(path)!r} does not exist")
    try:
        doc = json.loads(decode_text(read_bytes(path, "cross-validation file"), path))
    except ValueError as exc:
        raise InputError(f"{path}: not a JSON file `calibrate --cv-out` wrote: {str(exc)[:120]}") from None
    bad = [k for k, tp in CV_KEYS.items() if not isinstance(doc, dict) or not isinstance(doc.get(k), tp)]
    if bad:
        raise InputError(f"{path}: not a JSON file `calibrate --cv-out` wrote (missing or wrong {', '.join(bad)})")
    if not all(isinstance(v, (int, float)) for v in doc["values"].values()):
        raise InputError(f"{path}: 'values' must map parameter names to numbers")
    return doc
