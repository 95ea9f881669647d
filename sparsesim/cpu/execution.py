"""Execution-driven CPU runs: the int8 kernel the arch's ISA has, run on real operands.

``C[m x n] = W[m x k] . X[k x n]`` with ``W`` the int8 weights (dense, or 2:4 along k)
and ``X`` the activations, int8 or uint8.  Every kernel multiplies unsigned by signed
bytes with the weights as the signed operand, as the micro-kernels of
:mod:`sparsesim.cpu.microkernels` do: uint8 activations are used as they are; int8
activations are shifted to ``x + 128`` and the exact correction ``128 * sum_k W[i, k]``
is subtracted per output row (all modulo 2**32).  What each kernel computes:

* ``vnni``, ``vnni-2to4``, ``vnni-2to4-mux`` (VPDPBUSD): the exact product wrapped to
  int32 - the decompressed and the routed 2:4 kernels give the same bits;
* ``avx512-int8`` (VPMADDUBSW -> VPMADDWD -> VPADDD): each pair of adjacent-k products
  saturates to s16 first;
* ``avx512-int8-2to4-mux`` (VPSHUFB -> VPMADDUBSW -> VPMADDWD -> VPADDD): the two kept
  products of each 2:4 group share one s16 word and saturate together.

The products run on the real instructions where this machine has them
(:mod:`sparsesim.kernels.simd`), on the portable kernels elsewhere; the bits are the
same.  :func:`check_operands` refuses mismatched operands, and workspaces that would
not fit in memory, before any work.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import FormatError, InputError

#: Bytes of workspace per output element (C, its transpose, the exact product that the
#: saturating paths compare with) and per operand byte (packed copies, shifted copies).
_BYTES_PER_OUTPUT = 12
_BYTES_PER_OPERAND_BYTE = 3


def available_memory() -> int | None:
    """Bytes the OS reports available (``MemAvailable``), or None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def workspace_bytes(m: int, n: int, k: int) -> int:
    return _BYTES_PER_OUTPUT * m * n + _BYTES_PER_OPERAND_BYTE * (m * k + k * n)


def _matrix(x, name: str, shape: tuple, dtypes: tuple) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise InputError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.dtype not in dtypes:
        raise InputError(f"{name} must have dtype {' or '.join(str(np.dtype(d)) for d in dtypes)} for an int8 "
                         f"GEMM on a CPU arch, got {x.dtype}")
    if x.shape != shape:
        raise InputError(f"{name} has shape {x.shape}; the GEMM named needs {shape}")
    return x


def check_operands(arch_name: str, m: int, n: int, k: int, two_four: bool, a, b, limit=None):
    """Validate ``a`` (W, m x k int8) and ``b`` (X, k x n int8 or uint8) for the GEMM named.

    Raises :class:`InputError` / :class:`FormatError` naming the operand: wrong type,
    dtype or shape; for 2:4, K not a multiple of 4 or a group of 4 along k with more than
    two non-zeros (the first one is named); a workspace larger than ``limit`` bytes
    (default: the memory the OS reports available).
    """
    if a is None or b is None:
        raise InputError("mode 'exec' needs both operands: a= (weights, m x k) and b= (activations, k x n)")
    a = _matrix(a, "a", (m, k), (np.dtype(np.int8),))
    b = _matrix(b, "b", (k, n), (np.dtype(np.int8), np.dtype(np.uint8)))
    if two_four:
        if k % 4:
            raise FormatError(f"a: k = {k} is not a multiple of 4, so it cannot be 2:4 sparse along k")
        nz = (a != 0).reshape(m, k // 4, 4).sum(axis=2)
        bad = np.argwhere(nz > 2)
        if bad.size:
            r, g = (int(v) for v in bad[0])
            raise FormatError(f"a is not 2:4 sparse along k: row {r}, group {g} (k = {4 * g}..{4 * g + 3}) has "
                              f"{int(nz[r, g])} non-zeros; prune it first (sparsesim.formats.prune)")
    need = workspace_bytes(m, n, k)
    have = available_memory() if limit is None else limit
    if have is not None and need > have:
        raise InputError(f"an exec run of {m}x{n}x{k} on {arch_name} needs about {_size(need)} of workspace "
                         f"(C int32 and packed operands), more than the {_size(have)} available")
    return a, b


def _size(nbytes: int) -> str:
    return f"{nbytes / 2**30:.2f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.1f} MiB"


def _shifted(x):
    """Unsigned activations and whether they were shifted by 128."""
    if x.dtype == np.uint8:
        return x, False
    return np.bitwise_xor(x.view(np.uint8), np.uint8(0x80)), True


def _subtract_rows(c, w, shifted):
    """``c[i, :] -= 128 * sum(w[i, :])`` modulo 2**32 (in place) when ``shifted``."""
    if shifted:
        fix = (128 * w.sum(axis=1, dtype=np.int64)) & 0xFFFFFFFF
        np.subtract(c, fix.astype(np.uint32).view(np.int32)[:, None], out=c)
    return c


def _dense(path, w, x):
    from ..kernels.int8_gemm import int8_gemm

    xu, shifted = _shifted(x)
    ct = int8_gemm(np.ascontiguousarray(xu.T), np.ascontiguousarray(w.T), path)  # lanes = weight rows
    return _subtract_rows(np.ascontiguousarray(ct.T), w, shifted)


def _sparse(path, w, x):
    from ..formats import compress
    from ..kernels import vnni_sparse
    from ..kernels.simd import has_path

    values, indices = compress(w, 2, 4)
    if has_path(path):
        return vnni_sparse.sparse_times_dense(vnni_sparse.pack_sparse(values, indices, 2, 4), x, path)
    if path == "vnni":
        from ..kernels.spmac import spmac

        xu, shifted = _shifted(x)
        if not shifted:  # exact product: any exact kernel will do
            return _dense("vnni", w, x)
        return spmac(values, indices, x, "2:4")
    xu, shifted = _shifted(x)
    fix = 128 * values.sum(axis=1, dtype=np.int64) if shifted else np.zeros(w.shape[0], np.int64)
    out = np.empty((w.shape[0], x.shape[1]), dtype=np.int32)
    if out.size:
        vnni_sparse.routed_pairs_portable(values, indices, 2, 4, np.ascontiguousarray(xu), fix, out)
    return out


def run_kernel(kernel: str, w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """C = W . X (int32, m x n) as micro-kernel ``kernel`` computes it (module docstring)."""
    if kernel in ("vnni", "avx512-int8"):
        return _dense("vnni" if kernel == "vnni" else "avx512", w, x)
    if kernel in ("vnni-2to4", "vnni-2to4-mux"):
        return _sparse("vnni", w, x)
    if kernel == "avx512-int8-2to4-mux":
        return _sparse("avx512", w, x)
    raise InputError(f"no functional int8 kernel for micro-kernel {kernel!r}")


def saturated_outputs(kernel: str, c: np.ndarray, w: np.ndarray, x: np.ndarray) -> int:
    """Outputs a saturating kernel changed: where ``c`` differs from the exact product."""
    if not kernel.startswith("avx512-int8"):
        return 0
    exact = run_kernel("vnni", w, x)
    return int(np.count_nonzero(exact != c))
