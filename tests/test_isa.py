"""AVX-512BW / AVX512_VNNI emulation: bit equality with the real instructions.

The emulators are checked three ways: against the instructions executed on this
CPU through a C helper compiled at test time (10^5 random registers per
instruction plus the edge cases), against a numpy transcription of the SDM
pseudo-code, and against hand-computed SDM examples.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent / "native"))
import native_build  # noqa: E402

from sparsesim.errors import InputError, SparsesimError  # noqa: E402
from sparsesim.isa import vpaddd, vpdpbusd, vpdpbusds, vpmaddubsw, vpmaddwd  # noqa: E402
from sparsesim.isa import reference as ref  # noqa: E402

N_RANDOM = 100_000
I32_MIN, I32_MAX = np.iinfo(np.int32).min, np.iinfo(np.int32).max


@pytest.fixture(scope="module")
def isa_exe(tmp_path_factory):
    exe = native_build.build("isa_ops.c", tmp_path_factory.mktemp("isa_native"))
    if isinstance(exe, str):
        pytest.skip(exe)
    return exe


# ---------------------------------------------------------------- inputs
def _bytes_edge(lanes: int):
    """Edge-case register pairs (u8, s8): extremes, alternating signs, zeros."""
    u_pats = [
        np.full(lanes, 255), np.zeros(lanes), np.full(lanes, 128), np.full(lanes, 127), np.full(lanes, 1),
        np.tile([255, 0], lanes // 2), np.tile([0, 255], lanes // 2), np.tile([255, 255, 0, 0], lanes // 4),
    ]
    s_pats = [
        np.full(lanes, 127), np.full(lanes, -128), np.full(lanes, -127), np.full(lanes, -1), np.zeros(lanes),
        np.tile([127, -128], lanes // 2), np.tile([-128, 127], lanes // 2), np.tile([127, 127, -128, -128], lanes // 4),
        np.tile([-128, -128, 127, 127], lanes // 4),
    ]
    a = np.array([u for u in u_pats for _ in s_pats], dtype=np.uint8)
    b = np.array([s for _ in u_pats for s in s_pats], dtype=np.int8)
    return a, b


ACC_EDGES = [I32_MAX, I32_MIN, 0, -1, 1, I32_MAX - 1, I32_MIN + 1, I32_MAX - 130_000, I32_MIN + 130_000]


def _random_bytes(rng, n, lanes):
    """Uniform bytes, plus a quarter of registers drawn only from extremes so that
    saturation and wrap cases are frequent."""
    a = rng.integers(0, 256, size=(n, lanes), dtype=np.uint8)
    b = rng.integers(-128, 128, size=(n, lanes), dtype=np.int8)
    q = n // 4
    a[:q] = rng.choice(np.array([0, 1, 127, 128, 254, 255], dtype=np.uint8), size=(q, lanes))
    b[:q] = rng.choice(np.array([-128, -127, -1, 0, 1, 126, 127], dtype=np.int8), size=(q, lanes))
    return a, b


def _random_acc(rng, n, lanes):
    acc = rng.integers(I32_MIN, I32_MAX, size=(n, lanes), dtype=np.int32, endpoint=True)
    q = n // 4
    acc[:q] = rng.choice(np.array(ACC_EDGES, dtype=np.int32), size=(q, lanes))
    return acc


def _random_words(rng, n, lanes):
    a = rng.integers(-32768, 32768, size=(n, lanes), dtype=np.int16)
    q = n // 4
    a[:q] = rng.choice(np.array([-32768, -32767, -1, 0, 1, 32767], dtype=np.int16), size=(q, lanes))
    return a


# ---------------------------------------------------------------- hardware
@pytest.mark.parametrize("bits", [512, 256])
def test_vpmaddubsw_matches_cpu(isa_exe, tmp_path, bits):
    rng = np.random.default_rng(1)
    lanes = bits // 8
    n = N_RANDOM if bits == 512 else N_RANDOM // 4
    a, b = _random_bytes(rng, n, lanes)
    ea, eb = _bytes_edge(lanes)
    a, b = np.concatenate([ea, a]), np.concatenate([eb, b])
    hw = native_build.run_isa_op(isa_exe, tmp_path, "maddubs", bits, a, b, out_dtype=np.int16)
    emu = vpmaddubsw(a, b)
    assert emu.dtype == np.int16 and emu.shape == (a.shape[0], lanes // 2)
    np.testing.assert_array_equal(emu, hw)
    # the saturation really happened in this data set (so the test can fail)
    assert (hw == 32767).any() and (hw == -32768).any()


@pytest.mark.parametrize("bits", [512, 256])
def test_vpmaddwd_matches_cpu(isa_exe, tmp_path, bits):
    rng = np.random.default_rng(2)
    lanes = bits // 16
    n = N_RANDOM if bits == 512 else N_RANDOM // 4
    a, b = _random_words(rng, n, lanes), _random_words(rng, n, lanes)
    edge = np.array([-32768, 32767, -1, 0], dtype=np.int16)
    ea = np.array([np.full(lanes, x) for x in edge for _ in edge], dtype=np.int16)
    eb = np.array([np.full(lanes, y) for _ in edge for y in edge], dtype=np.int16)
    a, b = np.concatenate([ea, a]), np.concatenate([eb, b])
    hw = native_build.run_isa_op(isa_exe, tmp_path, "madd", bits, a, b, out_dtype=np.int32)
    np.testing.assert_array_equal(vpmaddwd(a, b), hw)
    assert hw[0, 0] == I32_MIN  # 0x8000*0x8000 twice wraps (first edge register)


@pytest.mark.parametrize("bits", [512, 256])
def test_vpaddd_matches_cpu(isa_exe, tmp_path, bits):
    rng = np.random.default_rng(3)
    lanes = bits // 32
    n = N_RANDOM if bits == 512 else N_RANDOM // 4
    a, b = _random_acc(rng, n, lanes), _random_acc(rng, n, lanes)
    hw = native_build.run_isa_op(isa_exe, tmp_path, "add", bits, a, b, out_dtype=np.int32)
    np.testing.assert_array_equal(vpaddd(a, b), hw)


@pytest.mark.parametrize("op", ["dpbusd", "dpbusds"])
@pytest.mark.parametrize("bits", [512, 256])
def test_vnni_matches_cpu(isa_exe, tmp_path, op, bits):
    rng = np.random.default_rng(4 if op == "dpbusd" else 5)
    lanes = bits // 8
    n = N_RANDOM if bits == 512 else N_RANDOM // 4
    a, b = _random_bytes(rng, n, lanes)
    acc = _random_acc(rng, n, lanes // 4)
    ea, eb = _bytes_edge(lanes)
    # every edge byte pattern against every edge accumulator
    ea = np.repeat(ea, len(ACC_EDGES), axis=0)
    eb = np.repeat(eb, len(ACC_EDGES), axis=0)
    eacc = np.tile(np.array(ACC_EDGES, dtype=np.int32)[:, None], (ea.shape[0] // len(ACC_EDGES), lanes // 4))
    a, b, acc = np.concatenate([ea, a]), np.concatenate([eb, b]), np.concatenate([eacc, acc])
    hw = native_build.run_isa_op(isa_exe, tmp_path, op, bits, acc, a, b, out_dtype=np.int32)
    fn = vpdpbusd if op == "dpbusd" else vpdpbusds
    emu = fn(acc, a, b)
    np.testing.assert_array_equal(emu, hw)
    # the data set exercises the wrap / saturate distinction
    exact = acc.astype(np.int64) + (a.astype(np.int64) * b).reshape(len(a), -1, 4).sum(-1)
    out_of_range = (exact > I32_MAX) | (exact < I32_MIN)
    assert out_of_range.sum() > 100
    if op == "dpbusds":
        assert set(np.unique(hw[out_of_range])) <= {I32_MIN, I32_MAX}
    else:
        assert not set(np.unique(hw[out_of_range])) <= {I32_MIN, I32_MAX}


# ---------------------------------------------------------------- SDM examples
def test_sdm_examples():
    a = np.full(64, 255, np.uint8)
    assert (vpmaddubsw(a, np.full(64, 127, np.int8)) == 32767).all()      # 64770 saturates
    assert (vpmaddubsw(a, np.full(64, -128, np.int8)) == -32768).all()    # -65280 saturates
    alt = np.tile(np.array([127, -128], np.int8), 32)
    assert (vpmaddubsw(a, alt) == 255 * 127 - 255 * 128).all()            # no saturation
    w = np.full(32, -32768, np.int16)
    assert (vpmaddwd(w, w) == I32_MIN).all()                              # 2**31 wraps
    acc = np.full(16, I32_MAX, np.int32)
    one = np.zeros(64, np.uint8)
    one[::4] = 1
    s1 = np.zeros(64, np.int8)
    s1[::4] = 1
    assert (vpdpbusd(acc, one, s1) == I32_MIN).all()
    assert (vpdpbusds(acc, one, s1) == I32_MAX).all()
    assert (vpaddd(acc, np.ones(16, np.int32)) == I32_MIN).all()


# ---------------------------------------------------------------- reference
@pytest.mark.parametrize("shape", [(64,), (3, 64), (2, 5, 64), (7, 32), (0, 64)])
def test_kernels_match_reference_any_leading_shape(shape):
    rng = np.random.default_rng(6)
    a = rng.integers(0, 256, size=shape, dtype=np.uint8)
    b = rng.integers(-128, 128, size=shape, dtype=np.int8)
    acc = rng.integers(I32_MIN, I32_MAX, size=shape[:-1] + (shape[-1] // 4,), dtype=np.int32)
    np.testing.assert_array_equal(vpmaddubsw(a, b), ref.ref_vpmaddubsw(a, b))
    np.testing.assert_array_equal(vpdpbusd(acc, a, b), ref.ref_vpdpbusd(acc, a, b))
    np.testing.assert_array_equal(vpdpbusds(acc, a, b), ref.ref_vpdpbusds(acc, a, b))
    w = a.view(np.int16) if a.size else np.zeros(shape[:-1] + (shape[-1] // 2,), np.int16)
    v = b.view(np.int16) if b.size else w
    np.testing.assert_array_equal(vpmaddwd(w, v), ref.ref_vpmaddwd(w, v))
    x = acc
    np.testing.assert_array_equal(vpaddd(x, x[::-1].copy()), ref.ref_vpaddd(x, x[::-1]))


def test_non_contiguous_input():
    rng = np.random.default_rng(7)
    a = rng.integers(0, 256, size=(8, 128), dtype=np.uint8)[:, ::2]
    b = rng.integers(-128, 128, size=(8, 64), dtype=np.int8)
    np.testing.assert_array_equal(vpmaddubsw(a, b), ref.ref_vpmaddubsw(a, b))


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: vpmaddubsw(np.zeros(64, np.int8), np.zeros(64, np.int8)), "a_u8 must have dtype uint8"),
        (lambda: vpmaddubsw(np.zeros(64, np.uint8), np.zeros(64, np.uint8)), "b_s8 must have dtype int8"),
        (lambda: vpmaddubsw(np.zeros(48, np.uint8), np.zeros(48, np.int8)), "64 \\(512-bit\\) or 32"),
        (lambda: vpmaddubsw(np.zeros((2, 64), np.uint8), np.zeros((3, 64), np.int8)), "same number of registers"),
        (lambda: vpmaddubsw(np.zeros(64, np.uint8), np.zeros(32, np.int8)), "mix register widths"),
        (lambda: vpmaddwd(np.zeros(32, np.int32), np.zeros(32, np.int16)), "a_s16 must have dtype int16"),
        (lambda: vpaddd(np.zeros(16, np.int64), np.zeros(16, np.int32)), "dtype int32"),
        (lambda: vpdpbusd(np.zeros(8, np.int32), np.zeros(64, np.uint8), np.zeros(64, np.int8)), "mix register widths"),
        (lambda: vpdpbusds(np.zeros(16, np.int32), [0] * 64, np.zeros(64, np.int8)), "numpy array"),
        (lambda: vpdpbusd(np.array(0, np.int32), np.zeros(64, np.uint8), np.zeros(64, np.int8)), "a scalar"),
    ],
)
def test_bad_input_raises_input_error(call, match):
    with pytest.raises(InputError, match=match) as err:
        call()
    assert isinstance(err.value, SparsesimError)


# ---------------------------------------------------------------- properties


@settings(max_examples=200, deadline=None)
@given(
    st.binary(min_size=64, max_size=64),
    st.binary(min_size=64, max_size=64),
    st.integers(I32_MIN, I32_MAX),
    st.sampled_from([64, 32]),
)
def test_any_register_content_matches_reference(x, y, acc0, lanes):
    a = np.frombuffer(x, np.uint8)[:lanes].copy()
    b = np.frombuffer(y, np.int8)[:lanes].copy()
    acc = np.full(lanes // 4, acc0, np.int32)
    np.testing.assert_array_equal(vpmaddubsw(a, b), ref.ref_vpmaddubsw(a, b))
    np.testing.assert_array_equal(vpdpbusd(acc, a, b), ref.ref_vpdpbusd(acc, a, b))
    np.testing.assert_array_equal(vpdpbusds(acc, a, b), ref.ref_vpdpbusds(acc, a, b))
    w16, v16 = a.view(np.int16), b.view(np.int16)
    np.testing.assert_array_equal(vpmaddwd(w16, v16), ref.ref_vpmaddwd(w16, v16))
