"""Validation of the timing model against measured GPU GEMM timings.

* :mod:`.measured`: the measured-timing CSV format (reader, writer, row type).
* :mod:`.metrics`: per-row errors and MAPE / median-APE summaries for any predictor.
* :mod:`.engine`: the predictor backed by ``sparsesim.simulate``.
* :mod:`.calibrate`: fit the few efficiency parameters on one GPU's rows with k-fold
  cross-validation, write a config override.
* :mod:`.report`: tables, plots and the Markdown page.
"""

from .measured import COLUMNS, LARGE_GEMM_MNK, MeasuredRow, format_measured_csv, parse_measured_text, read_measured
from .metrics import Prediction, RowResult, correlation, evaluate, noise_floor, summarize

__all__ = [
    "COLUMNS",
    "LARGE_GEMM_MNK",
    "MeasuredRow",
    "format_measured_csv",
    "parse_measured_text",
    "read_measured",
    "Prediction",
    "RowResult",
    "evaluate",
    "correlation",
    "noise_floor",
    "summarize",
]
