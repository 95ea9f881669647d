"""Planning a sweep: pattern specs, density grids, and the points of archs x workloads x patterns.

A sweep is a list of :class:`Point` (one GEMM layer of one workload on one design with one
pattern/format at one density).  Pattern specs: ``dense``, ``N:M`` (``2:4``, ``4:8``,
``1:2``...) and ``unstructured:FORMAT`` with FORMAT one of ``csr``, ``csb``, ``bitmask``.
Dense and N:M points have their own fixed density; only unstructured ones are swept over
the density grid.  Dense baselines are always added, because every row's speedup is
measured against the dense run of the same design, workload, layer, dtype and mode.

Archs are config names/paths or arch objects (e.g. from :func:`sparsesim.arch.derive`);
``params`` (``sweep --set KEY=VALUES``, :mod:`sparsesim.dse.grid`) multiplies each arch into
one derived design per combination of values, and every row carries its design's values.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import re
from dataclasses import dataclass, replace

from ..errors import InputError, PatternError
from ..patterns import parse_pattern
from .store import decode_params, encode_params, point_key, row_key

DEFAULT_PATTERNS = (
    "dense", "2:4", "4:8", "1:2",
    "unstructured:csr", "unstructured:csb", "unstructured:bitmask",
)
DEFAULT_DENSITIES = "0.05:1.0:0.05"
UNSTRUCTURED_FORMATS = ("csr", "csb", "bitmask")
DTYPES = ("int8", "fp8", "fp16", "bf16", "tf32", "fp4", "fp32")


@dataclass(frozen=True)
class PatternSpec:
    """One sweep pattern: ``pattern`` is 'dense', 'N:M' or 'unstructured'; ``format``
    the encoding of A ('dense', 'index' for N:M hardware metadata, or csr/csb/bitmask)."""

    pattern: str
    format: str
    fixed_density: float | None

    @property
    def label(self) -> str:
        return f"unstructured:{self.format}" if self.pattern == "unstructured" else self.pattern


def parse_pattern_list(text) -> list[PatternSpec]:
    """Parse ``"dense,2:4,unstructured:csr"`` (or a list of specs) into :class:`PatternSpec`."""
    if isinstance(text, (bytes, dict)) or not isinstance(text, str) and not hasattr(text, "__iter__"):
        raise PatternError(f"sweep patterns must be a text such as 'dense,2:4' or a list of specs, got {text!r:.60}")
    items = text.split(",") if isinstance(text, str) else list(text)
    specs = []
    for raw in items:
        if not isinstance(raw, str):
            raise PatternError(f"sweep pattern {raw!r:.40} is not a text such as '2:4'")
        s = raw.strip().lower()
        if not s:
            continue
        if s.startswith("unstructured"):
            fmt = s.split(":", 1)[1] if ":" in s else "csr"
            if fmt not in UNSTRUCTURED_FORMATS:
                raise PatternError(
                    f"sweep pattern {raw!r}: format {fmt!r} is not one of "
                    f"{', '.join(UNSTRUCTURED_FORMATS)} (write e.g. 'unstructured:csr')"
                )
            spec = PatternSpec("unstructured", fmt, None)
        else:
            pat = parse_pattern(s)
            if pat.is_dense:
                spec = PatternSpec("dense", "dense", 1.0)
            else:
                spec = PatternSpec(str(pat), "index", pat.density)
        if spec not in specs:
            specs.append(spec)
    if not specs:
        raise PatternError(f"no sweep pattern given in {text!r}; expected e.g. 'dense,2:4,unstructured:csr'")
    return specs


MAX_DENSITIES = 1000  # points of one density grid (docs/limits.md)


def parse_densities(text) -> tuple[float, ...]:
    """``"START:STOP:STEP"`` (inclusive) or ``"0.1,0.5,0.9"`` -> sorted densities in (0, 1],
    at most ``MAX_DENSITIES`` of them."""
    if isinstance(text, (bytes, dict)) or not isinstance(text, str) and not hasattr(text, "__iter__"):
        raise InputError(f"densities must be a grid text or a sequence of numbers, got {text!r:.60}")
    if not isinstance(text, str):
        vals = [_density(v, text) for v in text]
    elif ":" in text:
        parts = text.split(":")
        try:
            start, stop, step = (_density(p, text, in_range=False) for p in parts)
        except (ValueError, InputError):
            raise InputError(
                f"densities {text!r}: expected START:STOP:STEP such as 0.05:1.0:0.05"
            ) from None
        if len(parts) != 3 or not all(map(math.isfinite, (start, stop, step))) or step <= 0 or stop < start:
            raise InputError(f"densities {text!r}: expected START:STOP:STEP with STEP > 0 and STOP >= START")
        if (stop - start) / step >= MAX_DENSITIES:
            raise InputError(f"densities {text!r}: more than {MAX_DENSITIES} grid points; use a larger STEP")
        count = int(math.floor((stop - start) / step + 1e-9)) + 1
        vals = [round(start + i * step, 10) for i in range(count)]
    else:
        vals = [_density(v, text) for v in text.split(",") if v.strip()]
    for v in vals:
        if not (0.0 < v <= 1.0):
            raise InputError(f"density {v} is outside (0, 1]")
    if len(vals) > MAX_DENSITIES:
        raise InputError(f"{len(vals)} densities given; at most {MAX_DENSITIES}")
    if not vals:
        raise InputError(f"densities {text!r}: no density given")
    return tuple(sorted(set(vals)))


_NUMBER = re.compile(r"\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*|\s*[+-]?(?:nan|inf)\s*",
                     re.ASCII | re.IGNORECASE)


def _density(v, text, in_range=True) -> float:
    """One number of a density grid: a real number, or its text in digits 0-9."""
    if isinstance(v, str):
        if not _NUMBER.fullmatch(v):
            raise InputError(f"densities {text!r}: {v.strip()!r} is not a number in digits 0-9")
        x = float(v)
    elif isinstance(v, numbers.Real) and not isinstance(v, bool):
        x = float(v)
    else:
        raise InputError(f"densities {text!r:.60}: {v!r:.30} is not a number")
    if in_range and not 0.0 < x <= 1.0:
        raise InputError(f"density {x} is outside (0, 1]")
    return x


@dataclass(frozen=True)
class Point:
    """One simulation of the sweep and where its row belongs."""

    arch: str
    workload: str
    batch: int
    layer_index: int
    layer: str
    repeat: int
    pattern: str
    format: str
    density: float
    dtype: str
    mode: str
    m: int
    n: int
    k: int
    model: str = ""  # fingerprint of code + arch config (sparsesim.dse.fingerprint)
    prunable: bool = True  # False: A is an activation (attention products); simulated dense
    params: str = ""  # design parameters varied from ``arch`` (canonical JSON; sparsesim.dse.grid)
    arch_doc: str = ""  # an arch given as an object: its values (JSON), from which workers rebuild it

    @property
    def param_values(self) -> dict:
        """``{dotted key: value}`` varied from ``arch`` for this design."""
        return decode_params(self.params)

    @property
    def key(self) -> tuple:
        return row_key(vars(self))

    @property
    def point_key(self) -> tuple:
        return point_key(vars(self))

    @property
    def simulated(self) -> "Point":
        """The point the evaluator runs: itself, or its dense twin when A is not prunable."""
        if self.prunable or self.pattern == "dense":
            return self
        return replace(self, pattern="dense", format="dense", density=1.0)

    @property
    def sim_key(self) -> tuple:
        """Points with equal sim_key give equal results (shape, not layer name, matters)."""
        p = self.simulated
        real = (p.workload, p.layer) if p.mode == "exec" else ()  # real operands differ by layer
        return (p.arch, p.params, p.arch_doc, p.m, p.n, p.k, p.dtype, p.pattern, p.format, p.density, p.mode) + real


def plan_points(archs, workloads, patterns=DEFAULT_PATTERNS, densities=DEFAULT_DENSITIES,
                dtype="fp16", mode="statistical", batch=None, params=None, **workload_options) -> list[Point]:
    """Every point of the sweep, in table order.

    ``archs``: config names/paths or arch objects (``sparsesim.arch.derive(...)``); a list of
    arch objects carries, as varied values, the keys in which they differ.
    ``params``: a grid of design parameters, ``--set`` texts (``["dram.bandwidth_gbps=1000:4000:500"]``)
    or ``{key: values}`` (a list, one value, or a ``--set`` value text); every arch runs every
    combination, each derived and validated before any point is planned
    (:func:`sparsesim.dse.grid.expand`; bad input raises InputError naming the flag and key).
    ``workloads`` are names/paths or :class:`~sparsesim.workloads.Workload` objects;
    ``patterns`` a spec string/list; ``densities`` a grid string or a sequence;
    ``batch`` (optional) replaces every named workload's own batch size;
    ``workload_options`` (``phase``, ``seq_len``, ``context``) go to
    :func:`~sparsesim.workloads.load_workload` (Hugging Face configs).  A layer that
    names its own dtype runs in it; the others in ``dtype``.
    """
    from ..timing.driver import MODES
    from ..workloads import Workload, load_workload
    from .checks import check_count, check_workloads
    from .grid import expand

    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise InputError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    if not isinstance(mode, str) or mode not in MODES:
        raise InputError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    if isinstance(archs, (str, os.PathLike)) or dataclasses.is_dataclass(archs):
        archs = [archs]
    elif isinstance(archs, (bytes, dict)) or not hasattr(archs, "__iter__"):
        raise InputError(f"archs must be a name, a path, an arch or a list of them, got {archs!r:.60}")
    archs = _unique(archs)
    if not archs:
        raise InputError("no arch given; name at least one (e.g. --arch a100)")
    if isinstance(workloads, (str, os.PathLike, Workload)):
        workloads = [workloads]
    elif isinstance(workloads, (bytes, dict)) or not hasattr(workloads, "__iter__"):
        raise InputError(f"workloads must be a name, a path, a Workload or a list of them, got {workloads!r:.60}")
    designs = expand(archs, params)
    wls = [w if isinstance(w, Workload) else load_workload(w, batch=batch, **workload_options)
           for w in workloads]
    if not wls:
        raise InputError("no workload given; name at least one (e.g. --workload bert-base)")
    check_workloads(wls)
    specs = parse_pattern_list(patterns)
    if not any(s.pattern == "dense" for s in specs):
        specs.insert(0, PatternSpec("dense", "dense", 1.0))
    grid = parse_densities(densities)
    per_layer = sum(1 if s.fixed_density is not None else len(grid) for s in specs)
    check_count(len(designs) * sum(len(wl.layers) for wl in wls) * per_layer)
    points = []
    for design in designs:
        model, doc = _design_identity(design)
        extra = {"params": encode_params(design.params), "arch_doc": doc}
        for wl in wls:
            for li, layer in enumerate(wl.layers):
                for spec in specs:
                    dens = (spec.fixed_density,) if spec.fixed_density is not None else grid
                    for d in dens:
                        points.append(Point(design.arch, wl.name, wl.batch, li, layer.name, layer.repeat,
                                            spec.pattern, spec.format, float(d), layer.dtype or dtype,
                                            mode, layer.m, layer.n, layer.k, model, layer.prunable, **extra))
    return points


def _unique(archs) -> list:
    """Archs in order, repeats dropped (arch objects compared by their values)."""
    out, seen = [], set()
    for a in archs:
        key = repr(a) if dataclasses.is_dataclass(a) else str(a)
        if key not in seen:
            seen.add(key)
            out.append(a)
    return out


def _design_identity(design) -> tuple[str, str]:
    """(model fingerprint, arch_doc) of a design: a named arch without varied values is read
    afresh by its fingerprint; a derived design or an arch object by the object's values."""
    from .fingerprint import model_fingerprint

    named = isinstance(design.source, (str, os.PathLike))
    if named and not design.params:
        return model_fingerprint(design.source), ""
    if design.loaded is None:
        return "", ""
    doc = "" if named else arch_document(design.loaded)
    return model_fingerprint(design.loaded), doc


def arch_document(arch) -> str:
    """The values of an arch object as canonical JSON (what :func:`build_arch` takes back)."""
    import json

    from ..arch import arch_to_dict

    doc = arch_to_dict(arch)
    doc.pop("source", None)
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))
