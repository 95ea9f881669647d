"""Reading results tables back: CSV, Parquet and the SQLite store, checked cell by cell.

Every reader gives typed rows (:func:`sparsesim.dse.store.typed_row`) or an
:class:`~sparsesim.errors.InputError` naming the file and the line (CSV) or row (store):
a byte that is not UTF-8, a torn line, a cell that is not a number in digits 0-9, a
store that is not SQLite.  A table or store written by another sparsesim version (other
columns) raises :class:`OtherVersionError`; a sweep keeps such a file aside
(:func:`set_aside`) and starts afresh, a report refuses it.
"""

from __future__ import annotations

import csv
import io
import logging
import sqlite3
import time
from pathlib import Path

from ..errors import InputError
from ..io import decode_text, is_file, read_bytes
from .store import COLUMNS, SCHEMA, fill_speedup, typed_row, with_params

log = logging.getLogger(__name__)


class OtherVersionError(InputError):
    """A results table or store whose columns are those of another sparsesim version."""

    def __init__(self, message: str, path):
        super().__init__(message)
        self.path = Path(path)


def check_header(header, path) -> int:
    """Number of varied-parameter columns after :data:`COLUMNS`, or the error for a header
    that is not this version's."""
    header = list(header)
    extra = header[len(COLUMNS):]
    if tuple(header[:len(COLUMNS)]) == COLUMNS and all("." in c for c in extra):
        return len(extra)
    if {"arch", "seconds"} <= set(header):
        what = "an earlier sparsesim whose rows carry no model fingerprint" if "model" not in header \
            else f"another sparsesim version (columns {','.join(header)[:120]!r})"
        raise OtherVersionError(f"{path} was written by {what}", path)
    raise InputError(f"{path} is not a sparsesim results table (its header is {','.join(header)[:120]!r}); "
                     f"expected the columns {','.join(COLUMNS)}")


def _head(path, what) -> bytes:
    from ..io import user_file

    with user_file(path, "rb", what) as f:
        return f.read(16)


def read_csv(path) -> list[dict]:
    path = Path(path)
    text = decode_text(read_bytes(path, "results table"), path)
    if not text.strip():
        return []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows = []
    try:
        header = next(reader)
        width = len(COLUMNS) + check_header(header, path)
        start = reader.line_num + 1
        for fields in reader:  # a quoted cell may hold a line break: a row is named by its first line
            where = f"{path}, line {start}: "
            start = reader.line_num + 1
            if not fields:
                continue
            if len(fields) != width:
                raise InputError(f"{where}{len(fields)} fields where {width} were expected; "
                                 "the file was changed by something other than sparsesim")
            rows.append(typed_row(dict(zip(COLUMNS, fields)), where))
    except csv.Error as exc:
        raise InputError(f"{path}, line {reader.line_num}: not a valid CSV line: {exc}") from None
    return with_params(rows)


def read_parquet(path) -> list[dict]:
    path = Path(path)
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"reading {path} needs pyarrow: pip install 'sparsesim[parquet]'") from None
    _head(path, "results table")  # file-system errors name the file
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow's own error types
        raise InputError(f"{path} is not a readable Parquet file: {str(exc)[:200]}") from None
    check_header(table.column_names, path)
    return with_params([typed_row(r, f"{path}, row {i}: ")
                        for i, r in enumerate(table.select(list(COLUMNS)).to_pylist(), start=1)])


def store_columns(db) -> list[str]:
    return [r[1] for r in db.execute("PRAGMA table_info(results)")]


def stored_rows(db, path) -> list[dict]:
    """Every row of an open store, typed, in insertion order."""
    cols = ", ".join(f'"{c}"' for c in COLUMNS)
    out = []
    for values in db.execute(f"SELECT rowid, {cols} FROM results ORDER BY rowid"):
        out.append(typed_row(dict(zip(COLUMNS, values[1:])), f"{path}, row {values[0]}: "))
    return out


def read_store(path) -> list[dict]:
    """The rows of a SQLite store, read without changing the file."""
    path = Path(path)
    if _head(path, "results store") != b"SQLite format 3\x00":
        raise InputError(f"{path} is not a sparsesim results store (not an SQLite database)")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise InputError(f"{path} cannot be opened as a results store: {exc}") from None
    try:
        cols = store_columns(db)
        if not cols:
            raise InputError(f"{path} is not a sparsesim results store (no 'results' table)")
        if tuple(cols) != COLUMNS:
            check_header(cols, path)
            raise OtherVersionError(f"{path} was written by another sparsesim version", path)
        rows = stored_rows(db, path)
    except sqlite3.Error as exc:
        raise InputError(f"{path} is not a readable results store: {exc}") from None
    finally:
        db.close()
    return with_params(fill_speedup(rows))


def read_results(path) -> list[dict]:
    """Typed rows of a results table: ``.csv``, ``.parquet`` or the ``.sqlite`` store."""
    path = Path(path)
    if not is_file(path):
        raise InputError(f"results file {path} does not exist")
    if path.suffix == ".sqlite":
        return read_store(path)
    if path.suffix == ".parquet":
        return read_parquet(path)
    return read_csv(path)


def set_aside(path) -> Path:
    """Rename ``path`` (with an SQLite store's ``-wal`` and ``-shm`` files) to a free name
    ``<stem>.<date-time>[.N]<suffix>`` beside it, say so in one log line, and return the new path."""
    path = Path(path)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(1000):
        new = path.with_name(f"{path.stem}.{stamp}{f'.{i}' if i else ''}{path.suffix}")
        if not new.exists():
            break
    try:
        for side in ("-wal", "-shm"):
            extra = Path(str(path) + side)
            if extra.exists():
                extra.rename(str(new) + side)
        path.rename(new)
    except OSError as exc:
        from ..io import file_error

        raise file_error(path, exc, "rename") from None
    log.warning("%s was written by another sparsesim version: kept as %s; starting a fresh one", path, new)
    return new
