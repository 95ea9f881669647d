"""Validation of the timing model against measured GPU GEMM timings.

* :mod:`.measured`: the measured-timing CSV format (reader, writer, row type).
* :mod:`.metrics`: per-row errors and MAPE / median-APE summaries for any predictor.
* :mod:`.engine`: the predictor backed by ``sparsesim.simulate``.
* :mod:`.power`: board power limit -> sustained clock of long GEMMs.
* :mod:`.calibrate`: fit a few efficiency/power parameters on one set of rows,
  report the error on another, write a config override.
* :mod:`.report`: tables, plots and the Markdown page.
"""

from .measured import COLUMNS, LARGE_GEMM_MNK, MeasuredRow, format_measured_csv, parse_measured_text, read_measured
from .metrics import Prediction, RowResult, evaluate, summarize

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
    "summarize",
]
