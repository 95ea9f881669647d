"""Bit-exact emulation of the x86 int8 multiply-accumulate instructions.

``vpmaddubsw``, ``vpmaddwd``, ``vpaddd`` (AVX-512BW, the three-instruction int8
sequence) and ``vpdpbusd``, ``vpdpbusds`` (AVX512_VNNI / AVX-VNNI).  Arrays carry
one register per leading index, lanes on the last axis (512-bit: 64 x u8/s8,
32 x s16, 16 x s32; the 256-bit forms take half).  Kernels compile on first call.
"""

from __future__ import annotations

_LAZY = {
    "vpmaddubsw": "sparsesim.isa.avx512",
    "vpmaddwd": "sparsesim.isa.avx512",
    "vpaddd": "sparsesim.isa.avx512",
    "vpdpbusd": "sparsesim.isa.vnni",
    "vpdpbusds": "sparsesim.isa.vnni",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sparsesim.isa' has no attribute {name!r}")


__all__ = list(_LAZY)
