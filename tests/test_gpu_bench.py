"""benchmarks/gpu/bench_gemm.py: clear failure without a GPU, and its pure CSV writer."""

import importlib.util
from pathlib import Path

import pytest

from sparsesim.validate.measured import COLUMNS as MEASURED_COLUMNS
from sparsesim.validate.measured import parse_measured_text

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_gemm", ROOT / "benchmarks" / "gpu" / "bench_gemm.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_no_gpu_exits_nonzero_with_message(bench, monkeypatch, capsys):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rc = bench.main(["--sizes", "1024", "--iters", "2"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "no CUDA GPU available" in err and "must run on an NVIDIA GPU" in err


def test_no_gpu_on_this_machine(bench, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present here")
    assert bench.main(["--sizes", "64"]) == 2
    assert "bench_gemm: error:" in capsys.readouterr().err


def test_bad_arguments_fail_before_touching_the_gpu(bench, capsys):
    assert bench.main(["--sizes", "100"]) == 2
    assert "m % 32 == 0" in capsys.readouterr().err
    assert bench.main(["--sizes", "4096", "--dtypes", "fp64"]) == 2
    assert "fp64" in capsys.readouterr().err
    assert bench.main(["--sizes", "4x4x"]) == 2


def test_csv_writer_is_readable_by_sparsesim(bench):
    rows = [
        bench.make_row("A100", "fp16", 4096, 4096, 4096, 590.0, 326.0, "cuSPARSELt 0.6.2 vs torch.mm", "sm_clock_mhz=1410; power_w=390"),
        bench.make_row("A100", "bf16", 768, 3072, 3072, 76.1, 69.9, "CUTLASS vs torch.mm"),
    ]
    text = bench.format_csv(rows, ["gpu: NVIDIA A100-SXM4-80GB; driver 550.54", "torch 2.3.0; CUDA 12.1"])
    lines = text.splitlines()
    assert lines[0] == "# gpu: NVIDIA A100-SXM4-80GB; driver 550.54"
    assert lines[2] == ",".join(bench.COLUMNS)
    assert tuple(bench.COLUMNS) == tuple(MEASURED_COLUMNS)
    parsed = parse_measured_text(text, "bench.csv")
    assert [(r.gpu, r.dtype, r.m, r.n, r.k) for r in parsed] == [("A100", "fp16", 4096, 4096, 4096), ("A100", "bf16", 768, 3072, 3072)]
    assert parsed[0].speedup == pytest.approx(590.0 / 326.0, rel=1e-3)
    assert parsed[0].notes == "sm_clock_mhz=1410; power_w=390"
    assert parsed[0].line == 4


def test_csv_writer_rejects_incomplete_rows(bench):
    with pytest.raises(bench.BenchError, match="lacks column"):
        bench.format_csv([{"gpu": "A100"}])


def test_pure_helpers(bench, tmp_path):
    assert bench.parse_sizes("4096, 768x3072x3072") == [(4096, 4096, 4096), (768, 3072, 3072)]
    with pytest.raises(bench.BenchError):
        bench.parse_sizes("0")
    assert bench.short_gpu_name("NVIDIA A100-SXM4-80GB") == "A100"
    assert bench.short_gpu_name("NVIDIA H100 80GB HBM3") == "H100"
    assert bench.short_gpu_name("NVIDIA GeForce RTX 4090") == "RTX4090"
    assert bench.median_us([0.5, 0.1, 0.2]) == pytest.approx(200.0)
    bench.check_shape(4096, 8, 4096, "fp16")
    with pytest.raises(bench.BenchError, match="k % 64"):
        bench.check_shape(4096, 4096, 96, "fp16")
    out = tmp_path / "sub" / "x.csv"
    bench.write_atomic(str(out), "hello\n")
    assert out.read_text() == "hello\n" and not list(out.parent.glob(".bench_gemm.*"))


class _FakeEvent:
    def __init__(self, enable_timing=True):
        self.t = None

    def record(self):
        import time

        self.t = time.perf_counter()

    def elapsed_time(self, end):
        return (end.t - self.t) * 1000.0


def _fake_torch(monkeypatch, backend_of=lambda forced: "cutlass" if forced else "cusparselt"):
    """CPU torch dressed up as a CUDA device: enough to run bench_shape's logic without a GPU.

    Device arguments are dropped; the sparse library calls compute the dense product of the
    kept values, so the results agree with the dense reference as the real kernels' do."""
    import types

    torch = pytest.importorskip("torch")
    from torch.sparse import SparseSemiStructuredTensor

    class FakeSparse:
        def __init__(self, dense, backend):
            self.dense = dense
            self.BACKEND = backend

    def to_sparse(a):
        return FakeSparse(a.clone(), backend_of(SparseSemiStructuredTensor._FORCE_CUTLASS))

    monkeypatch.setattr(torch.sparse, "to_sparse_semi_structured", to_sparse)

    def product(x, y, out_dtype):
        if x.dtype == torch.int8:
            return (x.to(torch.int32) @ y.to(torch.int32)).to(out_dtype or torch.int8)
        return (x.float() @ y.float()).to(out_dtype or x.dtype)

    def mm(x, y):
        x = x.dense if isinstance(x, FakeSparse) else x
        return product(x, y, torch.int32 if x.dtype == torch.int8 else None)

    def no_device(fn):
        return lambda *a, device=None, **kw: fn(*a, **kw)

    calls = []
    fake = types.SimpleNamespace(
        **{name: getattr(torch, name) for name in ("float16", "bfloat16", "float32", "float8_e4m3fn", "int8",
                                                     "int32", "bool", "where", "equal")},
        Generator=lambda device=None: torch.Generator(),
        randn=no_device(torch.randn), randint=no_device(torch.randint), tensor=no_device(torch.tensor),
        zeros=no_device(torch.zeros), ones=no_device(torch.ones),
        mm=mm,
        _int_mm=lambda x, y: product(x, y, torch.int32),
        _scaled_mm=lambda x, y, scale_a, scale_b, out_dtype: product(x, y, out_dtype),
        _cslt_compress=lambda a: FakeSparse(a.clone(), "cusparselt"),
        _cslt_sparse_mm=lambda c, y, alg_id=0, out_dtype=None: (calls.append(alg_id), product(c.dense, y, out_dtype))[1],
        _cslt_sparse_mm_search=lambda c, y, out_dtype=None: 3,
        cuda=types.SimpleNamespace(Event=_FakeEvent, synchronize=lambda: None, clock_rate=lambda: 1234,
                                   power_draw=lambda: 321000),
        backends=types.SimpleNamespace(cusparselt=types.SimpleNamespace(is_available=lambda: True)),
        alg_calls=calls,
    )
    return fake


ENV = {"torch": "2.x", "cusparselt": "0.6.0", "cuda": "12.4", "gpu_name": "NVIDIA A100-SXM4-80GB"}


def test_bench_shape_logic_with_a_cpu_stand_in(bench, monkeypatch):
    fake = _fake_torch(monkeypatch)
    rows = bench.bench_shape(fake, 64, 64, 128, "bf16", ["cusparselt", "cutlass"], 1, 3, 0.0, "A100", ENV)
    assert [r["backend"] for r in rows] == ["cuSPARSELt 0.6.0 default algorithm vs torch.mm", "CUTLASS vs torch.mm"]
    assert "dense under load: sm_clock_mhz=1234 power_w=321" in rows[0]["notes"]
    assert "2:4 under load: sm_clock_mhz=1234" in rows[0]["notes"]
    assert all("check=rel max err" in r["notes"] and "TOO LARGE" not in r["notes"] for r in rows)
    parsed = parse_measured_text(bench.format_csv(rows), "b.csv")
    assert [(r.m, r.n, r.k, r.dtype) for r in parsed] == [(64, 64, 128, "bf16")] * 2
    assert all(r.dense_us > 0 and r.sparse_us > 0 for r in parsed)


def test_bench_shape_int8_and_fp8_with_algorithm_search(bench, monkeypatch):
    fake = _fake_torch(monkeypatch)
    rows = bench.bench_shape(fake, 64, 64, 256, "int8", ["cusparselt-search", "cutlass"], 0, 2, 0.0, "H200", ENV)
    assert [r["backend"] for r in rows] == [
        "cuSPARSELt 0.6.0 best of algorithm search vs torch._int_mm (B column-major, int32 out)",
        "CUTLASS vs torch._int_mm (B column-major, int32 out)"]
    assert "sparse=torch._cslt_sparse_mm, B column-major, int32 out" in rows[0]["notes"]  # TN first for 8-bit
    # the stand-in has no CUDA graphs: the rows say they were timed eagerly
    assert all("2:4 timing=eager (graph capture failed" in r["notes"] for r in rows)
    assert "alg_id=3" in rows[0]["notes"]
    assert fake.alg_calls[0] == 0 and set(fake.alg_calls[1:]) == {3}  # a probe, then only the searched algorithm
    assert all("check=exact" in r["notes"] for r in rows)
    rows = bench.bench_shape(fake, 64, 64, 256, "fp8", ["cusparselt", "cutlass"], 0, 2, 0.0, "H200", ENV)
    assert [r["backend"] for r in rows] == ["cuSPARSELt 0.6.0 default algorithm vs torch._scaled_mm (bf16 out)"]


def test_bench_shape_skips_a_backend_torch_did_not_use(bench, monkeypatch, capsys):
    fake = _fake_torch(monkeypatch, backend_of=lambda forced: "cusparselt")  # CUTLASS not forced behind the scenes
    rows = bench.bench_shape(fake, 64, 64, 128, "bf16", ["cusparselt", "cutlass"], 0, 2, 0.0, "A100", ENV)
    assert [r["backend"] for r in rows] == ["cuSPARSELt 0.6.0 default algorithm vs torch.mm"]
    assert "torch chose the cusparselt backend instead" in capsys.readouterr().err
