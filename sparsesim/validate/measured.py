"""Measured GEMM timings: the CSV format, its reader and its writer.

One row is one GEMM shape timed dense and 2:4-sparse on one GPU::

    gpu,dtype,m,n,k,sparse_operand,dense_us,sparse_us,speedup,backend,source,notes

Shapes use the hardware convention C[m x n] = A[m x k] . B[k x n]: A is the
2:4-sparse weight (``sparse_operand = W``), m its output features, k the
compressed reduction axis, n the tokens.  ``speedup = dense_us / sparse_us``.

A row may leave ``sparse_us`` empty when only the speedup was published (the
sparse time is then ``dense_us / speedup``); it may leave ``speedup`` empty when
both times are given.  Lines starting with ``#`` are comments (the GPU benchmark
script records the GPU, driver and library versions there) and blank lines are
skipped.  Every malformed field raises :class:`~sparsesim.errors.FormatError`
naming the file, line and column.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FormatError, InputError

COLUMNS = (
    "gpu",
    "dtype",
    "m",
    "n",
    "k",
    "sparse_operand",
    "dense_us",
    "sparse_us",
    "speedup",
    "backend",
    "source",
    "notes",
)
DTYPES = ("int8", "fp8", "fp16", "bf16", "tf32", "fp4", "fp32")
SPARSE_OPERANDS = ("W",)
# A published speedup is usually rounded to 2 decimals; allow that plus 1 %.
SPEEDUP_REL_TOL = 0.01
SPEEDUP_ABS_TOL = 0.006
# GEMMs at least this large (m*n*k) are reported separately: 1024^3.
LARGE_GEMM_MNK = 2**30


@dataclass(frozen=True)
class MeasuredRow:
    """One measured GEMM (times in microseconds) and where it was read from."""

    gpu: str
    dtype: str
    m: int
    n: int
    k: int
    sparse_operand: str
    dense_us: float
    sparse_us: float | None
    speedup: float
    backend: str = ""
    source: str = ""
    notes: str = ""
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    @property
    def mnk(self) -> int:
        return self.m * self.n * self.k

    @property
    def flops(self) -> int:
        """Dense-equivalent floating-point operations (2 per multiply-accumulate)."""
        return 2 * self.mnk

    @property
    def is_large(self) -> bool:
        return self.mnk >= LARGE_GEMM_MNK

    @property
    def sparse_us_effective(self) -> float:
        """The measured sparse time, or ``dense_us / speedup`` where only the speedup was published."""
        return self.sparse_us if self.sparse_us is not None else self.dense_us / self.speedup

    @property
    def family(self) -> str:
        """Shape family: the ``family=`` entry of ``notes`` (a model's layers, ``square``), else
        ``square`` for m = n = k and ``other``."""
        for part in self.notes.split(";"):
            key, _, value = part.strip().partition("=")
            if key.strip() == "family" and value.strip():
                return value.strip()
        return "square" if self.m == self.n == self.k else "other"

    @property
    def flagged(self) -> bool:
        """The source flags the row as a library outlier (``SUSPICIOUS`` in ``notes``)."""
        return "SUSPICIOUS" in self.notes

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file else f"line {self.line}"

    def shape_key(self) -> tuple:
        """Identity of the dense measurement (rows of one benchmark share it)."""
        return (self.gpu, self.dtype, self.m, self.n, self.k, self.source, self.dense_us)

    def to_csv_dict(self) -> dict:
        return {
            "gpu": self.gpu,
            "dtype": self.dtype,
            "m": self.m,
            "n": self.n,
            "k": self.k,
            "sparse_operand": self.sparse_operand,
            "dense_us": _fmt_float(self.dense_us),
            "sparse_us": "" if self.sparse_us is None else _fmt_float(self.sparse_us),
            "speedup": f"{self.speedup:.6g}",
            "backend": self.backend,
            "source": self.source,
            "notes": self.notes,
        }


def _fmt_float(x: float) -> str:
    return f"{x:.10g}"


def _err(name, line, column, msg):
    col = f", column '{column}'" if column else ""
    return FormatError(f"{name}: line {line}{col}: {msg}")


_INT = re.compile(r"[0-9]{1,30}", re.ASCII)
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?|[+-]?(?:nan|inf|infinity)",
                    re.ASCII | re.IGNORECASE)


def _parse_int(name, line, col, text):
    from ..timing.limits import DEFAULT_LIMITS

    if not _INT.fullmatch(text) or int(text) <= 0:
        raise _err(name, line, col, f"expected a positive integer in the digits 0-9, got {text[:40]!r}")
    value = int(text)
    if value > DEFAULT_LIMITS.max_dim:
        raise _err(name, line, col, f"{value} is above the largest GEMM dimension, {DEFAULT_LIMITS.max_dim}")
    return value


def _parse_time(name, line, col, text, required):
    if text == "":
        if required:
            raise _err(name, line, col, "expected a positive number, got an empty field")
        return None
    if not _FLOAT.fullmatch(text):
        raise _err(name, line, col, f"expected a positive number in the digits 0-9, got {text[:40]!r}")
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise _err(name, line, col, f"expected a positive finite number, got {text!r}")
    return value


def parse_measured_text(text: str, name: str = "<text>") -> list[MeasuredRow]:
    """Parse measured-timing CSV text; ``name`` is used in error messages."""
    # Physical line numbers: keep comment/blank lines in the count.
    numbered = [
        (i, ln) for i, ln in enumerate(text.splitlines(), start=1) if ln.strip() and not ln.lstrip().startswith("#")
    ]
    if not numbered:
        raise FormatError(f"{name}: no header line; expected the columns {','.join(COLUMNS)}")
    header_line, header_text = numbered[0]
    header = [h.strip() for h in next(csv.reader([header_text]))]
    missing = [c for c in COLUMNS if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    if missing or unknown or len(header) != len(set(header)):
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown {', '.join(unknown)}")
        if len(header) != len(set(header)):
            parts.append("a column is repeated")
        raise FormatError(
            f"{name}: line {header_line}: bad header ({'; '.join(parts)}); expected the columns {','.join(COLUMNS)}"
        )
    rows = []
    for line, raw in numbered[1:]:
        fields = next(csv.reader([raw]))
        if len(fields) != len(header):
            raise _err(name, line, None, f"expected {len(header)} comma-separated fields, got {len(fields)}")
        rec = {h: f.strip() for h, f in zip(header, fields)}
        gpu = rec["gpu"]
        if not gpu:
            raise _err(name, line, "gpu", "expected a GPU name (e.g. A100), got an empty field")
        dtype = rec["dtype"].lower()
        if dtype not in DTYPES:
            raise _err(name, line, "dtype", f"expected one of {', '.join(DTYPES)}, got {rec['dtype']!r}")
        m = _parse_int(name, line, "m", rec["m"])
        n = _parse_int(name, line, "n", rec["n"])
        k = _parse_int(name, line, "k", rec["k"])
        operand = rec["sparse_operand"]
        if operand not in SPARSE_OPERANDS:
            raise _err(
                name,
                line,
                "sparse_operand",
                f"expected 'W' (the 2:4 weight A of C[m x n] = A[m x k] . B[k x n]), got {operand!r}",
            )
        dense_us = _parse_time(name, line, "dense_us", rec["dense_us"], required=True)
        sparse_us = _parse_time(name, line, "sparse_us", rec["sparse_us"], required=False)
        speedup = _parse_time(name, line, "speedup", rec["speedup"], required=False)
        if sparse_us is None and speedup is None:
            raise _err(name, line, "sparse_us", "expected a sparse time or a speedup; both are empty")
        if speedup is None:
            speedup = dense_us / sparse_us
        elif sparse_us is not None:
            ratio = dense_us / sparse_us
            if abs(ratio - speedup) > SPEEDUP_ABS_TOL + SPEEDUP_REL_TOL * ratio:
                raise _err(
                    name,
                    line,
                    "speedup",
                    f"{rec['speedup']} disagrees with dense_us/sparse_us = {ratio:.4f}; expected speedup = dense_us / sparse_us",
                )
        rows.append(
            MeasuredRow(
                gpu=gpu,
                dtype=dtype,
                m=m,
                n=n,
                k=k,
                sparse_operand=operand,
                dense_us=dense_us,
                sparse_us=sparse_us,
                speedup=speedup,
                backend=rec["backend"],
                source=rec["source"],
                notes=rec["notes"],
                file=name,
                line=line,
            )
        )
    if not rows:
        raise FormatError(f"{name}: no data rows after the header")
    return rows


def read_measured(path) -> list[MeasuredRow]:
    """Read a measured-timing CSV file (see the module docstring for the format)."""
    from ..io import decode_text, is_file, read_bytes

    path = Path(path)
    if not is_file(path) and not path.exists():
        raise InputError(f"measured-timing file {str(path)!r} does not exist")
    text = decode_text(read_bytes(path, "measured-timing file"), path)  # names the file and line
    return parse_measured_text(text, name=str(path))


def read_measured_many(paths) -> list[MeasuredRow]:
    rows = []
    for p in paths:
        rows.extend(read_measured(p))
    return rows


def format_measured_csv(rows, comments=()) -> str:
    """CSV text for ``rows`` (MeasuredRow or dicts with the columns), ``comments`` as ``# `` lines first."""
    buf = io.StringIO()
    for c in comments:
        for ln in str(c).splitlines() or [""]:
            buf.write(f"# {ln}\n")
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r.to_csv_dict() if isinstance(r, MeasuredRow) else {c: r.get(c, "") for c in COLUMNS})
    return buf.getvalue()
