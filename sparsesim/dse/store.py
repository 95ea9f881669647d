"""The results of a sweep: a typed, crash-safe SQLite store, and the one table writer.

While a sweep runs, every finished point is inserted into an SQLite database
(``<out>.sqlite`` beside the results table) in its own transaction, in WAL mode with
``synchronous=FULL``: when :meth:`ResultStore.append` returns, the row is on disk, and
a crash (even SIGKILL) loses only the points still in flight; SQLite's journal rolls
back a half-written transaction.  Columns are typed (integers, floats, text, booleans;
:data:`SCHEMA`), so rows read back are the values that were written, bit for bit.

When the sweep ends, :func:`write_table` writes the table in plan order with the
speedups filled, by the suffix of the output path: ``.csv`` (plus a ``.parquet`` copy
when pyarrow is installed), ``.parquet``, or ``.sqlite`` (the store itself), each
through a temporary file and an atomic rename, so a reader never sees a half-written
file.  CSV numbers are written with ``repr`` (shortest round-trip form), so reading a
CSV row back also gives the same float bit for bit.

A store that does not exist yet is seeded from an existing results table at the output
path, so a committed table (``reports/default/results.csv``) is resumed like a store.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
from pathlib import Path

from ..cost.energy import ENERGY_UNITS
from ..errors import InputError
from ..io import atomic_path

# Units of the energy breakdown of a simulated GEMM (SimResult.energy_breakdown_j, sparsesim.cost):
# one column ``energy_<unit>_j`` each; they add up to ``energy_j``.
ENERGY_COLUMNS = ("energy_j", *(f"energy_{u}_j" for u in ENERGY_UNITS), "avg_power_w")
# Chip area of the sparse additions (muxes, decoder, metadata staging) and its fraction of the
# dense tensor-core datapath (SimResult.area: chip_sparse_mm2, sparse_fraction).
AREA_COLUMNS = ("sparse_area_mm2", "sparse_area_fraction")

# column -> Python type of its values (None allowed for numbers of a failed point)
SCHEMA = {
    "arch": str, "workload": str, "batch": int, "layer_index": int, "layer": str, "repeat": int,
    "pattern": str, "format": str, "density": float, "dtype": str, "mode": str, "model": str,
    "m": int, "n": int, "k": int, "prunable": bool, "params": str,
    "cycles": float, "seconds": float, "speedup": float, "utilization": float,
    "tensor_utilization": float, "bound": str,
    "dram_a_values": float, "dram_a_metadata": float, "dram_b": float, "dram_c": float,
    "dram_total": float, "clock_mhz": float, "power_w": float,
    **{c: float for c in ENERGY_COLUMNS + AREA_COLUMNS},
    "error": str,
}
COLUMNS = tuple(SCHEMA)
# ``params``: the design parameters varied from the named arch (``sweep --set KEY=VALUES``) as
# canonical JSON, '' for none.  Tables and DataFrames add one typed column per varied key
# (named by the dotted key, e.g. ``dram.bandwidth_gbps``) after COLUMNS: :func:`param_columns`.
# A point: which GEMM of which study.  A row answers it only if it also has the point's
# shape and model fingerprint (see sparsesim.dse.fingerprint); KEY_COLUMNS are both.
POINT_COLUMNS = ("arch", "params", "workload", "batch", "layer", "pattern", "format", "density", "dtype", "mode")
KEY_COLUMNS = POINT_COLUMNS + ("m", "n", "k", "prunable", "model")
INT_COLUMNS = tuple(c for c, t in SCHEMA.items() if t is int)
FLOAT_COLUMNS = tuple(c for c, t in SCHEMA.items() if t is float)
DRAM_KINDS = ("a_values", "a_metadata", "b", "c", "total")
TABLE_SUFFIXES = (".csv", ".parquet", ".sqlite")
_SQL_TYPES = {str: "TEXT", int: "INTEGER", float: "REAL", bool: "INTEGER"}
_SQL_COLUMNS = ", ".join(f'"{c}"' for c in COLUMNS)


def format_value(value) -> str:
    """Text of one CSV cell: '' for None, repr for floats (round-trips exactly)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    return str(value)


# how numbers are written in a table cell (what format_value writes; ASCII digits only)
_CELL = {int: re.compile(r"[+-]?[0-9]{1,30}", re.ASCII),
         float: re.compile(r"[+-]?(?:[0-9]{1,30}(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?|[+-]?(?:nan|inf)",
                           re.ASCII)}
_BOOL_CELLS = {"true": True, "false": False, "1": True, "0": False}


def typed_row(row: dict, where: str = "") -> dict:
    """A row with every column converted to its :data:`SCHEMA` type (text cells parsed:
    numbers in digits 0-9, booleans true/false)."""
    out = {}
    for c, tp in SCHEMA.items():
        v = row.get(c)
        if tp is str:
            out[c] = "" if v is None else str(v)
            continue
        if v is None or v == "":
            out[c] = True if tp is bool else None
            continue
        try:
            if tp is bool:
                out[c] = v if isinstance(v, bool) else _BOOL_CELLS[str(v).lower()]
            elif isinstance(v, str) and not _CELL[tp].fullmatch(v):
                raise ValueError(v)
            elif isinstance(v, bool) or (tp is int and isinstance(v, float)):
                raise TypeError(v)
            else:
                out[c] = tp(v)
        except (KeyError, ValueError, TypeError, OverflowError):
            raise InputError(f"{where}column {c!r}: {v!r:.60} is not {'an' if tp is int else 'a'} "
                             f"{ {int: 'integer', float: 'number', bool: 'true/false'}[tp]}") from None
    return out


def row_key(row) -> tuple:
    """Identity of a (typed) row: the columns a rerun of the same sweep with the same model reproduces."""
    return tuple(row[c] for c in KEY_COLUMNS)


def point_key(row) -> tuple:
    """Identity of the point a row answers, whatever shape and model produced it."""
    return tuple(row[c] for c in POINT_COLUMNS)


def store_path(out) -> Path:
    """The SQLite store that backs the results table ``out``."""
    return Path(out).with_suffix(".sqlite")


def baseline_key(row) -> tuple:
    """The dense run a row's speedup is measured against: same design (arch and varied
    parameters), workload, batch, layer, dtype and timing mode."""
    return (row["arch"], row["params"], row["workload"], row["batch"], row["layer"], row["dtype"], row["mode"])


# ---------------------------------------------------------------- varied parameters
def encode_params(values) -> str:
    """Canonical text of varied design parameters (``{key: value}``; '' when there are none)."""
    values = dict(values or {})
    return json.dumps(values, sort_keys=True, separators=(",", ":")) if values else ""


def decode_params(text) -> dict:
    """``{dotted key: value}`` of a row's ``params`` cell."""
    if not text:
        return {}
    try:
        values = json.loads(text)
    except ValueError:
        values = None
    if not isinstance(values, dict):
        raise InputError(f"column 'params': {text[:80]!r} is not a JSON object of design parameters")
    return values


def param_columns(rows) -> list[str]:
    """The varied keys of ``rows``, sorted: one table column each after :data:`COLUMNS`."""
    keys = set()
    for r in rows:
        keys.update(decode_params(r.get("params")))
    return sorted(keys)


def param_type(values) -> type:
    """Column type of one varied key from its values: bool, int, float (ints and floats mixed)
    or str (anything else)."""
    vals = [v for v in values if v is not None]
    if vals and all(isinstance(v, bool) for v in vals):
        return bool
    if vals and all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        return int
    if vals and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        return float
    return str


def param_table(rows) -> dict:
    """``{key: (type, [value of each row or None])}`` for every varied key of ``rows``."""
    decoded = [decode_params(r.get("params")) for r in rows]
    out = {}
    for key in param_columns(rows):
        vals = [d.get(key) for d in decoded]
        tp = param_type(vals)
        if tp is float:
            vals = [None if v is None else float(v) for v in vals]
        elif tp is str:
            vals = [None if v is None else (v if isinstance(v, str) else json.dumps(v)) for v in vals]
        out[key] = (tp, vals)
    return out


def with_params(rows) -> list:
    """The rows with one key per varied parameter (None where a row does not vary it)."""
    for key, (_, vals) in param_table(rows).items():
        for r, v in zip(rows, vals):
            r[key] = v
    return rows


def fill_speedup(rows) -> list:
    """Set ``speedup = dense seconds / seconds`` from the dense row of the same
    design, workload, batch, layer, dtype and mode (:func:`baseline_key`; None where
    either is missing)."""
    dense = {}
    for r in rows:
        if r["pattern"] == "dense" and not r["error"] and r["seconds"]:
            dense[baseline_key(r)] = r["seconds"]
    for r in rows:
        base = dense.get(baseline_key(r))
        sec = r["seconds"]
        r["speedup"] = base / sec if (base and sec and not r["error"]) else None
    return rows


def read_results(path) -> list[dict]:
    """Typed rows of a results table: ``.csv``, ``.parquet`` or the ``.sqlite`` store
    (:mod:`sparsesim.dse.tables`; a malformed file is an InputError naming it and the line or row)."""
    from .tables import read_results as read

    return read(path)


# ---------------------------------------------------------------- the store
class ResultStore:
    """Typed, crash-safe store of sweep rows in SQLite (``path=None``: in memory)."""

    def __init__(self, path=None):
        self.path = None if path is None else Path(path)
        self._db = None

    def _connect(self):
        from .tables import OtherVersionError, store_columns

        try:
            db = sqlite3.connect(":memory:" if self.path is None else str(self.path), isolation_level=None)
        except sqlite3.Error as exc:
            raise InputError(f"{self.path} cannot be opened as a results store: {exc}") from None
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            cols = ", ".join(f'"{c}" {_SQL_TYPES[t]}' for c, t in SCHEMA.items())
            keys = ", ".join(f'"{c}"' for c in KEY_COLUMNS)
            db.execute(f"CREATE TABLE IF NOT EXISTS results ({cols}, PRIMARY KEY ({keys}))")
            have = store_columns(db)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise InputError(f"{self.path} is not a sparsesim results store: {exc}") from None
        if tuple(have) != COLUMNS:
            db.close()
            raise OtherVersionError(f"{self.path} was written by another sparsesim version (columns "
                                    f"{','.join(have)[:120]!r})", self.path)
        return db

    def open(self, seed=None, create=True) -> dict:
        """Open (creating the database unless ``create`` is false) and return the rows
        already stored, keyed by :func:`row_key`.  A new store takes the rows of the
        results table ``seed`` when that file exists.

        When creating, a store or seed table written by another sparsesim version (other
        columns) is kept aside under a new name (:func:`sparsesim.dse.tables.set_aside`)
        and the sweep starts afresh; nothing is deleted."""
        from ..io import is_file
        from .tables import OtherVersionError, read_results, set_aside, stored_rows

        fresh = self.path is None or not self.path.exists()
        if fresh and not create:
            raise InputError(f"results store {self.path} does not exist")
        seed_rows = []
        if fresh and seed is not None and is_file(seed):
            try:
                seed_rows = read_results(seed)
            except OtherVersionError as exc:
                set_aside(exc.path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._connect()
        except OtherVersionError as exc:
            if not create:
                raise
            set_aside(exc.path)
            return self.open(seed, create)
        try:
            if seed_rows:
                with self._db:
                    self._db.execute("BEGIN")
                    self._db.executemany(self._insert_sql(), [self._values(r) for r in seed_rows])
            return {row_key(r): r for r in stored_rows(self._db, self.path)}
        except sqlite3.DatabaseError as exc:
            self.close()
            raise InputError(f"{self.path} is not a readable results store: {exc}") from None
        except InputError:
            self.close()
            raise

    @staticmethod
    def _insert_sql() -> str:
        return (f"INSERT OR REPLACE INTO results ({_SQL_COLUMNS}) "
                f"VALUES ({', '.join('?' for _ in COLUMNS)})")

    @staticmethod
    def _values(row) -> tuple:
        return tuple(row.get(c) for c in COLUMNS)

    def append(self, row: dict) -> None:
        """Store one row; it is durable when this returns (one committed transaction)."""
        if self._db is None:
            raise RuntimeError("ResultStore.append before open()")
        self._db.execute(self._insert_sql(), self._values(row))

    def remove(self, keys) -> None:
        """Delete the rows with these :func:`row_key` keys (one transaction)."""
        where = " AND ".join(f'"{c}" IS ?' for c in KEY_COLUMNS)
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(f"DELETE FROM results WHERE {where}", [tuple(k) for k in keys])

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- writing tables
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_readable(path) -> None:
    """Give a finished temp file the mode a plain ``open(..., "w")`` would have
    (temp files are created 0600)."""
    os.chmod(path, 0o666 & ~_umask())


def _typed_columns(rows) -> dict:
    """``{column: (type, values)}``: :data:`COLUMNS`, then one column per varied parameter."""
    cols = {c: (t, [r.get(c) for r in rows]) for c, t in SCHEMA.items()}
    cols.update(param_table(rows))
    return cols


def csv_text(rows) -> str:
    cols = _typed_columns(rows)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    w.writerows(zip(*([format_value(v) for v in vals] for _, vals in cols.values())))
    return buf.getvalue()


def arrow_table(rows):
    """The rows as a typed pyarrow Table (int64, float64, bool, string columns)."""
    import pyarrow as pa

    types = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_()}
    return pa.table({c: pa.array(vals, type=types[t]) for c, (t, vals) in _typed_columns(rows).items()})


def to_pandas(rows):
    """Typed rows as a pandas DataFrame: integer, float, boolean and string columns in
    :data:`COLUMNS` order, then one column per varied design parameter (a failed point's
    numbers are NaN / <NA>)."""
    import pandas as pd

    rows = [typed_row(r) for r in rows]
    dtypes = {str: "string", int: "Int64", float: "float64", bool: "boolean"}
    cols = _typed_columns(rows)
    return pd.DataFrame({c: pd.array(vals, dtype=dtypes[t]) for c, (t, vals) in cols.items()},
                        columns=list(cols))


def have_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def check_table_path(path) -> Path:
    """Refuse, before any work, an output whose format cannot be written."""
    path = Path(path)
    if path.suffix not in TABLE_SUFFIXES:
        raise InputError(f"results table {path}: expected a file ending in {', '.join(TABLE_SUFFIXES)}")
    if path.suffix == ".parquet" and not have_pyarrow():
        raise InputError(f"writing {path} needs pyarrow: pip install 'sparsesim[parquet]' (or write a .csv)")
    return path


def write_table(path, rows) -> list[Path]:
    """Write the final table atomically in the format of ``path``'s suffix; a ``.csv`` gets
    a ``.parquet`` copy beside it when pyarrow is installed.  Returns the paths written."""
    path = check_table_path(path)
    rows = [typed_row(r) for r in rows]
    written = []
    if path.suffix == ".sqlite":
        with atomic_path(path) as tmp:
            with ResultStore(tmp) as store:
                store.open()
                with store._db:
                    store._db.execute("BEGIN")
                    store._db.executemany(store._insert_sql(), [store._values(r) for r in rows])
            make_readable(tmp)
        return [path]
    if path.suffix == ".csv":
        with atomic_path(path) as tmp:
            with open(tmp, "w", encoding="utf-8", newline="") as f:
                f.write(csv_text(rows))
                f.flush()
                os.fsync(f.fileno())
            make_readable(tmp)
        written.append(path)
        if not have_pyarrow():
            return written
        path = path.with_suffix(".parquet")
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(arrow_table(rows), tmp)
        make_readable(tmp)
    written.append(path)
    return written
