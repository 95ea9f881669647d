"""Fold an inference-mode batch normalisation into the preceding layer.

BN after an affine layer ``x = W a + b`` computes
``y = gamma * (x - E) / sqrt(V + eps) + beta`` with fixed statistics ``E``, ``V``.
With ``s = gamma / sqrt(V + eps)`` per output channel this is the affine layer
``W' = s * W`` (each output channel's weights scaled) and
``b' = s * (b - E) + beta``, so the BN layer disappears before quantization.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def fold_batchnorm(w, b, gamma, beta, mean, var, eps: float = 1e-5, out_axis: int = 0):
    """Return ``(W', b')`` with the BN folded in.

    ``w``: weights with the output channels on ``out_axis`` (0 for PyTorch
    ``Linear [out, in]`` and ``Conv [out, in, kh, kw]``; use ``out_axis=1`` for the
    ``W[K x N]`` GEMM layout).  ``b`` may be ``None`` (no bias).  The BN vectors
    all have one entry per output channel.
    """
    from .quantize import _finite

    w = _finite(w, "weights")
    if w.ndim < 2:
        raise InputError(f"weights must be at least 2-D, got shape {w.shape}")
    if not isinstance(out_axis, (int, np.integer)) or isinstance(out_axis, bool) or not -w.ndim <= out_axis < w.ndim:
        raise InputError(f"out_axis {out_axis} out of range for {w.ndim}-D weights")
    axis = out_axis % w.ndim
    c = w.shape[axis]
    vecs = {}
    for name, v in (("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var)):
        v = _finite(v, f"BN {name}")
        if v.shape != (c,):
            raise InputError(f"BN {name} must have shape ({c},) (one per output channel), got {v.shape}")
        vecs[name] = v
    if (vecs["var"] < 0).any():
        raise InputError("BN variance must be >= 0")
    if not isinstance(eps, (int, float, np.integer, np.floating)) or isinstance(eps, bool) \
            or not 0 <= eps < float("inf"):
        raise InputError(f"eps must be a finite number >= 0, got {eps!r}")
    b = np.zeros(c) if b is None else _finite(b, "bias")
    if b.shape != (c,):
        raise InputError(f"bias must have shape ({c},), got {b.shape}")
    s = vecs["gamma"] / np.sqrt(vecs["var"] + eps)
    shape = [1] * w.ndim
    shape[axis] = c
    return w * s.reshape(shape), s * (b - vecs["mean"]) + vecs["beta"]
