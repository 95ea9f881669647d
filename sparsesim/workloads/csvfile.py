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
import io
import re
from pathlib import Path

from ..errors import ConfigError
from ..io import read_text
from .model import Layer, Workload, check_dim

POSITIONAL = ("m", "n", "k", "count", "name", "dtype")
COLUMNS = (*POSITIONAL, "prunable")
REQUIRED = ("m", "n", "k")
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


_DIGITS = re.compile(r"[0-9]{1,30}", re.ASCII)


def _int(text: str, col: str, where: str) -> int:
    text = text.strip()
    if not _DIGITS.fullmatch(text):
        raise ConfigError(f"{where}: column {col!r} must be a positive integer in digits 0-9, got {text[:40]!r}")
    if int(text) < 1:
        raise ConfigError(f"{where}: column {col!r} must be a positive integer, got {text}")
    return check_dim(int(text), f"{where}: column {col!r}")


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
    text = read_text(path, "workload", ConfigError)
    lines = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        start = 1
        for row in reader:  # a quoted field may span lines: a row is named by its first line
            if row and any(c.strip() for c in row) and not row[0].lstrip().startswith("#"):
                lines.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ConfigError(f"{path}, line {reader.line_num}: not a valid CSV line: {exc}") from None
    if not lines:
        raise ConfigError(f"{path}: no GEMM lines (expected m,n,k[,count,name,dtype])")
    first = [c.strip().lower() for c in lines[0][1]]
    if first[0][:1] in "0123456789":
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
