"""Numba entry points used by the format kernels (compiled lazily, on first call)."""

from numba import njit, prange  # noqa: F401
