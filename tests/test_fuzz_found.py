"""Regression tests for what the long fuzz run (tools/fuzz.py) found once every entry point was
in scope; each is checked against a value worked out here, not against the code under test."""

from __future__ import annotations

import shutil
from math import ceil
from pathlib import Path

import numpy as np
import pytest

import sparsesim
from sparsesim.errors import ConfigError, InputError, PatternError, SparsesimError

DATA = Path(__file__).resolve().parent / "fuzzlib" / "data"


@pytest.mark.parametrize("arch,m,k,dtype", [("h100", 64, 100, "fp16"), ("a100", 10354, 1, "int8"),
                                            ("h100", 16064, 16953, "int8"), ("a100", 100, 867, "bf16")])
def test_metadata_rows_start_on_a_byte(arch, m, k, dtype):
    # 2:4 index metadata: 2 bits per kept value, 2 kept per group of 4, K padded to the group;
    # every row of metadata starts on a byte (as the CUTLASS tensors and traffic_bytes store it)
    groups = ceil(k / 4)
    want = m * ceil(groups * 2 * 2 / 8)
    r = sparsesim.simulate(arch, m, 4096, k, dtype, "2:4")
    assert r.compulsory_bytes["a_metadata"] == want


@pytest.mark.parametrize("overrides", [{"sm.count": 12, "sm": {"count": 12}},
                                       {"sm.count.x": 1, "sm": {"count": 12}}])
def test_derive_refuses_a_key_given_twice(overrides):
    from sparsesim.arch import derive

    with pytest.raises(ConfigError, match="key .sm.count.* is given twice"):
        derive("a100", overrides)


def test_derive_merges_tables_given_twice():
    from sparsesim.arch import derive

    a = derive("a100", {"sm.count": 12, "sm": {"shared_memory_kib": 100}})
    assert (a.sm.count, a.sm.shared_memory_kib) == (12, 100)


@pytest.mark.parametrize("patterns", [None, 5, b"dense", [2, 4]])
def test_sweep_patterns_that_are_not_specs(tmp_path, patterns):
    from sparsesim.dse.plan import parse_pattern_list

    with pytest.raises(PatternError):
        parse_pattern_list(patterns)
    gemms = tmp_path / "g.csv"
    gemms.write_text("m,n,k\n64,64,64\n")
    with pytest.raises(SparsesimError):
        sparsesim.sweep("a100", gemms, patterns, as_frame=False)


@pytest.mark.parametrize("w", [2.5, np.ones((8, 8), dtype=bool)])
def test_kept_fraction_takes_arrays_of_numbers(w):
    from sparsesim.masks import kept_fraction

    with pytest.raises(InputError):
        kept_fraction(w, np.ones_like(w, dtype=bool) if isinstance(w, np.ndarray) else 1)
    assert kept_fraction(np.array([[3.0, -1.0]]), np.array([[True, False]])) == 0.75


def test_mask_study_checks_every_layer_before_the_first_runs():
    from sparsesim.masks import report

    good = np.random.default_rng(0).standard_normal((16, 32)).astype(np.float32)
    bad = good.copy()
    bad[3, 5] = np.nan
    called = []
    with pytest.raises(InputError, match="'b.weight'.*NaN"):
        report.study({"a.weight": good, "b.weight": bad}, max_sweeps=1, progress=lambda *a: called.append(a))
    assert not called


def test_exec_report_text_columns_stay_text(tmp_path, capsys):
    from sparsesim.cli import main

    out = tmp_path / "r"
    shutil.copytree(DATA / "exec_report", out)
    lines = (out / "timing.csv").read_text().splitlines()
    cells = lines[1].split(",")
    cells[0] = "1.5"  # a layer named like a number
    lines[1] = ",".join(cells)
    (out / "timing.csv").write_text("\n".join(lines) + "\n")
    assert main(["exec-report", "--out", str(out), "--render-only", "-q"]) == 0
    assert "| 1.5 (" in (out / "report.md").read_text()
