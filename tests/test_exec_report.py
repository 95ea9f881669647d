"""The exec-mode report pipeline on a tiny synthetic BERT encoder (no model package needed)."""

from __future__ import annotations

import numpy as np
import pytest

from sparsesim.cli import main
from sparsesim.report import exec_render, exec_study
from test_quant_accuracy import VOCAB, _tiny_model


def _model():
    t = _tiny_model(hidden=48, inter=96)
    return t, VOCAB


def test_study_rows_tables_and_figures(tmp_path):
    t, vocab = _model()
    cfgs = [("fp16", "dense", None, None), ("fp16", "2:4", None, None), ("fp16", "unstructured", 0.1, "csr"),
            ("int8", "unstructured", 0.3, "bitmask")]
    rows = exec_study.study(t, vocab, gpu_cfgs=cfgs, cpu_archs=("xeon-8280",), heads=12)
    assert len(rows) == 6 * (len(cfgs) + 2)  # six linear layers
    by = {(r["arch"], r["dtype"], r["pattern"], r["linear"]): r for r in rows}
    dense = by[("a100", "fp16", "dense", "ffn_up")]
    assert dense["rel_err"] < 1e-3 and dense["prune_rel_err"] < 1e-12  # fp16 rounding only
    sparse = by[("a100", "fp16", "2:4", "ffn_up")]
    assert sparse["rel_err"] == pytest.approx(sparse["prune_rel_err"], rel=0.02)  # pruning dominates
    assert all(r["a_bytes_exec"] == r["a_bytes_stat"] for r in rows if r["dtype"] == "fp16")
    assert by[("xeon-8280", "int8", "2:4", "q")]["exec_us"] == by[("xeon-8280", "int8", "2:4", "q")]["stat_us"]
    occ = exec_study.occupancy(t, densities=(0.1, 0.05), layers=[0])
    assert len(occ) == 12 and all(o["passes_model"] > 0 for o in occ)
    timing = [{"layer": "encoder.layer.0.intermediate.dense", "gemm": "96x17x48", "dtype": "fp16",
               "pattern": "dense", "density": "", "format": "", "exec_s": 0.5, "stat_s": 0.002, "ratio": 250.0,
               "tile_search_s": 0.3, "run_s": 0.2, "items": 10, "candidates": 2}]
    paths = exec_render.write_report(rows, occ, timing, tmp_path, "sparsesim exec-report --out X", {"tokens": 17})
    text = paths["report"].read_text()
    for heading in ("The finding", "Traffic and work", "Why: the occupancy", "Output error", "CPUs", "What an exec"):
        assert heading in text
    assert (tmp_path / "occupancy.png").stat().st_size > 0 and (tmp_path / "error.png").stat().st_size > 0
    # re-rendered from the files alone, the report is the same
    again = exec_render.read_back(tmp_path)
    exec_render.write_report(*again[:3], tmp_path / "again", "sparsesim exec-report --out X", again[3])
    assert (tmp_path / "again" / "report.md").read_text() == text


def test_exec_report_refuses_bad_arguments(tmp_path, capsys):
    assert main(["exec-report", "--out", str(tmp_path), "--render-only"]) == 2
    assert "missing" in capsys.readouterr().err
    assert main(["exec-report", "--out", str(tmp_path), "--layers", "x"]) == 2
    assert "--layers" in capsys.readouterr().err
