"""Functional (bit-exact) compute kernels: the sparse MAC and friends."""

from .spmac import spmac, spmac_reference

__all__ = ["spmac", "spmac_reference"]
