"""The results table of a sweep: a CSV append log that never loses a finished point.

While a sweep runs, every finished point is appended to the CSV as one complete
line with a single ``write`` followed by ``fsync``; a crash (even SIGKILL) loses
only the points still in flight, and at worst leaves a torn last line, which
:meth:`ResultStore.open` cuts off before anything else is appended.  When the
sweep ends the table is rewritten sorted, with the speedup column filled, through
an atomic rename (and a Parquet copy beside it when pyarrow is installed), so a
reader never sees a half-written file.

One row per point; the columns are :data:`COLUMNS`.  Numbers are written with
``repr`` (shortest round-trip form), so reading a row back gives the same float
bit for bit.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from ..errors import InputError
from ..io import atomic_path

COLUMNS = (
    "arch", "workload", "batch", "layer_index", "layer", "repeat", "pattern", "format",
    "density", "dtype", "mode", "model", "m", "n", "k",
    "cycles", "seconds", "speedup", "utilization", "tensor_utilization", "bound",
    "dram_a_values", "dram_a_metadata", "dram_b", "dram_c", "dram_total",
    "error",
)
# A point: which GEMM of which study.  A row answers it only if it also has the point's
# shape and model fingerprint (see sparsesim.dse.fingerprint); KEY_COLUMNS are both.
POINT_COLUMNS = ("arch", "workload", "batch", "layer", "pattern", "format", "density", "dtype", "mode")
KEY_COLUMNS = POINT_COLUMNS + ("m", "n", "k", "model")
INT_COLUMNS = ("batch", "layer_index", "repeat", "m", "n", "k")
FLOAT_COLUMNS = (
    "density", "cycles", "seconds", "speedup", "utilization", "tensor_utilization",
    "dram_a_values", "dram_a_metadata", "dram_b", "dram_c", "dram_total",
)
DRAM_KINDS = ("a_values", "a_metadata", "b", "c", "total")


def format_value(value) -> str:
    """Text of one cell: '' for None, repr for floats (round-trips exactly)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def row_key(row) -> tuple:
    """Identity of a row: the columns that a rerun of the same sweep with the same model reproduces."""
    return tuple(str(row[c]) for c in KEY_COLUMNS)


def point_key(row) -> tuple:
    """Identity of the point a row answers, whatever shape and model produced it."""
    return tuple(str(row[c]) for c in POINT_COLUMNS)


def _line(row) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([format_value(row.get(c)) for c in COLUMNS])
    return buf.getvalue()


def parse_row(row: dict) -> dict:
    """Convert a row read from CSV (all strings) to numbers where the column is numeric."""
    out = dict(row)
    for c in INT_COLUMNS:
        v = out.get(c)
        out[c] = int(v) if v not in (None, "") else None
    for c in FLOAT_COLUMNS:
        v = out.get(c)
        out[c] = float(v) if v not in (None, "") else None
    return out


def read_results(path) -> list[dict]:
    """Read a results CSV into a list of typed rows (a torn last line is ignored)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"results file {path} does not exist")
    rows, _ = _read_text(path.read_text(encoding="utf-8"), path)
    return [parse_row(r) for r in rows]


def _read_text(text: str, path) -> tuple[list[dict], int]:
    """Rows (as string dicts) of a results CSV and the byte length of its complete part."""
    if not text:
        return [], 0
    complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1]
    lines = complete.splitlines(keepends=True)
    if not lines:
        return [], 0
    header = next(csv.reader([lines[0]]))
    if tuple(header) == tuple(c for c in COLUMNS if c != "model"):
        raise InputError(
            f"{path} was written by an earlier sparsesim whose rows carry no model fingerprint, so "
            "they cannot be matched to the current model; write to another file (or move this one "
            "away) and rerun the sweep"
        )
    if tuple(header) != COLUMNS:
        raise InputError(
            f"{path} is not a sparsesim results table (its header is {','.join(header)[:120]!r}); "
            f"expected the columns {','.join(COLUMNS)}; choose another output file"
        )
    rows = []
    for i, fields in enumerate(csv.reader(lines[1:]), start=2):
        if len(fields) != len(COLUMNS):
            raise InputError(
                f"{path}, line {i}: {len(fields)} fields where {len(COLUMNS)} were expected; "
                "the file was changed by something other than sparsesim"
            )
        rows.append(dict(zip(COLUMNS, fields)))
    return rows, len(complete.encode("utf-8"))


class ResultStore:
    """Append-only, crash-safe writer of sweep rows into one CSV file."""

    def __init__(self, path):
        self.path = Path(path)
        self._fd = None

    def open(self) -> dict:
        """Open the file for appending; return the rows already there, keyed by point.

        A missing file is created with the header.  A torn last line (the process
        died in the middle of a write) is cut off so that the next row starts on a
        line of its own.  Later rows of the same point replace earlier ones.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existing = {}
        if self.path.exists() and self.path.stat().st_size:
            raw = self.path.read_bytes()
            text = raw.decode("utf-8", errors="replace")
            rows, keep = _read_text(text, self.path)
            if keep < len(raw):
                with open(self.path, "r+b") as f:
                    f.truncate(keep)
                    f.flush()
                    os.fsync(f.fileno())
            for r in rows:
                existing[row_key(r)] = r
            fresh = keep == 0
        else:
            fresh = True
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if fresh:
            self._write(",".join(COLUMNS) + "\n")
        return existing

    def _write(self, text: str) -> None:
        data = text.encode("utf-8")
        n = os.write(self._fd, data)
        while n < len(data):  # a regular file takes it whole; be safe anyway
            n += os.write(self._fd, data[n:])
        os.fsync(self._fd)

    def append(self, row: dict) -> None:
        """Write one complete row and make it durable before returning."""
        if self._fd is None:
            raise RuntimeError("ResultStore.append before open()")
        self._write(_line(row))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_readable(path) -> None:
    """Give a finished temp file the mode a plain ``open(..., "w")`` would have
    (temp files are created 0600)."""
    os.chmod(path, 0o666 & ~_umask())


def write_table(path, rows) -> list[Path]:
    """Write the final table atomically as CSV, plus ``.parquet`` beside it if pyarrow is there.

    Returns the paths written.
    """
    path = Path(path)
    text = ",".join(COLUMNS) + "\n" + "".join(_line(r) for r in rows)
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        make_readable(tmp)
    written = [path]
    pq_path = write_parquet(path.with_suffix(".parquet"), rows)
    if pq_path is not None:
        written.append(pq_path)
    return written


def write_parquet(path, rows):
    """Parquet copy of the table with typed columns; ``None`` when pyarrow is missing."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None
    typed = [parse_row({c: format_value(r.get(c)) for c in COLUMNS}) for r in rows]
    arrays = {}
    for c in COLUMNS:
        vals = [r[c] for r in typed]
        if c in INT_COLUMNS:
            arrays[c] = pa.array(vals, type=pa.int64())
        elif c in FLOAT_COLUMNS:
            arrays[c] = pa.array(vals, type=pa.float64())
        else:
            arrays[c] = pa.array(vals, type=pa.string())
    table = pa.table(arrays)
    path = Path(path)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
        make_readable(tmp)
    return path
