"""Fuzzing the input contract of the library API (table: tests/fuzzlib), plus the bugs it found.

Every bad input raises a SparsesimError naming what is wrong; valid input gives the result of
an independent reference.  The long run is ``tools/fuzz.py`` (docs/limits.md).
"""

import time

import numpy as np
import pytest

import fuzzlib  # noqa: F401 - registers the entry points
from fuzzlib.pytest_support import contract, entries
from sparsesim import FormatError, InputError, LimitError, PatternError, SparsesimError

# cheap entry points get more examples; those with a slow reference or a simulation fewer
EXAMPLES = {"timing.simulate": 12, "masks.*": 12, "formats.to_cutlass": 10, "formats.from_cutlass": 10,
            "kernels.spmac": 15, "formats.compress_packed": 15, "formats.prune": 15, "formats.compress": 15,
            "formats.decompress": 15, "io.atomic writes": 15}


@pytest.mark.parametrize("name", entries("api"))
def test_contract(name):
    contract(name, EXAMPLES.get(name, 30))


# ------------------------------------------------------------------ wrong results found
@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint64, np.uint32])
def test_prune_orders_every_integer_magnitude(dtype):
    from sparsesim.formats import compress, prune

    info = np.iinfo(dtype)
    w = np.array([[info.min, 1, 2, 3], [0, info.max, 1, info.max - 1]], dtype=dtype)
    got = prune(w, 2, 4)
    # |min| (2**63 for int64) is the largest magnitude of row 0; unsigned rows keep 2 and 3
    want0 = [info.min, 0, 0, 3] if info.min else [0, 0, 2, 3]
    assert got[0].tolist() == want0
    assert got[1].tolist() == [0, info.max, 0, info.max - 1]
    vals, idx = compress(w, 2, 4)
    assert idx.tolist() == ([[0, 3], [1, 3]] if info.min else [[2, 3], [1, 3]])


def test_big_endian_arrays_give_the_native_result():
    from sparsesim.formats import compress, csr_encode, decompress, prune, to_cutlass
    from sparsesim.kernels import spmac

    rng = np.random.default_rng(0)
    w = rng.standard_normal((32, 64)).astype(np.float16)
    be = w.astype(">f2")
    assert np.array_equal(prune(be, 2, 4), prune(w, 2, 4))
    v, i = compress(be, 2, 4)
    assert np.array_equal(decompress(v.astype(">f2"), i, 2, 4), prune(w, 2, 4))
    assert np.array_equal(to_cutlass(prune(be, 2, 4))[1], to_cutlass(prune(w, 2, 4))[1])
    assert np.array_equal(csr_encode(be).values, csr_encode(w).values)
    b = rng.standard_normal((64, 8)).astype(np.float16)
    assert np.array_equal(spmac(v, i, b.astype(">f2")), spmac(v, i, b))
    assert np.array_equal(prune(np.ones((4, 8), ">i4"), 2, 4), prune(np.ones((4, 8), "<i4"), 2, 4))


def test_set_padding_bits_are_refused():
    from sparsesim.formats import decode_metadata

    assert decode_metadata(np.array([[0x04]], np.uint8), 2, 4, 1, "index").tolist() == [[0, 1]]
    with pytest.raises(FormatError, match="padding bits"):
        decode_metadata(np.array([[0xF4]], np.uint8), 2, 4, 1, "index")
    with pytest.raises(FormatError, match="padding bits"):
        decode_metadata(np.array([[0x06, 0x80]], np.uint8), 2, 4, 3, "combinatorial")


@pytest.mark.parametrize("spec", ["٢:٤", "２:４", "2:٤", "1_6:32", "unstructured:٠.٥", "unstructured:0.2_5", "+2:4"])
def test_pattern_specs_are_ascii(spec):
    from sparsesim.patterns import parse_pattern

    with pytest.raises(PatternError):
        parse_pattern(spec)


@pytest.mark.parametrize("density", [True, "0.3", float("nan"), [0.3]])
def test_density_must_be_a_number(density):
    from sparsesim.patterns import parse_pattern

    with pytest.raises(PatternError):
        parse_pattern("unstructured", density)


@pytest.mark.parametrize("kwargs", [dict(dtype=None), dict(dtype=object), dict(dtype=np.complex64),
                                    dict(dtype=np.bool_), dict(encoding=""), dict(pattern="unstructured:csb", block=-64),
                                    dict(pattern="unstructured:csb", block=3), dict(pattern="unstructured:csb", block=48),
                                    dict(index_bits=True), dict(pad="yes")])
def test_traffic_bytes_refuses_loose_arguments(kwargs):
    from sparsesim.formats import traffic_bytes

    args = {"m": 64, "k": 64, "dtype": "fp16", "pattern": "2:4", "density": None} | kwargs
    if "unstructured" in args["pattern"]:
        args["density"] = 0.5
    with pytest.raises(SparsesimError):
        traffic_bytes(args.pop("m"), args.pop("k"), args.pop("dtype"), args.pop("pattern"),
                      density=args.pop("density"), **args)


def test_csb_blocks_are_checked_where_they_are_used():
    from sparsesim.formats import CSB, csb_encode

    w = np.eye(8, dtype=np.float32)
    for block in (-64, 3, 48, 0, True, 2.0, 2**70):
        with pytest.raises(InputError):
            csb_encode(w, block)
    enc = csb_encode(w, 4)
    with pytest.raises(InputError):
        CSB(enc.shape, 3, enc.values, enc.row_idx, enc.col_idx, enc.block_ptr).decode()


def test_file_errors_are_file_errors(tmp_path):
    from sparsesim import FileError
    from sparsesim.io import save_npy_atomic, write_text_atomic

    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("x")
    for path in (tmp_path / "d", tmp_path / "f" / "x", "/proc/sparsesim-test/x", "", str(tmp_path / "a\0b"),
                 tmp_path / ("x" * 300)):
        with pytest.raises(FileError):
            write_text_atomic(path, "y")
    assert isinstance(FileError("x"), OSError)
    save_npy_atomic(tmp_path / "new" / "a.npy", np.arange(3))
    assert np.load(tmp_path / "new" / "a.npy").tolist() == [0, 1, 2]
    assert not [p for p in (tmp_path / "new").iterdir() if p.suffix == ".tmp"]


# ------------------------------------------------------------------ resource limits
def test_huge_gemm_answers_fast():
    import sparsesim

    from sparsesim.arch import derive, load_arch
    from sparsesim.errors import InputError

    t0 = time.perf_counter()
    with pytest.raises(InputError, match="do not fit the 80 GiB of DRAM"):  # 13 million GiB of operands
        sparsesim.simulate("a100", 2**40, 4096, 4096, "fp16", "2:4")
    # with the capacity lifted the schedule is still evaluated (its cost does not grow with m)
    roomy = derive(load_arch("a100"), {"dram.size_gib": 1e9})
    r = sparsesim.simulate(roomy, 2**40, 4096, 4096, "fp16", "2:4")
    assert time.perf_counter() - t0 < 20  # was: 23 GB and the OOM killer (per-wave arrays)
    assert np.isfinite(r.seconds) and r.waves > 10**9


def test_wave_schedule_repeats_exactly():
    """The periodic evaluation of a long schedule equals the wave-by-wave one."""
    from sparsesim.timing.workload import WaveSchedule

    rng = np.random.default_rng(3)
    for _ in range(200):
        tm, tn = int(rng.integers(1, 300)), int(rng.integers(1, 200))
        args = (int(rng.integers(1, 400)), tm * tn, tm, tn, min(int(rng.choice([1, 2, 3, 8])), tm),
                float(rng.integers(1, 2**30)), float(rng.integers(1, 2**30)), float(rng.choice([1e3, 2e7, 1e12])),
                3.5, 108, 2)
        direct = WaveSchedule(*args)
        periodic = WaveSchedule(*args)
        periodic.DIRECT_WAVES, periodic.CHUNK = 0, 3
        periodic.__init__(*args)
        assert periodic.total_reads() == pytest.approx(direct.total_reads(), rel=1e-12)
        for (w1, c1), (w2, c2) in zip(direct.summary(), periodic.summary()):
            assert (c1, w1.ctas, w1.groups) == (c2, w2.ctas, w2.groups)
            assert w2.dram_read_bytes == pytest.approx(w1.dram_read_bytes, rel=1e-12)


@pytest.mark.parametrize("dims, mode", [((2**41, 64, 64), "statistical"), ((2**30, 2**30, 64), "statistical"),
                                        ((100000, 100000, 1), "exec"), ((65536, 65536, 65536), "full")])
def test_limits_refuse_before_work(dims, mode):
    import sparsesim

    a = b = None
    t0 = time.perf_counter()
    with pytest.raises(LimitError):
        sparsesim.simulate("a100", *dims, "int8", "dense", mode=mode, a=a, b=b)
    assert time.perf_counter() - t0 < 10


def test_limits_can_be_raised():
    import sparsesim
    from sparsesim.timing import Limits

    with pytest.raises(LimitError, match="full"):
        sparsesim.simulate("a100", 4096, 4096, 4096, "fp16", "dense", mode="full", limits=Limits(full_cta_iterations=10))
    with pytest.raises(InputError):
        sparsesim.simulate("a100", 64, 64, 64, "fp16", "dense", limits=Limits(max_dim=2**60))


@pytest.mark.parametrize("bad", [dict(m=0), dict(m=True), dict(m=2.0), dict(mode=""), dict(mode=None),
                                 dict(density=float("nan"), pattern="unstructured"), dict(format="", pattern="unstructured:0.5"),
                                 dict(encoding=""), dict(dtype=None), dict(tile=True)])
def test_simulate_checks_its_arguments(bad):
    import sparsesim

    args = dict(m=64, n=64, k=64, dtype="fp16", pattern="2:4") | bad
    with pytest.raises(SparsesimError):
        sparsesim.simulate("a100", args.pop("m"), args.pop("n"), args.pop("k"), args.pop("dtype"),
                           args.pop("pattern"), **args)
