"""Sweeps on real weights: every prunable layer of a workload runs in exec mode on the tensors of
a ``.safetensors`` file that carry its name.

Layers map to tensors by name: a tensor ``<name>.weight`` (or ``<name>``) whose name, with its
numeric parts taken out, is the layer's name or ends with ``.<layer name>`` belongs to the
layer.  A layer repeated R times (``encoder.layer.attention.self.query`` of a Hugging Face
config, repeat 6) so finds its R tensors (``encoder.layer.0.attention.self.query.weight`` ...
``encoder.layer.5...``); a checkpoint's prefix (``bert.``) does not matter.  Each tensor must
be ``[m, k]`` of its layer.  A prunable layer without a tensor, or with one of another shape,
is refused before any work, naming the closest tensor names.

Each point runs exec mode once per tensor of its layer (pruned by magnitude to the point's
pattern and density, cast or quantized to its dtype: :mod:`sparsesim.operands`) on activations
drawn from a seed (``k x n`` of the layer); its row holds the mean over the tensors (times,
bytes, utilizations, energy), so ``seconds x repeat`` is still the layer's total.  Layers
whose A is an activation (attention products) run exec mode on seeded random operands.  The
rows' model fingerprint carries a digest of the weights file, so a resumed sweep recomputes
the rows of a changed file.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import InputError

_TENSORS = {}  # path -> tensors, per process


def _tensors(path):
    key = str(Path(path).resolve())
    if key not in _TENSORS:
        from ..masks.report import load_safetensors

        _TENSORS.clear()
        _TENSORS[key] = load_safetensors(path)
    return _TENSORS[key]


def _strip(name: str) -> str:
    base = name[: -len(".weight")] if name.endswith(".weight") else name
    return ".".join(p for p in base.split(".") if not p.isdigit())


def _index(name: str) -> tuple:
    return tuple(int(x) for x in re.findall(r"(?:^|\.)(\d+)(?=\.|$)", name))


def layer_tensors(layer: str, tensors: dict) -> list:
    """Names of the 2-D tensors that belong to workload layer ``layer`` (in index order)."""
    out = [k for k, v in tensors.items() if np.ndim(v) == 2 and (k.endswith(".weight") or k == layer)
           and (_strip(k) == layer or _strip(k).endswith("." + layer))]
    return sorted(out, key=_index)


def weight_map(points, tensors: dict, source: str) -> dict:
    """``{layer name: [tensor names]}`` for the prunable layers of ``points``; refuses a layer with
    no tensor or a tensor of another shape."""
    mapping = {}
    for p in points:
        if not p.prunable or p.layer in mapping:
            continue
        names = layer_tensors(p.layer, tensors)
        if not names:
            cands = [k for k, v in tensors.items() if np.ndim(v) == 2]
            by_base = {}
            for k in cands:
                by_base.setdefault(_strip(k), k)
            close = [by_base[b] for b in difflib.get_close_matches(p.layer, list(by_base), n=4, cutoff=0.6)]
            last = p.layer.split(".")[-1]
            close = close or [k for k in cands if _strip(k).split(".")[-1] == last][:4]
            hint = f"; close matches: {', '.join(close)}" if close else ""
            raise InputError(f"weights file {source!r} has no tensor for layer {p.layer!r} of workload "
                             f"{p.workload!r}{hint}")
        for name in names:
            shape = tuple(np.shape(tensors[name]))
            if shape != (p.m, p.k):
                raise InputError(f"tensor {name!r} of {source!r} is {shape[0]} x {shape[1]}, but layer {p.layer!r} "
                                 f"of workload {p.workload!r} is m x k = {p.m} x {p.k}")
        mapping[p.layer] = names
    return mapping


def _digest(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


class RealWeights:
    """Point evaluator running exec mode on the tensors of a weights file (picklable)."""

    def __init__(self, path, mapping: dict, seed: int = 0):
        self.path, self.mapping, self.seed = str(path), dict(mapping), seed

    def __call__(self, point) -> dict:
        import sparsesim
        from ..operands import operands, random_activations

        fmt = point.format if point.pattern == "unstructured" else None
        density = point.density if point.pattern == "unstructured" else None
        x = random_activations(point.k, point.n, point.dtype, self.seed)
        names = self.mapping.get(point.layer) if point.prunable else None
        if names:
            tensors = _tensors(self.path)
            weights = [np.asarray(tensors[n], dtype=np.float32) for n in names]
            pattern = point.pattern
        else:  # A is an activation: dense, drawn like B
            weights = [random_activations(point.k, point.m, "fp16", self.seed + 1).T]
            pattern, density, fmt = "dense", None, None
        results = []
        for w in weights:
            ops = operands(w, x, pattern, density, point.dtype)
            r = sparsesim.simulate(point.arch, point.m, point.n, point.k, point.dtype, pattern, format=fmt,
                                   mode="exec", a=ops.a, b=ops.b)
            results.append(r.to_dict())
        return mean_result(results)


def mean_result(results: list) -> dict:
    """One result dict: numbers (and numbers in dicts) averaged, the most common bound, the rest
    from the first."""
    out = dict(results[0])
    for key, v in results[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = float(np.mean([r[key] for r in results]))
        elif isinstance(v, dict) and all(isinstance(x, (int, float)) for x in v.values()):
            out[key] = {k: float(np.mean([r[key][k] for r in results])) for k in v}
    out["bound"] = Counter(r["bound"] for r in results).most_common(1)[0][0]
    out["tensors"] = len(results)
    return out


def prepare(points, weights, seed: int = 0):
    """(points in exec mode tagged with the weights file's digest, the evaluator) for a sweep on
    real weights; refuses unmapped or mis-shaped layers before any work."""
    modes = sorted({p.mode for p in points} - {"statistical", "exec"})
    if modes:
        raise InputError(f"a sweep on real weights runs in mode exec, not {', '.join(modes)}")
    path = Path(weights)
    if not path.is_file():
        raise InputError(f"weights file {str(path)!r} does not exist")
    mapping = weight_map(points, _tensors(path), str(path))
    tag = f"+w{_digest(path)}"
    points = [replace(p, mode="exec", model=(p.model or "") + tag) for p in points]
    return points, RealWeights(path, mapping, seed)
