"""Fuzzing the input contract: one table of entry points with their input generators and
independent references (see :mod:`.core`), shared by ``tests/test_fuzz_*.py`` and
``tools/fuzz.py``.  Importing the package registers every entry point."""

from . import (api_formats, api_kernels, api_layouts, api_masks_io, api_timing, api_workloads, cli, cli_files,  # noqa: F401
               cli_sweep, cli_validate,
               config)
from .core import BAD, ENTRIES, OUTCOMES, Case, Entry, Outcome, case_rng, make_case, pick_entry, run_case

__all__ = ["BAD", "ENTRIES", "OUTCOMES", "Case", "Entry", "Outcome", "case_rng", "make_case", "pick_entry",
           "run_case"]
