"""Quantization identities of the int8 scheme, checked with integer arithmetic,
an error bound derived from the rounding, and PyTorch as the BN oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsesim.errors import InputError
from sparsesim.kernels.int8_gemm import int8_gemm
from sparsesim.quant import (
    activation_scale,
    dequant_factor,
    dequantize,
    fold_batchnorm,
    power_of_two,
    quantize_activations,
    quantize_bias,
    quantize_linear,
    quantize_signed_activations,
    quantize_weights,
    requantize,
    requantize_shift,
    shift_corrected_bias,
    signed_activation_scale,
    tensor_range,
    weight_scale,
)


def _layer(rng, m=24, k=96, n=40, signed=False):
    x = rng.normal(size=(m, k)) * 2.0
    if not signed:
        x = np.maximum(x, 0.0)  # post-ReLU activations
    w = rng.normal(size=(k, n)) * rng.uniform(0.05, 2.0, size=n)  # uneven channel ranges
    b = rng.normal(size=n)
    return x, w, b


# ------------------------------------------------------------------ scales
def test_scales_follow_the_article():
    assert activation_scale(2.0) == 255 / 2.0
    assert signed_activation_scale(2.0) == 127 / 2.0
    assert weight_scale(0.5) == 127 / 0.5
    assert activation_scale(2.0, bits=7) == 127 / 2.0
    assert signed_activation_scale(2.0, bits=7) == 63 / 2.0
    assert dequant_factor(4.0, 8.0) == 1 / 32
    np.testing.assert_array_equal(tensor_range(np.array([[1.0, -3.0], [2.0, 0.5]]), axis=1), [2.0, 3.0])
    assert tensor_range(np.zeros(3)) == 1.0


def test_zero_maps_to_zero_and_weights_never_use_minus_128():
    w = np.array([-5.0, -1.0, 0.0, 1.0, 5.0])
    w_s8 = quantize_weights(w, weight_scale(1.0))
    assert w_s8.min() == -127 and w_s8[2] == 0
    assert quantize_activations(np.array([0.0, -3.0, 9.0]), 255.0).tolist() == [0, 0, 255]
    a_u8, a_s8, k = quantize_signed_activations(np.array([0.0, -9.0, 9.0]), 127.0)
    assert k == 128 and a_s8.tolist() == [0, -128, 127] and a_u8.tolist() == [128, 0, 255]


def test_signed_activations_saturate_at_minus_128_ra_over_127():
    ra = 1.0
    q = signed_activation_scale(ra)
    _, a_s8, _ = quantize_signed_activations(np.array([-128 / 127 * ra, -2 * ra]), q)
    assert a_s8.tolist() == [-128, -128]


# ------------------------------------------------------------------ identities
@pytest.mark.parametrize("bits", [8, 7])
def test_shifted_and_unshifted_give_identical_s32(bits):
    rng = np.random.default_rng(1)
    x, w, b = _layer(rng, signed=True)
    qa = signed_activation_scale(tensor_range(x), bits)
    qw = weight_scale(tensor_range(w, axis=1))
    w_s8 = quantize_weights(w, qw)
    b_s32 = quantize_bias(b, qa, qw)
    a_u8, a_s8, k = quantize_signed_activations(x, qa, bits)
    assert a_u8.min() < 64 and a_u8.max() > (190 if bits == 8 else 100)
    unshifted = a_s8.astype(np.int64) @ w_s8.astype(np.int64) + b_s32  # plain integers
    shifted = int8_gemm(a_u8, w_s8, "vnni", bias_s32=shift_corrected_bias(b_s32, w_s8, k))
    np.testing.assert_array_equal(shifted, unshifted)
    if bits == 7:  # no s16 saturation possible: the three-instruction path agrees too
        shifted3 = int8_gemm(a_u8, w_s8, "avx512", bias_s32=shift_corrected_bias(b_s32, w_s8, k))
        np.testing.assert_array_equal(shifted3, unshifted)


def test_shift_makes_barely_positive_activations_saturate_vpmaddubsw():
    from sparsesim.kernels.int8_gemm import s16_saturations

    qa = signed_activation_scale(1.0)
    a_u8, a_s8, _ = quantize_signed_activations(np.array([[1.0, 2.0, 0.0, 0.0]]) / qa, qa)
    assert a_s8.tolist() == [[1, 2, 0, 0]] and a_u8.tolist() == [[129, 130, 128, 128]]
    w = np.array([[127], [127], [0], [0]], np.int8)  # 129*127 + 130*127 = 32893 > 32767
    assert s16_saturations(a_u8, w)[0, 0] == 1
    assert int8_gemm(a_u8, w, "avx512")[0, 0] == 32767 != int8_gemm(a_u8, w, "vnni")[0, 0]
    # 7-bit: the largest shifted activations (63 + 64 = 127) with the same weights do not saturate
    a7, _, k7 = quantize_signed_activations(np.array([[1.0, 1.0, 0.0, 0.0]]), signed_activation_scale(1.0, 7), 7)
    assert k7 == 64 and a7.tolist() == [[127, 127, 64, 64]]
    assert int8_gemm(a7, w, "avx512")[0, 0] == int8_gemm(a7, w, "vnni")[0, 0]


def _rounding_bound(x_hat, w_s8, qa, qw):
    """|D (a_q W_q + b_q) - (x W + b)| <= sum_k |w_hat| 0.5/Qa + |x_hat| 0.5/Qw + 0.5 D."""
    w_hat = w_s8 / np.broadcast_to(qw, (w_s8.shape[1],))
    half_a = 0.5 / qa
    half_w = 0.5 / np.broadcast_to(qw, (w_s8.shape[1],))
    return np.abs(x_hat) @ np.ones_like(w_hat) * half_w + half_a * np.abs(w_hat).sum(0) + 0.5 / (qa * qw) + 1e-9


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("pow2", [False, True])
@pytest.mark.parametrize("bits", [8, 7])
def test_quantized_linear_within_rounding_bound(signed, per_channel, pow2, bits):
    rng = np.random.default_rng(2)
    x, w, b = _layer(rng, signed=signed)
    ql = quantize_linear(w, b, float(np.abs(x).max()), signed=signed, per_channel=per_channel, pow2=pow2, bits=bits)
    a = ql.quantize_input(x)
    y = ql.dequant * int8_gemm(a, ql.w_s8, "vnni", bias_s32=ql.bias_s32).astype(np.float64)
    exact = x @ w + b
    err = np.abs(y - exact)
    # the bound of the rounding alone (no clipping happens: ranges cover the data)
    bound = _rounding_bound(x, ql.w_s8, ql.qa, ql.qw)
    assert (err <= bound).all()
    assert err.max() > 0  # it is an approximation


def test_per_channel_scales_reduce_error_of_small_channels():
    rng = np.random.default_rng(3)
    _, w, _ = _layer(rng)
    per_t = quantize_weights(w, weight_scale(tensor_range(w))) / weight_scale(tensor_range(w))
    qw_c = weight_scale(tensor_range(w, axis=1))
    per_c = quantize_weights(w, qw_c) / qw_c
    err_t = np.abs(per_t - w).max(axis=0)
    err_c = np.abs(per_c - w).max(axis=0)
    assert (err_c <= err_t + 1e-12).all() and (err_c < err_t).sum() > w.shape[1] // 2


def test_power_of_two_scales():
    q = np.array([127 / 0.3, 255 / 7.0, 3.0])
    fl = power_of_two(q, "floor")
    assert np.all(np.log2(fl) == np.round(np.log2(fl))) and (fl <= q).all() and (fl > q / 2).all()
    near = power_of_two(q, "nearest")
    assert np.all(np.abs(np.log2(near) - np.log2(q)) <= 0.5)
    # floor never clips; nearest can round the scale up and clip the extremes
    r = 127 / 2**6.7
    w = np.array([-r, r / 3, r])
    assert np.abs(np.rint(w * power_of_two(weight_scale(r), "floor"))).max() <= 127
    assert np.abs(np.rint(w * power_of_two(weight_scale(r), "nearest"))).max() > 127
    assert quantize_weights(w, power_of_two(weight_scale(r), "nearest")).tolist()[2] == 127


def test_fused_requantization_matches_dequantize_relu_quantize():
    rng = np.random.default_rng(4)
    x, w, b = _layer(rng, signed=True)
    ql = quantize_linear(w, b, float(np.abs(x).max()), signed=True, per_channel=True)
    acc = int8_gemm(ql.quantize_input(x), ql.w_s8, "vnni", bias_s32=ql.bias_s32)
    y = dequantize(acc, ql.qa, ql.qw)
    qa_next = activation_scale(np.maximum(y, 0).max())
    via_f32 = quantize_activations(np.maximum(y, 0.0), qa_next)
    fused = requantize(acc, qa_next * ql.dequant)
    diff = np.abs(fused.astype(int) - via_f32.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3  # only float ties can differ
    assert (fused[acc <= 0] == 0).all()  # ReLU folded in (g(Qx) = Q g(x), Q >= 0)
    assert fused.max() == 255


def test_shift_only_requantization():
    rng = np.random.default_rng(5)
    acc = rng.integers(-(2**20), 2**20, size=5000).astype(np.int32)
    for s in (0, 1, 7, 12):
        got = requantize_shift(acc, s)
        expect = np.clip(np.floor(acc / 2**s + 0.5), 0, 255)
        np.testing.assert_array_equal(got, expect)
        # a power-of-two scale is exact in float: fused float path agrees except at .5 ties
        ties = (acc % (2**s) == 2 ** (s - 1)) if s else np.zeros(acc.shape, bool)
        np.testing.assert_array_equal(requantize(acc, 2.0**-s)[~ties], got[~ties])


# ------------------------------------------------------------------ BN folding
def test_bn_fold_linear_matches_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    lin = torch.nn.Linear(20, 12).double()
    bn = torch.nn.BatchNorm1d(12).double()
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.2, 3)
        bn.weight.uniform_(0.5, 2)
        bn.bias.uniform_(-1, 1)
    bn.eval()
    x = torch.randn(7, 20, dtype=torch.float64)
    ref = bn(lin(x)).detach().numpy()
    w2, b2 = fold_batchnorm(
        lin.weight.detach().numpy(), lin.bias.detach().numpy(), bn.weight.detach().numpy(),
        bn.bias.detach().numpy(), bn.running_mean.numpy(), bn.running_var.numpy(), eps=bn.eps,
    )
    np.testing.assert_allclose(x.numpy() @ w2.T + b2, ref, rtol=1e-12, atol=1e-12)


def test_bn_fold_conv_matches_torch_and_survives_quantization():
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(3, 8, 3, bias=False).double()
    bn = torch.nn.BatchNorm2d(8).double()
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.2, 3)
        bn.weight.uniform_(0.5, 2)
        bn.bias.uniform_(-1, 1)
    bn.eval()
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64)
    ref = bn(conv(x)).detach().numpy()
    w2, b2 = fold_batchnorm(
        conv.weight.detach().numpy(), None, bn.weight.detach().numpy(), bn.bias.detach().numpy(),
        bn.running_mean.numpy(), bn.running_var.numpy(), eps=bn.eps,
    )
    folded = torch.nn.functional.conv2d(x, torch.from_numpy(w2), torch.from_numpy(b2)).numpy()
    np.testing.assert_allclose(folded, ref, rtol=1e-12, atol=1e-12)


def test_bn_fold_gemm_layout():
    rng = np.random.default_rng(6)
    w = rng.normal(size=(10, 4))
    g, be, mu, var = rng.uniform(0.5, 2, 4), rng.normal(size=4), rng.normal(size=4), rng.uniform(0.1, 2, 4)
    w2, b2 = fold_batchnorm(w, np.zeros(4), g, be, mu, var, eps=0.0, out_axis=1)
    x = rng.normal(size=(3, 10))
    np.testing.assert_allclose(x @ w2 + b2, g * (x @ w - mu) / np.sqrt(var) + be, rtol=1e-12)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: activation_scale(1.0, bits=6), "bits must be 8"),
        (lambda: activation_scale(0.0), "> 0"),
        (lambda: quantize_weights(np.array([np.nan]), 1.0), "NaN"),
        (lambda: quantize_weights(np.ones((3, 4)), np.ones(3)), "per-channel scale"),
        (lambda: power_of_two(2.0, "up"), "nearest"),
        (lambda: shift_corrected_bias(np.zeros(3, np.int32), np.zeros((2, 4), np.int8)), "bias_s32"),
        (lambda: quantize_bias(np.array([1e9]), 255.0, 127.0), "s32"),
        (lambda: requantize(np.ones(3), 1.0), "integer"),
        (lambda: requantize_shift(np.ones(3, np.int32), 40), "shift"),
        (lambda: fold_batchnorm(np.ones((4, 3)), None, np.ones(3), np.ones(4), np.ones(4), np.ones(4)), "gamma"),
        (lambda: fold_batchnorm(np.ones((4, 3)), None, *[np.ones(4)] * 3, -np.ones(4)), "variance"),
        (lambda: quantize_linear(np.ones(4), None, 1.0), "W\\[K x N\\]"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(InputError, match=match):
        call()


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 12), st.integers(1, 70), st.integers(1, 20))
def test_shift_identity_for_any_integers(seed, m, k, n):
    rng = np.random.default_rng(seed)
    a_s8 = rng.integers(-128, 128, (m, k), dtype=np.int8)
    w_s8 = rng.integers(-127, 128, (k, n), dtype=np.int8)
    b = rng.integers(-(2**20), 2**20, n, dtype=np.int32)
    a_u8 = (a_s8.astype(np.int16) + 128).astype(np.uint8)
    shifted = int8_gemm(a_u8, w_s8, "vnni", bias_s32=shift_corrected_bias(b, w_s8, 128))
    np.testing.assert_array_equal(shifted, a_s8.astype(np.int64) @ w_s8.astype(np.int64) + b)
