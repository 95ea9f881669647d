"""Error metrics over a predictor."""


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
    assert s["A100/bf16"]["rows"] == 1 and "A100/fp16 large" in s
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
