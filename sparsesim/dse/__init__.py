"""Design-space exploration: sweeps of archs x workloads x patterns x densities.

* :mod:`.sweep` plans the points and drives their evaluation,
* :mod:`.executors` runs them in-process, on a process pool or on Dask,
* :mod:`.store` keeps the rows typed and crash-safe (SQLite, one transaction per row)
  and writes the results table (CSV, Parquet),
* :mod:`.api` is ``sparsesim.sweep(...)``, which returns a pandas DataFrame.
"""

from .executors import ExecutorInfo, SerialExecutor, open_executor
from .store import COLUMNS, SCHEMA, ResultStore, read_results, to_pandas, write_table
from .sweep import (
    DEFAULT_DENSITIES,
    DEFAULT_PATTERNS,
    PatternSpec,
    check_supported,
    Point,
    SweepResult,
    evaluate_chunk,
    fill_speedup,
    load_evaluator,
    make_row,
    parse_densities,
    parse_pattern_list,
    plan_points,
    run_sweep,
    simulate_point,
)

__all__ = [
    "COLUMNS", "SCHEMA", "check_supported", "to_pandas", "DEFAULT_DENSITIES", "DEFAULT_PATTERNS", "ExecutorInfo", "PatternSpec", "Point",
    "ResultStore", "SerialExecutor", "SweepResult", "evaluate_chunk", "fill_speedup",
    "load_evaluator", "make_row", "open_executor", "parse_densities", "parse_pattern_list",
    "plan_points", "read_results", "run_sweep", "simulate_point", "write_table",
]
