"""Symmetric int8 quantization for the u8 x s8 -> s32 datapath.

The scheme of the Intel low-precision inference article (MKL-DNN):

* range ``R = max|T|`` of a tensor, per tensor or per output channel;
* non-negative activations: ``Qa = 255 / Ra``, ``a_u8 = round(Qa * a)`` in 0..255;
* weights: ``Qw = 127 / Rw``, ``w_s8 = round(Qw * w)`` in -127..127 (-128 unused,
  so the range is symmetric);
* bias: ``b_s32 = round(Qa * Qw * b)``;
* result: ``x_f32 ~= D * (W_s8 a_u8 + b_s32)`` with ``D = 1 / (Qa * Qw)``;
* signed activations: ``Qa' = 127 / Ra'``, ``a_s8 = round(Qa' a)`` in -128..127,
  shifted by ``K = 128`` to ``a_u8 = a_s8 + K`` so the u8 x s8 instructions apply;
  the bias absorbs the shift, ``b' = b_s32 - K * sum_k W_s8[k, n]``, which makes
  the s32 result identical to the unshifted ``W_s8 a_s8 + b_s32``;
* power-of-two scales for shift-only hardware;
* fused requantization: the next layer's u8 input is
  ``round(Qa_next * D * ReLU(x_s32))`` without going through fp32 activations.

Zero maps exactly to zero in every case (no zero point).  ``bits=7`` gives the
mitigation for the VPMADDUBSW s16 saturation: activations in 0..127 (unsigned
``Qa = 127/Ra``; signed ``Qa' = 63/Ra'`` shifted by ``K = 64``).

Weight matrices are ``W[K x N]`` (input features x output channels) as the GEMM
of :mod:`sparsesim.kernels.int8_gemm` takes them; per-channel scales run along
the last axis unless ``axis`` says otherwise.  Rounding is round-half-to-even
(``numpy.rint``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

S8_MAX = 127  # quantized weights use -127..127


def as_array(x, name: str) -> np.ndarray:
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be an array of numbers ({exc})") from None


def real_array(x, name: str) -> np.ndarray:
    """``x`` as a float64 array; anything but real numbers (strings, objects, complex,
    booleans, ragged nesting) raises :class:`InputError`."""
    arr = as_array(x, name)
    if arr.dtype.kind not in "iuf":
        raise InputError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def _integer_array(x, name: str) -> np.ndarray:
    x = as_array(x, name)
    if x.dtype.kind not in "iu":
        raise InputError(f"{name} must be an integer array, got {x.dtype}")
    if x.dtype == np.uint64 and x.size and int(x.max()) > np.iinfo(np.int64).max:
        raise InputError(f"{name} holds values beyond int64")
    return x


def _finite(x, name: str) -> np.ndarray:
    arr = real_array(x, name)
    if not np.isfinite(arr).all():
        raise InputError(f"{name} contains NaN or Inf; quantization needs finite values")
    return arr


def _check_bits(bits: int) -> int:
    if not isinstance(bits, (int, np.integer)) or isinstance(bits, bool) or bits not in (7, 8):
        raise InputError(f"bits must be 8 (full u8/s8) or 7 (saturation-free VPMADDUBSW), got {bits!r}")
    return bits


def _positive_scale(q, name: str) -> np.ndarray:
    q = real_array(q, name)
    if not np.isfinite(q).all() or (q <= 0).any():
        raise InputError(f"{name} must be finite and > 0, got {q}")
    return q


def tensor_range(x, axis: int | None = None) -> np.ndarray:
    """``R = max|x|`` over the whole tensor (``axis=None``) or per channel along ``axis``.

    An all-zero tensor or channel gets ``R = 1`` (any scale maps it to zero).
    """
    arr = _finite(x, "tensor")
    if arr.size == 0:
        raise InputError("cannot take the range of an empty tensor")
    if axis is None:
        r = np.max(np.abs(arr))
    else:
        if not -arr.ndim <= axis < arr.ndim:
            raise InputError(f"axis {axis} out of range for a {arr.ndim}-D tensor")
        other = tuple(i for i in range(arr.ndim) if i != axis % arr.ndim)
        r = np.max(np.abs(arr), axis=other) if other else np.abs(arr)
    return np.where(r > 0, r, 1.0)


def activation_scale(r, bits: int = 8) -> np.ndarray:
    """``Qa = (2**bits - 1) / Ra`` for non-negative activations (255/Ra for u8)."""
    return (2 ** _check_bits(bits) - 1) / _positive_scale(r, "range Ra")


def signed_activation_scale(r, bits: int = 8) -> np.ndarray:
    """``Qa' = (2**(bits-1) - 1) / Ra'`` for signed activations (127/Ra' for s8)."""
    return (2 ** (_check_bits(bits) - 1) - 1) / _positive_scale(r, "range Ra'")


def weight_scale(r) -> np.ndarray:
    """``Qw = 127 / Rw``."""
    return S8_MAX / _positive_scale(r, "range Rw")


def power_of_two(q, mode: str = "floor") -> np.ndarray:
    """Round a scale to a power of two for shift-only hardware.

    ``mode="nearest"``: ``2**round(log2 q)`` (may exceed ``q``, so the largest
    values then clip); ``mode="floor"``: ``2**floor(log2 q)`` (never clips).
    """
    q = _positive_scale(q, "scale")
    if mode == "nearest":
        e = np.rint(np.log2(q))
    elif mode == "floor":
        e = np.floor(np.log2(q))
    else:
        raise InputError(f"power_of_two mode must be 'nearest' or 'floor', got {mode!r}")
    return np.exp2(e)


def _broadcastable(q: np.ndarray, x: np.ndarray, name: str) -> np.ndarray:
    try:
        np.broadcast_shapes(q.shape, x.shape)
    except ValueError:
        raise InputError(f"{name} of shape {q.shape} does not broadcast against the tensor's {x.shape}") from None
    return q


def _channel_scale(q, x: np.ndarray, axis: int) -> np.ndarray:
    q = real_array(q, "scale")
    if q.ndim == 0:
        return q
    if q.ndim != 1 or q.shape[0] != x.shape[axis]:
        raise InputError(f"per-channel scale has shape {q.shape}; expected ({x.shape[axis]},) for axis {axis}")
    shape = [1] * x.ndim
    shape[axis] = q.shape[0]
    return q.reshape(shape)


def quantize_activations(a, qa, bits: int = 8) -> np.ndarray:
    """``a_u8 = clip(round(Qa * a), 0, 2**bits - 1)``; negative inputs clip to 0."""
    hi = 2 ** _check_bits(bits) - 1
    arr = _finite(a, "activations")
    q = _broadcastable(_positive_scale(qa, "Qa"), arr, "Qa")
    return np.clip(np.rint(arr * q), 0, hi).astype(np.uint8)


def quantize_signed_activations(a, qa, bits: int = 8, shift: int | None = None):
    """Signed activations to the u8 the instructions take.

    ``a_s8 = clip(round(Qa' a), -2**(bits-1), 2**(bits-1) - 1)`` and
    ``a_u8 = a_s8 + K`` with ``K = 2**(bits-1)`` (128 for 8 bits).  Returns
    ``(a_u8, a_s8, K)``.
    """
    bits = _check_bits(bits)
    k = 2 ** (bits - 1) if shift is None else int(shift)
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    if not (-lo <= k <= 255 - hi):
        raise InputError(f"shift K={k} does not map {lo}..{hi} into 0..255")
    arr = _finite(a, "activations")
    q = _broadcastable(_positive_scale(qa, "Qa'"), arr, "Qa'")
    a_s8 = np.clip(np.rint(arr * q), lo, hi).astype(np.int8)
    return (a_s8.astype(np.int16) + k).astype(np.uint8), a_s8, k


def quantize_weights(w, qw, axis: int = -1) -> np.ndarray:
    """``w_s8 = clip(round(Qw * w), -127, 127)``; ``qw`` scalar or per channel along ``axis``."""
    arr = _finite(w, "weights")
    q = _channel_scale(_positive_scale(qw, "Qw"), arr, axis % max(arr.ndim, 1))
    return np.clip(np.rint(arr * q), -S8_MAX, S8_MAX).astype(np.int8)


def quantize_bias(b, qa, qw) -> np.ndarray:
    """``b_s32 = round(Qa * Qw * b)`` (``qw`` scalar or per output channel)."""
    arr = _finite(b, "bias")
    v = np.rint(arr * _broadcastable(_positive_scale(qa, "Qa") * _positive_scale(qw, "Qw"), arr, "Qw"))
    if (np.abs(v) > 2**31 - 1).any():
        raise InputError("quantized bias does not fit in s32; the activation or weight range is too small")
    return v.astype(np.int32)


def shift_corrected_bias(bias_s32, w_s8, shift: int = 128) -> np.ndarray:
    """``b' = b_s32 - K * sum_k W_s8[k, n]``: absorbs the +K shift of signed activations.

    With it ``(a_s8 + K) W_s8 + b'`` equals ``a_s8 W_s8 + b_s32`` exactly in s32.
    """
    b = as_array(bias_s32, "bias_s32")
    w = as_array(w_s8, "w_s8")
    if not isinstance(shift, (int, np.integer)) or isinstance(shift, bool) or not 0 <= shift <= 255:
        raise InputError(f"shift must be an integer in 0..255, got {shift!r}")
    if w.dtype != np.int8 or w.ndim != 2:
        raise InputError(f"w_s8 must be a 2-D int8 matrix W[K x N], got {w.dtype} {w.shape}")
    if b.dtype != np.int32 or b.shape != (w.shape[1],):
        raise InputError(f"bias_s32 must be int32 of shape ({w.shape[1]},), got {b.dtype} {b.shape}")
    v = b.astype(np.int64) - int(shift) * w.astype(np.int64).sum(axis=0)
    if (np.abs(v) > 2**31 - 1).any():
        raise InputError("shift-corrected bias does not fit in s32")
    return v.astype(np.int32)


def dequant_factor(qa, qw) -> np.ndarray:
    """``D = 1 / (Qa * Qw)``."""
    return 1.0 / (_positive_scale(qa, "Qa") * _positive_scale(qw, "Qw"))


def dequantize(x_s32, qa, qw) -> np.ndarray:
    """``x_f32 = D * x_s32`` (float64; ``qw`` scalar or per output channel, last axis)."""
    x = _finite(x_s32, "x_s32")
    return x * _broadcastable(dequant_factor(qa, qw), x, "Qw")


def requantize(x_s32, scale, bits: int = 8) -> np.ndarray:
    """Fused requantization with ReLU: ``clip(round(scale * x_s32), 0, 2**bits - 1)``.

    ``scale = Qa_next * D`` (scalar or per channel along the last axis).  Because
    ReLU commutes with a positive scale, this equals quantizing ReLU of the
    dequantized output for the next layer, without an fp32 activation tensor.
    """
    hi = 2 ** _check_bits(bits) - 1
    x = _integer_array(x_s32, "x_s32")
    s = _broadcastable(_positive_scale(scale, "requantization scale"), x, "requantization scale")
    return np.clip(np.rint(x.astype(np.float64) * s), 0, hi).astype(np.uint8)


def requantize_shift(x_s32, shift: int, bits: int = 8) -> np.ndarray:
    """Shift-only requantization with ReLU: ``clip((x + 2**(s-1)) >> s, 0, 2**bits - 1)``.

    For a power-of-two scale ``2**-s``; rounds halves up (an adder before the
    arithmetic shift), where :func:`requantize` rounds halves to even.
    """
    hi = 2 ** _check_bits(bits) - 1
    x = _integer_array(x_s32, "x_s32")
    if not (isinstance(shift, (int, np.integer)) and not isinstance(shift, bool) and 0 <= shift < 32):
        raise InputError(f"shift must be an integer in 0..31, got {shift!r}")
    x = x.astype(np.int64)
    r = (x + (1 << (shift - 1))) >> shift if shift else x
    return np.clip(r, 0, hi).astype(np.uint8)


# --------------------------------------------------------------------- linear layer
@dataclass(frozen=True)
class QuantizedLinear:
    """A fully connected layer ready for the u8 x s8 GEMM.

    ``y = dequant * (A_u8 @ w_s8 + bias_s32)`` approximates ``x @ W + b``.
    ``shift`` is the K added to signed activations (0 for unsigned inputs).
    """

    w_s8: np.ndarray  # (K, N) int8
    bias_s32: np.ndarray  # (N,) int32, shift-corrected
    qa: float
    qw: np.ndarray  # () or (N,)
    signed: bool
    bits: int
    shift: int

    @property
    def dequant(self) -> np.ndarray:
        return dequant_factor(self.qa, self.qw)

    def quantize_input(self, x) -> np.ndarray:
        if self.signed:
            return quantize_signed_activations(x, self.qa, self.bits, self.shift)[0]
        return quantize_activations(x, self.qa, self.bits)


def quantize_linear(
    w,
    b,
    act_range: float,
    *,
    signed: bool = False,
    per_channel: bool = True,
    pow2: bool = False,
    bits: int = 8,
) -> QuantizedLinear:
    """Quantize ``W[K x N]``, ``b[N]`` for inputs of range ``act_range``.

    ``signed`` selects the shifted s8 scheme; ``per_channel`` one ``Qw`` per output
    column; ``pow2`` rounds every scale down to a power of two.
    """
    w = _finite(w, "weights")
    if w.ndim != 2:
        raise InputError(f"weights must be W[K x N], got shape {w.shape}")
    b = np.zeros(w.shape[1]) if b is None else _finite(b, "bias")
    if b.shape != (w.shape[1],):
        raise InputError(f"bias must have shape ({w.shape[1]},), got {b.shape}")
    if real_array(act_range, "act_range").ndim != 0:
        raise InputError(f"act_range must be one number (the activations' range), got shape {np.shape(act_range)}")
    qa = signed_activation_scale(act_range, bits) if signed else activation_scale(act_range, bits)
    qw = weight_scale(tensor_range(w, axis=1 if per_channel else None))
    if pow2:
        qa, qw = power_of_two(qa), power_of_two(qw)
    w_s8 = quantize_weights(w, qw, axis=1)
    bias = quantize_bias(b, qa, qw)
    shift = 2 ** (bits - 1) if signed else 0
    if signed:
        bias = shift_corrected_bias(bias, w_s8, shift)
    return QuantizedLinear(w_s8, bias, float(qa), np.asarray(qw), signed, bits, shift)
