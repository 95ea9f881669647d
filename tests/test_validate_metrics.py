"""Error metrics over a predictor: MAPE, correlation, groups by GPU/dtype/family, the noise floor."""

import math

import pytest

from sparsesim.errors import InputError
from sparsesim.validate.measured import parse_measured_text
from sparsesim.validate.metrics import Prediction, error_stats, evaluate, summarize

CSV = """gpu,dtype,m,n,k,sparse_operand,dense_us,sparse_us,speedup,backend,source,notes
A100,fp16,512,512,512,W,10,8,,cuSPARSELt,S,
A100,fp16,4096,4096,4096,W,600,300,,cuSPARSELt,S,
A100,fp16,768,3072,3072,W,76,50,,cuSPARSELt,T,
A100,fp16,768,3072,3072,W,76,70,,CUTLASS,T,
A100,bf16,8192,8192,8192,W,4800,,1.5,cuSPARSELt,U,
"""


@pytest.fixture
def rows():
    return parse_measured_text(CSV, "t.csv")


def test_exact_predictor_has_zero_error(rows):
    res = evaluate(rows, lambda r: (r.dense_us, r.sparse_us_effective))
    s = summarize(res)
    for g in s.values():
        for what in ("dense", "sparse", "speedup"):
            assert g[what]["n"] == 0 or g[what]["mape"] == pytest.approx(0.0, abs=1e-9)


def test_known_errors_and_groups(rows):
    # dense +10 %, sparse -20 % -> speedup 1.1/0.8 - 1 = +37.5 %
    res = evaluate(rows, lambda r: Prediction(1.1 * r.dense_us, 0.8 * r.sparse_us_effective))
    assert res[0].err_dense_pct == pytest.approx(10.0)
    assert res[0].err_sparse_pct == pytest.approx(-20.0)
    assert res[0].err_speedup_pct == pytest.approx(37.5)
    assert res[4].err_sparse_pct is None  # speedup-only row
    s = summarize(res)
    assert s["all"]["rows"] == 5
    # the two T rows share one dense measurement: 4 distinct dense times
    assert s["all"]["dense"]["n"] == 4
    assert s["all"]["sparse"]["n"] == 4
    assert s["all"]["speedup"]["mape"] == pytest.approx(37.5)
    large = next(k for k in s if k.startswith("large"))
    assert s[large]["rows"] == 4  # 512^3 is below 2^30
    assert s["A100/bf16"]["rows"] == 1 and "A100/fp16 large" in s and "A100 large" in s
    assert "backend=CUTLASS large" in s


def test_median_differs_from_mean():
    st = error_stats([1.0, -2.0, 30.0])
    assert st["mape"] == pytest.approx(11.0) and st["mdape"] == pytest.approx(2.0) and st["max_ape"] == 30.0
    assert error_stats([None])["n"] == 0


def test_bad_predictor_output(rows):
    with pytest.raises(InputError, match="positive finite"):
        evaluate(rows, lambda r: (r.dense_us, -1.0))
    with pytest.raises(InputError, match="expected a Prediction"):
        evaluate(rows, lambda r: 3.0)


def test_correlation_and_families(rows):
    from sparsesim.validate.metrics import correlation

    assert correlation([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert correlation([1, 2], [1, 2]) is None and correlation([1, 1, 1], [1, 2, 3]) is None
    res = evaluate(rows, lambda r: Prediction(r.dense_us, r.sparse_us_effective * (1 + 0.01 * r.line)))
    s = summarize(res)
    assert s["A100 large"]["speedup_corr"] is not None
    assert "A100/fp16/square large" in s and "A100/fp16/other large" in s
    assert rows[1].family == "square" and rows[2].family == "other"


def test_families_and_flags_from_notes():
    text = CSV.splitlines()[0] + "\nH100,bf16,4096,4096,4096,W,300,,1.5,cuSPARSELt,S,family=Qwen; layer=qkv; SUSPICIOUS: slow\n"
    (r,) = parse_measured_text(text, "n.csv")
    assert r.family == "Qwen" and r.flagged
    res = evaluate([r], lambda x: (x.dense_us, x.sparse_us_effective))
    s = summarize(res)
    assert s["H100 large"]["rows"] == 1 and "H100 large unflagged" not in s  # empty groups are left out


def test_noise_floor_from_repeated_shapes():
    from sparsesim.validate.metrics import noise_floor

    text = CSV.splitlines()[0] + """
A100,fp16,4096,4096,4096,W,600,300,,cuSPARSELt,S,
A100x,fp16,4096,4096,4096,W,660,300,,cuSPARSELt,S2,
A100,fp16,1024,1024,1024,W,20,10,,cuSPARSELt,S,
A100,int8,1024,1024,1024,W,20,10,,cuSPARSELt,S,
"""
    rows = parse_measured_text(text, "n.csv")
    board = {"A100": "a100-pcie", "A100X": "a100-pcie"}
    nf = noise_floor(rows, lambda g: board[g.upper()])
    d = nf["a100-pcie"]
    assert d["shapes"] == 1  # 4096^3 fp16 twice; the other two differ in shape or dtype
    # speedups 2.0 and 2.2: |a - b| / mean = 0.2 / 2.1
    assert d["speedup_pct"] == pytest.approx(100 * 0.2 / 2.1)
    assert d["dense_pct"] == pytest.approx(100 * 60 / 630)
    assert noise_floor(rows) == {}  # by GPU name alone nothing repeats
