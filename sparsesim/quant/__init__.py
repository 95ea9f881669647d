"""Int8 quantization (u8 activations, s8 weights, s32 bias) and BN folding."""

from .bnfold import fold_batchnorm
from .quantize import (
    QuantizedLinear,
    activation_scale,
    dequant_factor,
    dequantize,
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

__all__ = [
    "fold_batchnorm",
    "QuantizedLinear",
    "activation_scale",
    "dequant_factor",
    "dequantize",
    "power_of_two",
    "quantize_activations",
    "quantize_bias",
    "quantize_linear",
    "quantize_signed_activations",
    "quantize_weights",
    "requantize",
    "requantize_shift",
    "shift_corrected_bias",
    "signed_activation_scale",
    "tensor_range",
    "weight_scale",
]
