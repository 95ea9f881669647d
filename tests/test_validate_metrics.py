"""Error metrics over a predictor, and the power-limit clock model."""

import math

import pytest

from sparsesim.errors import InputError
from sparsesim.validate.measured import parse_measured_text
from sparsesim.validate.metrics import Prediction, error_stats, evaluate, summarize
from sparsesim.validate.power import PowerLimit, mean_clock_for_work, mean_clock_ghz, steady_clock_ghz

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


LIMIT = PowerLimit(power_limit_w=400.0, static_w=100.0, boost_clock_ghz=1.41, window_s=0.005)


def test_steady_clock_power_balance():
    assert steady_clock_ghz(LIMIT, 250.0) == pytest.approx(1.41)  # fits under the limit
    f = steady_clock_ghz(LIMIT, 600.0)
    # power at that clock equals the limit
    assert 100.0 + 600.0 * (f / 1.41) ** 3 == pytest.approx(400.0)
    assert f == pytest.approx(1.41 * 0.5 ** (1 / 3))
    assert steady_clock_ghz(LIMIT, 1200.0) < f


def test_mean_clock_relaxes_from_boost_to_steady():
    fss = steady_clock_ghz(LIMIT, 600.0)
    ts = [1e-7, 1e-4, 1e-3, 5e-3, 5e-2, 1.0, 100.0]
    fs = [mean_clock_ghz(LIMIT, 600.0, t) for t in ts]
    assert fs[0] == pytest.approx(1.41, rel=1e-4)
    assert fs[-1] == pytest.approx(fss, rel=1e-3)
    assert all(a >= b for a, b in zip(fs, fs[1:]))
    # closed form at T = window: fss + (f0 - fss) * (1 - e^-1)
    assert mean_clock_ghz(LIMIT, 600.0, 0.005) == pytest.approx(fss + (1.41 - fss) * (1 - math.exp(-1)))


def test_mean_clock_for_work_is_a_fixed_point():
    w = 0.01  # 10 ms of work at boost
    f = mean_clock_for_work(LIMIT, 800.0, w)
    t = w * 1.41 / f
    assert mean_clock_ghz(LIMIT, 800.0, t) == pytest.approx(f, rel=1e-6)
    assert steady_clock_ghz(LIMIT, 800.0) < f < 1.41


def test_power_limit_validation():
    with pytest.raises(InputError, match="static_w"):
        PowerLimit(power_limit_w=400.0, static_w=450.0, boost_clock_ghz=1.41, window_s=0.01)
    with pytest.raises(InputError, match="window_s"):
        PowerLimit(power_limit_w=400.0, static_w=50.0, boost_clock_ghz=1.41, window_s=0.0)
    with pytest.raises(InputError, match="duration_s"):
        mean_clock_ghz(LIMIT, 100.0, -1.0)
