"""Workloads as a GEMM list in CSV: one GEMM per line, ``m,n,k[,count,name,dtype]``.

The header line names the columns (``m, n, k`` required; ``count``, ``name``,
``dtype`` and ``prunable`` optional, in any order).  A file without a header is read
positionally as ``m,n,k,count,name,dtype``.  ``count`` is the number of identical
GEMMs (the layer's repeat count, default 1); ``dtype`` overrides the sweep's element
type for that GEMM; ``prunable`` = ``false`` marks a GEMM whose A is an activation.
Blank lines and lines starting with ``#`` are skipped.  Every error names the file
and the line.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..errors import ConfigError
from .model import Layer, Workload

POSITIONAL = ("m", "n", "k", "count", "name", "dtype")
COLUMNS = (*POSITIONAL, "prunable")
REQUIRED = ("m", "n", "k")
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _int(text: str, col: str, where: str) -> int:
    try:
        v = int(text.strip())
    except ValueError:
        raise ConfigError(f"{where}: column {col!r} must be a positive integer, got {text.strip()!r}") from None
    if v < 1:
        raise ConfigError(f"{where}: column {col!r} must be a positive integer, got {v}")
    return v


def _layer(cells: dict, index: int, lineno: int, where: str) -> Layer:
    from ..formats._arrays import DTYPE_BYTES

    m, n, k = (_int(cells[c], c, where) for c in REQUIRED)
    count = _int(cells["count"], "count", where) if cells.get("count", "").strip() else 1
    name = cells.get("name", "").strip() or f"gemm{index}"
    dtype = cells.get("dtype", "").strip().lower() or None
    if dtype is not None and dtype not in DTYPE_BYTES:
        raise ConfigError(f"{where}: column 'dtype' is {dtype!r}; expected one of {', '.join(DTYPE_BYTES)}")
    prunable = True
    if cells.get("prunable", "").strip():
        text = cells["prunable"].strip().lower()
        if text not in _BOOLS:
            raise ConfigError(f"{where}: column 'prunable' must be true or false, got {text!r}")
        prunable = _BOOLS[text]
    return Layer(name=name, op="gemm", m=m, n=n, k=k, repeat=count, prunable=prunable, dtype=dtype,
                 params={"line": lineno})


def load_csv(path) -> Workload:
    """Read a GEMM list; the workload is named after the file (``gemms.csv`` -> ``gemms``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    lines = [(i, row) for i, row in enumerate(csv.reader(text.splitlines()), start=1)
             if row and any(c.strip() for c in row) and not row[0].lstrip().startswith("#")]
    if not lines:
        raise ConfigError(f"{path}: no GEMM lines (expected m,n,k[,count,name,dtype])")
    first = [c.strip().lower() for c in lines[0][1]]
    if first[0].isdigit():
        header = POSITIONAL
    else:
        header = tuple(first)
        unknown = [c for c in header if c not in COLUMNS]
        if unknown:
            raise ConfigError(f"{path}, line {lines[0][0]}: unknown column {unknown[0]!r}; "
                              f"expected {', '.join(COLUMNS)} (m, n, k required)")
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise ConfigError(f"{path}, line {lines[0][0]}: missing column {missing[0]!r} (m, n, k are required)")
        lines = lines[1:]
    layers, seen = [], set()
    for index, (lineno, row) in enumerate(lines):
        where = f"{path}, line {lineno}"
        if len(row) > len(header):
            raise ConfigError(f"{where}: {len(row)} fields where the header has {len(header)}")
        if len(row) < len(REQUIRED) and header is POSITIONAL:
            raise ConfigError(f"{where}: expected m,n,k[,count,name,dtype], got {','.join(row)!r}")
        cells = dict(zip(header, row))
        missing = [c for c in REQUIRED if not cells.get(c, "").strip()]
        if missing:
            raise ConfigError(f"{where}: column {missing[0]!r} is empty")
        layer = _layer(cells, index, lineno, where)
        if layer.name in seen:
            raise ConfigError(f"{where}: duplicate GEMM name {layer.name!r}")
        seen.add(layer.name)
        layers.append(layer)
    if not layers:
        raise ConfigError(f"{path}: only a header, no GEMM lines")
    return Workload(name=path.stem, description=f"GEMM list {path.name} ({len(layers)} lines)",
                    sources=(str(path),), layers=tuple(layers), path=str(path))
