"""Design-space exploration: sweeps of archs x workloads x patterns x densities.

* :mod:`.plan` plans the points (archs, or designs derived by :mod:`.grid` from ``--set``
  parameter grids, x workloads x patterns x densities),
* :mod:`.sweep` drives their evaluation,
* :mod:`.executors` runs them in-process, on a process pool or on Dask,
* :mod:`.store` keeps the rows typed and crash-safe (SQLite, one transaction per row)
  and writes the results table (CSV, Parquet),
* :mod:`.pareto` finds the non-dominated designs,
* :mod:`.api` is ``sparsesim.sweep(...)``, which returns a pandas DataFrame.
"""

from .executors import ExecutorInfo, SerialExecutor, open_executor
from .store import COLUMNS, SCHEMA, ResultStore, read_results, to_pandas, write_table
from .pareto import pareto_front
from .plan import DEFAULT_DENSITIES, DEFAULT_PATTERNS, PatternSpec, Point, parse_densities, parse_pattern_list, plan_points
from .sweep import (
    SweepResult,
    check_supported,
    evaluate_chunk,
    fill_speedup,
    load_evaluator,
    make_row,
    point_arch,
    run_sweep,
    simulate_point,
)

__all__ = [
    "COLUMNS", "SCHEMA", "check_supported", "to_pandas", "DEFAULT_DENSITIES", "DEFAULT_PATTERNS", "ExecutorInfo", "PatternSpec", "Point",
    "ResultStore", "SerialExecutor", "SweepResult", "evaluate_chunk", "fill_speedup",
    "load_evaluator", "make_row", "open_executor", "parse_densities", "parse_pattern_list",
    "pareto_front", "plan_points", "point_arch", "read_results", "run_sweep", "simulate_point", "write_table",
]
