"""Held-out GPU timings (validation/gpu_2to4_heldout*.csv): they parse, agree with the
transcribed benchmark files they are built from, and hold no calibration-board rows."""

from __future__ import annotations

import csv
import importlib.util
import math
from collections import Counter
from pathlib import Path

import pytest

from sparsesim.validate.measured import COLUMNS, read_measured

ROOT = Path(__file__).resolve().parents[1]
HELDOUT = ROOT / "validation" / "gpu_2to4_heldout.csv"
HELDOUT_FP4 = ROOT / "validation" / "gpu_2to4_heldout_fp4.csv"
BUILDER = ROOT / "validation" / "heldout" / "build.py"
HELDOUT_GPUS = {"H100-PCIe", "RTX4090", "RTX5080", "GB10", "B200"}


def _builder():
    spec = importlib.util.spec_from_file_location("heldout_build", BUILDER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _raw_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def test_heldout_csv_parses_with_the_measured_loader():
    rows = read_measured(HELDOUT)
    assert len(rows) > 1000
    assert {r.gpu for r in rows} == HELDOUT_GPUS
    assert {r.dtype for r in rows} == {"fp16", "bf16", "int8", "fp8"}
    assert all(r.dense_us > 0 and r.sparse_us_effective > 0 for r in rows)
    # rows with both times carry speedup = dense / sparse to the printed precision
    both = [r for r in rows if r.sparse_us is not None]
    assert len(both) > 1000
    for r in both:
        assert r.speedup == pytest.approx(r.dense_us / r.sparse_us, rel=2e-3, abs=1e-3)


def test_heldout_has_no_calibration_board_rows():
    for path in (HELDOUT, HELDOUT_FP4):
        for r in _raw_rows(path):
            assert "A100" not in r["gpu"] and "A100" not in r["notes"], r


def test_no_shape_is_listed_twice_from_one_source():
    rows = read_measured(HELDOUT)
    keys = Counter((r.gpu, r.dtype, r.m, r.n, r.k, r.source) for r in rows)
    assert max(keys.values()) == 1
    # shapes measured by both the algorithm search and the paper's square table are the
    # benchmark's own noise floor; they are marked in the notes on both rows
    twice = Counter((r.gpu, r.dtype, r.m, r.n, r.k) for r in rows)
    marked = [r for r in rows if twice[(r.gpu, r.dtype, r.m, r.n, r.k)] > 1]
    assert marked and all("shape measured again" in r.notes for r in marked)


def test_fp4_file_is_consistent():
    rows = _raw_rows(HELDOUT_FP4)
    assert rows and list(rows[0]) == list(COLUMNS)
    for r in rows:
        assert r["dtype"] == "fp4" and r["gpu"] in HELDOUT_GPUS
        dense = float(r["dense_us"])
        assert dense > 0 and math.isfinite(dense)
        if r["sparse_us"]:
            sparse = float(r["sparse_us"])
            assert sparse > 0
            assert float(r["speedup"]) == pytest.approx(dense / sparse, rel=2e-3, abs=1e-3)
        assert "half the GEMM" in r["notes"]  # the benchmark's packed-K caveat travels with every row


def test_csvs_are_rebuilt_exactly_from_the_transcribed_files():
    # the builder checks every transcribed latency against the throughput printed next to it
    built = _builder().build()
    assert built[HELDOUT] == HELDOUT.read_text()
    assert built[HELDOUT_FP4] == HELDOUT_FP4.read_text()


def test_builder_catches_a_transcription_typo(tmp_path, monkeypatch):
    mod = _builder()
    src = mod.RAW / "cuBLASLt/H100_cc90_py312_cu129_x86_64/BF16/alg_search_Llama3.2-1B-FP8.csv"
    text = src.read_text().replace("64,2048,2048,73.603645,7.294,66", "64,2048,2048,73.603645,7.924,66")
    assert text != src.read_text()
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    _, rows = mod.parse_raw(bad)
    with pytest.raises(SystemExit, match="transcription error"):
        for r in rows:
            mod.best_timing(r, str(bad))
