"""Functional (bit-exact) compute kernels: the sparse MAC and friends."""

from .dense import int8_matmul
from .spmac import spmac, spmac_packed, spmac_reference

__all__ = ["spmac", "spmac_packed", "spmac_reference", "int8_matmul"]
