"""Real operands for execution-driven runs: a layer of a weights file as the sparse operand A,
and activations B given in a file or drawn from a seed.

* **Weights.**  A 2-D tensor ``[out_features, in_features]`` of a ``.safetensors`` file is A
  (``m = out``, ``k = in``: pruned along the input dimension, the reduction axis the tensor
  cores compress).  A name may omit its ``.weight`` suffix; a name the file lacks is refused
  naming the closest names it has.  Pruning by magnitude: ``N:M`` keeps the N largest of every
  group of M along k (:func:`sparsesim.formats.prune`); ``unstructured`` at ``density`` keeps
  the ``round(density * m * k)`` largest magnitudes of the whole tensor.  Then the dtype:
  ``fp16`` rounds to nearest; ``bf16`` rounds through PyTorch's own conversion (bit patterns
  as uint16); ``int8`` quantizes symmetrically per output channel, ``w_s8 = round(127 / max|w_row|
  * w)`` (:mod:`sparsesim.quant`), so small kept weights may round to zero.
* **Activations** are B (``k x n``).  From a ``.npy`` file of that shape: float arrays are
  cast (fp16, bf16) or quantized symmetrically per tensor to s8 (``round(127 / max|x| * x)``);
  arrays already of the GEMM's element type are used as they are.  Otherwise drawn with
  ``numpy.random.default_rng(seed)``: int8 uniform in -128..127, fp16 / bf16 standard normal.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError
from .patterns import parse_pattern

DTYPES = ("int8", "fp16", "bf16")


@dataclass
class Operands:
    a: np.ndarray  # m x k, the GEMM's element type (bf16: uint16 bit patterns)
    b: np.ndarray  # k x n
    a_f32: np.ndarray  # the pruned weights before the dtype (float32)
    b_f32: np.ndarray  # the activations before the dtype (float32)
    a_scale: np.ndarray | None = None  # int8: per-row scale (a ~ a_s8 / scale)
    b_scale: float | None = None
    info: dict = field(default_factory=dict)

    def dequantized(self, c) -> np.ndarray:
        """C in the units of the float32 product (int8: divided by the two scales)."""
        c = np.asarray(c, dtype=np.float64)
        if self.a_scale is None:
            return c
        return c / self.a_scale[:, None] / self.b_scale


def find_layer(tensors: dict, name: str, source="the weights file") -> str:
    """The key of ``name`` (or ``name + '.weight'``) in ``tensors``; else an error naming close matches."""
    for key in (name, f"{name}.weight"):
        if key in tensors:
            return key
    names = [k for k, v in tensors.items() if np.ndim(v) == 2] or list(tensors)  # GEMM weights first
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    if not close:
        close = [k for k in names if name.split(".")[-1] in k][:5]
    hint = f"; close matches: {', '.join(close)}" if close else f"; it has {len(tensors)} tensors"
    raise InputError(f"{source} has no layer {name!r}{hint}")


def load_layer(path, name: str) -> tuple[str, np.ndarray]:
    """(key, float32 ``[out, in]`` matrix) of layer ``name`` of a ``.safetensors`` file."""
    from .masks.report import load_safetensors

    tensors = load_safetensors(path)
    key = find_layer(tensors, name, f"weights file {str(path)!r}")
    w = np.asarray(tensors[key])
    if w.ndim != 2 or 0 in w.shape:
        raise InputError(f"layer {key!r} of {str(path)!r} has shape {w.shape}; a GEMM weight is 2-D [out, in]")
    if w.dtype.kind not in "fiu":
        raise InputError(f"layer {key!r} of {str(path)!r} is {w.dtype}; expected float or integer weights")
    w = np.asarray(w, dtype=np.float32)
    if not np.isfinite(w).all():
        raise InputError(f"layer {key!r} of {str(path)!r} has NaN or Inf values (or values beyond float32)")
    return key, w


def prune_to(w: np.ndarray, pattern, density=None) -> np.ndarray:
    """``w`` pruned by magnitude to ``pattern`` (see the module docstring)."""
    pat = parse_pattern(pattern, density)
    if pat.is_dense:
        return w.copy()
    if pat.is_nm:
        from .formats import prune

        if w.shape[1] % pat.m:
            raise InputError(f"in-features {w.shape[1]} is not a multiple of M = {pat.m}, so it cannot be {pat}")
        return prune(w, pat.n, pat.m)
    keep = int(round(pat.density * w.size))
    order = np.argsort(-np.abs(w), axis=None, kind="stable")[:keep]
    out = np.zeros_like(w)
    out.flat[order] = w.flat[order]
    return out


def to_bf16_bits(x: np.ndarray) -> np.ndarray:
    import torch

    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(torch.bfloat16).view(torch.int16).numpy() \
        .view(np.uint16)


def _fits(x: np.ndarray, dtype: str, what: str) -> None:
    """Refuse values a cast to ``dtype`` would turn into infinities."""
    top = {"fp16": 65504.0, "bf16": 3.3895313892515355e38}.get(dtype)  # the largest finite values
    if top is not None and x.size and float(np.max(np.abs(x))) > top:
        raise InputError(f"{what} has values beyond the {dtype} range (largest magnitude {top:g})")


def weights_as(w: np.ndarray, dtype: str):
    """(A in ``dtype``, per-row scale or None)."""
    _fits(w, dtype, "the layer")
    if dtype == "fp16":
        return w.astype(np.float16), None
    if dtype == "bf16":
        return to_bf16_bits(w), None
    from .quant import quantize_weights, tensor_range, weight_scale

    q = weight_scale(tensor_range(w, axis=0))
    return quantize_weights(w, q, axis=0), np.asarray(q, dtype=np.float64)


def activations_as(x: np.ndarray, dtype: str):
    """(B in ``dtype``, scale or None)."""
    _fits(x, dtype, "the activations")
    if dtype == "fp16":
        return x.astype(np.float16), None
    if dtype == "bf16":
        return to_bf16_bits(x), None
    from .quant import quantize_signed_activations, signed_activation_scale, tensor_range

    q = float(signed_activation_scale(tensor_range(x)))
    return quantize_signed_activations(x, q)[1], q


_NATIVE = {"int8": np.dtype(np.int8), "fp16": np.dtype(np.float16), "bf16": np.dtype(np.uint16)}


def load_activations(path, k: int, dtype: str) -> np.ndarray:
    from .io import read_npy

    p = Path(path)
    x = read_npy(p, "activations")
    if x.ndim != 2 or x.shape[0] != k:
        hint = " (transpose it: B is k x n, features x tokens)" if x.ndim == 2 and x.shape[1] == k else ""
        raise InputError(f"activations {str(p)!r} have shape {x.shape}; the layer needs B of shape ({k}, n){hint}")
    if x.dtype != _NATIVE[dtype] and x.dtype.kind != "f":
        raise InputError(f"activations {str(p)!r} are {x.dtype}; give float values or {_NATIVE[dtype]} for {dtype}")
    return x


def random_activations(k: int, n: int, dtype: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "int8":
        return rng.integers(-128, 128, (k, n)).astype(np.int8)
    return rng.standard_normal((k, n)).astype(np.float32)


def operands(w: np.ndarray, x: np.ndarray, pattern, density, dtype: str) -> Operands:
    """Prune float weights ``w`` ([out, in]) to ``pattern`` and bring both to ``dtype``."""
    if dtype not in DTYPES:
        raise InputError(f"real-weight runs take dtype {', '.join(DTYPES)}, got {dtype!r}")
    wp = prune_to(np.asarray(w, dtype=np.float32), pattern, density)
    a, a_scale = weights_as(wp, dtype)
    if x.dtype == _NATIVE[dtype]:
        if dtype == "fp16" and not np.isfinite(x).all():
            raise InputError("activations have NaN or Inf values")
        b, b_scale, x32 = x, (1.0 if dtype == "int8" else None), None
    else:
        x32 = np.asarray(x, dtype=np.float32)
        if not np.isfinite(x32).all():
            raise InputError("activations have NaN or Inf values")
        b, b_scale = activations_as(x32, dtype)
    return Operands(a, b, wp, x32, a_scale, b_scale)


def layer_operands(path, layer: str, pattern="dense", density=None, dtype="fp16", n=None, activations=None,
                   seed: int = 0, limits=None) -> Operands:
    """Operands of a layer of a ``.safetensors`` file (see the module docstring).  With
    ``limits`` (:class:`sparsesim.timing.Limits`), the exec-mode limits are checked before
    the activations are read or drawn."""
    if dtype not in DTYPES:
        raise InputError(f"real-weight runs take dtype {', '.join(DTYPES)}, got {dtype!r}")
    key, w = load_layer(path, layer)
    k = w.shape[1]
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise InputError(f"n (tokens) must be a positive integer, got {n!r}")
    if limits is not None:
        from .timing.limits import check_dims, check_exec

        check_dims(w.shape[0], n or 128, k, limits)
        check_exec(w.shape[0], n or 128, k, limits)
    if activations is not None:
        x = load_activations(activations, k, dtype)
        if n is not None and x.shape[1] != n:
            raise InputError(f"activations have {x.shape[1]} columns but n = {n} was asked for")
    else:
        x = random_activations(k, 128 if n is None else n, dtype, seed)
    ops = operands(w, x, pattern, density, dtype)
    ops.info = {"layer": key, "weights": str(path), "activations": str(activations) if activations else f"seed {seed}"}
    return ops
