"""Int8 GEMM built from the x86 int8 instructions, dense and 2:4 sparse.

``C[M x N] (s32) = A[M x K] (u8 activations) x W[K x N] (s8 weights)``, computed
exactly as a kernel written with the instructions of :mod:`sparsesim.isa` would
compute it, with the weight layout of the Intel low-precision article:

* ``W`` is cut into blocks of 16 output columns; inside a block the 4 consecutive
  int8 of one column (``W[4kb..4kb+3, n]``) are contiguous, so one 512-bit register
  ``(nb, kb)`` holds 16 columns x 4 bytes (lane ``j`` = column ``16nb + j``).
  :func:`pack_weights` produces this ``(N/16, K/4, 64)`` array.
* The 4 activation bytes ``A[m, 4kb..4kb+3]`` are broadcast to all 16 dword lanes.
* Per register step the accumulator (16 x s32, one per output column) is updated by

  ``"avx512"`` VPMADDUBSW -> VPMADDWD with a register of ones -> VPADDD.  Each
                 pair of products is saturated to s16 first, so results can differ
                 from the exact sum when both inputs of a pair are large;
  ``"vnni"``   VPDPBUSD: the four products are added into s32 with wrap-around,
                 which equals the exact integer product modulo 2**32;
  ``"vnnis"``  VPDPBUSDS: the same, saturating the s32 accumulator at every step.

K is zero-padded to a multiple of 4 and N to a multiple of 16 (zero bytes add
nothing in any path).  Three implementations are kept and tested against each
other, against :mod:`sparsesim.kernels.int8_gemm_ref` (plain integers) and against
a C program running the real intrinsic loop:

* :func:`int8_gemm_registers` issues the emulated instructions register by
  register (slow, literal);
* :func:`int8_gemm` / :func:`int8_gemm_packed` issue the real instructions from
  Numba (:mod:`sparsesim.kernels.vnni_dense`) where the CPU has them, and otherwise
  run a portable fused Numba kernel with the same per-lane arithmetic;
* :func:`sparse24_int8_gemm` consumes 2:4-compressed weights (values + 2-bit
  indices from :func:`sparsesim.formats.compress`): per group of 4 the index
  drives a multiplexer that selects the 2 matching activations, and only 2
  products are formed; they are combined exactly as the instruction would combine
  them on the decompressed register (for ``"avx512"`` the two products share one
  s16 saturation only when they sit in the same byte pair), so the result equals
  the dense path on the decompressed weights bit for bit.  Path ``"vnni"`` runs on
  VPSHUFB + VPDPBUSD (:mod:`sparsesim.kernels.vnni_sparse`) where the CPU has them.

:func:`sparsesim.kernels.simd.has_path` says which paths run on the instructions;
``SPARSESIM_INT8_BACKEND=portable`` (or ``simd.set_backend("portable")``) forces the
portable kernels.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..errors import InputError
from .simd import has_path
from .vnni_dense import dense_products
from .vnni_sparse import dense_times_sparse_t, pack_sparse

#: Instruction sequences a GEMM can be computed with.
PATHS = ("avx512", "vnni", "vnnis")
LANES = 16  # s32 accumulator lanes of a 512-bit register
GROUP = 4  # bytes per dword lane


# --------------------------------------------------------------------- layout
def _check_path(path: str) -> int:
    if path not in PATHS:
        raise InputError(f"path must be one of {PATHS}, got {path!r}")
    return PATHS.index(path)


def _check_matrix(x, name: str, dtype) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise InputError(f"{name} must be a numpy array of {np.dtype(dtype)}, got {type(x).__name__}")
    if x.dtype != np.dtype(dtype):
        raise InputError(f"{name} must have dtype {np.dtype(dtype)}, got {x.dtype}")
    if x.ndim != 2:
        raise InputError(f"{name} must be 2-D, got shape {x.shape}")
    return x


def _ceil(x: int, m: int) -> int:
    return -(-x // m) * m


def pack_weights(w_s8: np.ndarray) -> np.ndarray:
    """Reorder ``W[K x N]`` (int8) into 512-bit registers ``(N/16, K/4, 64)``.

    Register ``(nb, kb)`` bytes ``4j..4j+3`` = ``W[4kb..4kb+3, 16nb+j]``; K and N
    are zero-padded up to multiples of 4 and 16.
    """
    w = _check_matrix(w_s8, "w_s8", np.int8)
    k, n = w.shape
    kp, np_ = _ceil(k, GROUP), _ceil(n, LANES)
    wpad = np.zeros((kp, np_), dtype=np.int8)
    wpad[:k, :n] = w
    regs = wpad.reshape(kp // GROUP, GROUP, np_ // LANES, LANES).transpose(2, 0, 3, 1)
    return np.ascontiguousarray(regs).reshape(np_ // LANES, kp // GROUP, LANES * GROUP)


def unpack_weights(w_packed: np.ndarray, k: int, n: int) -> np.ndarray:
    """Inverse of :func:`pack_weights` (drops the padding)."""
    wp = np.asarray(w_packed)
    if wp.dtype != np.int8 or wp.ndim != 3 or wp.shape[2] != LANES * GROUP:
        raise InputError(f"w_packed must be int8 (N/16, K/4, 64), got {wp.dtype} {wp.shape}")
    nb, kb, _ = wp.shape
    if k > kb * GROUP or n > nb * LANES:
        raise InputError(f"k={k}, n={n} do not fit packed registers for K<={kb * GROUP}, N<={nb * LANES}")
    w = wp.reshape(nb, kb, LANES, GROUP).transpose(1, 3, 0, 2).reshape(kb * GROUP, nb * LANES)
    return np.ascontiguousarray(w[:k, :n])


def _pad_activations(a: np.ndarray, kp: int) -> np.ndarray:
    if a.shape[1] == kp:
        return np.ascontiguousarray(a)
    out = np.zeros((a.shape[0], kp), dtype=np.uint8)
    out[:, : a.shape[1]] = a
    return out


# --------------------------------------------------------------------- kernels
@njit(cache=True)
def _unpack_block(wp, nb, wt):
    """De-interleave register block ``nb`` into ``wt[kb, q, j]`` (int32) so the lane
    loop reads unit-stride; arithmetic is unchanged."""
    kb_n = wp.shape[1]
    for kb in range(kb_n):
        for j in range(16):
            for q in range(4):
                wt[kb, q, j] = wp[nb, kb, 4 * j + q]


@njit(cache=True)
def _gemm_dense_kernel(a, wp, path, out):
    """Fused dense GEMM: one 16-lane s32 accumulator per (row, column block).

    ``path`` 0 = VPMADDUBSW/VPMADDWD/VPADDD, 1 = VPDPBUSD, 2 = VPDPBUSDS.
    The int32 clamps in path 1 are no-ops (|sum of 2 products| <= 65280) that let
    the compiler keep the lanes in 32 bits; the accumulator store wraps mod 2**32
    exactly like VPADDD / VPDPBUSD.
    """
    m_n = a.shape[0]
    nb_n, kb_n = wp.shape[0], wp.shape[1]
    wt = np.empty((kb_n, 4, 16), dtype=np.int32)
    acc = np.empty(16, dtype=np.int32)
    for nb in range(nb_n):
        _unpack_block(wp, nb, wt)
        for m in range(m_n):
            for j in range(16):
                acc[j] = 0
            for kb in range(kb_n):
                a0 = np.int32(a[m, 4 * kb])
                a1 = np.int32(a[m, 4 * kb + 1])
                a2 = np.int32(a[m, 4 * kb + 2])
                a3 = np.int32(a[m, 4 * kb + 3])
                if path == 0:
                    for j in range(16):
                        # VPMADDUBSW: two s16 words per dword lane, each saturated
                        lo = min(max(a0 * wt[kb, 0, j] + a1 * wt[kb, 1, j], -32768), 32767)
                        hi = min(max(a2 * wt[kb, 2, j] + a3 * wt[kb, 3, j], -32768), 32767)
                        # VPMADDWD with ones (lo + hi, exact) then VPADDD (wraps)
                        acc[j] += lo + hi
                elif path == 1:
                    for j in range(16):
                        lo = min(max(a0 * wt[kb, 0, j] + a1 * wt[kb, 1, j], -2147483648), 2147483647)
                        hi = min(max(a2 * wt[kb, 2, j] + a3 * wt[kb, 3, j], -2147483648), 2147483647)
                        acc[j] += lo + hi
                else:
                    for j in range(16):
                        s = np.int64(acc[j]) + (
                            a0 * wt[kb, 0, j] + a1 * wt[kb, 1, j] + a2 * wt[kb, 2, j] + a3 * wt[kb, 3, j]
                        )
                        acc[j] = min(max(s, -2147483648), 2147483647)
            for j in range(16):
                out[m, nb * 16 + j] = acc[j]


@njit(cache=True)
def _gemm_sparse24_kernel(a, vals, idx, path, out):
    """2:4 GEMM on compressed weights: ``vals``/``idx`` are ``(Np, K/2)``, two kept
    values per group of 4 along K, ascending positions ``idx`` in 0..3.

    Per lane and group two 3:1 multiplexers pick the activations (the first kept
    value sits at position 0, 1 or 2, the second at 1, 2 or 3), two products are
    formed, and they enter the accumulator as the instruction would see them in
    the decompressed register: for the three-instruction path they share one s16
    saturation only when they fall in the same VPMADDUBSW byte pair (positions
    (0, 1) or (2, 3)); a lone product (|u8 * s8| <= 32640) never saturates.
    """
    m_n = a.shape[0]
    n_n, kept = vals.shape
    g_n = kept // 2
    nb_n = n_n // 16
    vt = np.empty((g_n, 2, 16), dtype=np.int32)
    sel = np.empty((g_n, 2, 16), dtype=np.int32)  # mux select: position - slot (0..2)
    pair = np.empty((g_n, 16), dtype=np.int32)  # 1 if both kept bytes share a byte pair
    acc = np.empty(16, dtype=np.int32)
    for nb in range(nb_n):
        for g in range(g_n):
            for j in range(16):
                i0 = np.int32(idx[nb * 16 + j, 2 * g])
                i1 = np.int32(idx[nb * 16 + j, 2 * g + 1])
                vt[g, 0, j] = vals[nb * 16 + j, 2 * g]
                vt[g, 1, j] = vals[nb * 16 + j, 2 * g + 1]
                sel[g, 0, j] = i0
                sel[g, 1, j] = i1 - 1
                pair[g, j] = 1 if (i0 >> 1) == (i1 >> 1) else 0
        for m in range(m_n):
            for j in range(16):
                acc[j] = 0
            for g in range(g_n):
                a0 = np.int32(a[m, 4 * g])
                a1 = np.int32(a[m, 4 * g + 1])
                a2 = np.int32(a[m, 4 * g + 2])
                a3 = np.int32(a[m, 4 * g + 3])
                for j in range(16):
                    s0 = sel[g, 0, j]
                    s1 = sel[g, 1, j]
                    x0 = (a0 if s0 == 0 else (a1 if s0 == 1 else a2)) * vt[g, 0, j]
                    x1 = (a1 if s1 == 0 else (a2 if s1 == 1 else a3)) * vt[g, 1, j]
                    t = min(max(x0 + x1, -2147483648), 2147483647)  # no-op clamp: keeps i32 lanes
                    if path == 0:
                        t16 = min(max(t, -32768), 32767)
                        acc[j] += t16 if pair[g, j] == 1 else t
                    elif path == 1:
                        acc[j] += t
                    else:
                        acc[j] = min(max(np.int64(acc[j]) + t, -2147483648), 2147483647)
            for j in range(16):
                out[m, nb * 16 + j] = acc[j]


@njit(cache=True)
def _s16_saturation_kernel(a, wp, out):
    """Count, per output, the VPMADDUBSW words that saturated."""
    m_n = a.shape[0]
    nb_n, kb_n = wp.shape[0], wp.shape[1]
    for nb in range(nb_n):
        for m in range(m_n):
            for j in range(16):
                c = 0
                for kb in range(kb_n):
                    for h in range(2):
                        s = np.int32(a[m, 4 * kb + 2 * h]) * np.int32(wp[nb, kb, 4 * j + 2 * h]) + np.int32(
                            a[m, 4 * kb + 2 * h + 1]
                        ) * np.int32(wp[nb, kb, 4 * j + 2 * h + 1])
                        if s > 32767 or s < -32768:
                            c += 1
                out[m, nb * 16 + j] = c


# --------------------------------------------------------------------- wrappers
def _check_a(a_u8, k_padded: int | None = None) -> np.ndarray:
    """``a_u8`` must be 2-D uint8; with ``k_padded`` (the weights' K rounded up to a
    multiple of 4) its K must round up to the same value."""
    a = _check_matrix(a_u8, "a_u8", np.uint8)
    if k_padded is not None and _ceil(a.shape[1], GROUP) != k_padded:
        raise InputError(
            f"a_u8 has K={a.shape[1]} columns but the weights hold K={k_padded} "
            f"(zero-padded to a multiple of {GROUP}); expected {max(k_padded - GROUP + 1, 0)}..{k_padded}"
        )
    return a


def _check_packed(w_packed) -> np.ndarray:
    if not isinstance(w_packed, np.ndarray) or w_packed.dtype != np.int8 or w_packed.ndim != 3 or (
        w_packed.shape[2] != LANES * GROUP
    ):
        got = f"{w_packed.dtype} {w_packed.shape}" if isinstance(w_packed, np.ndarray) else type(w_packed).__name__
        raise InputError(f"w_packed must be int8 registers of shape (N/16, K/4, 64), got {got}")
    return np.ascontiguousarray(w_packed)


def _add_bias(out: np.ndarray, bias_s32) -> np.ndarray:
    if bias_s32 is None:
        return out
    b = np.asarray(bias_s32)
    if b.dtype != np.int32 or b.shape != (out.shape[1],):
        raise InputError(f"bias_s32 must be int32 of shape ({out.shape[1]},), got {b.dtype} {b.shape}")
    # VPADDD: wrap-around
    return (out.astype(np.int64) + b).astype(np.uint32).view(np.int32) if out.size else out


def int8_gemm_packed(a_u8: np.ndarray, w_packed: np.ndarray, n: int, path: str = "vnni", bias_s32=None) -> np.ndarray:
    """GEMM on weights already in register layout (:func:`pack_weights`)."""
    p = _check_path(path)
    wp = _check_packed(w_packed)
    kp = wp.shape[1] * GROUP
    a = _check_a(a_u8, kp)
    if not (0 <= n <= wp.shape[0] * LANES):
        raise InputError(f"n={n} outside the {wp.shape[0] * LANES} packed columns")
    if has_path(path) and a.shape[0] and wp.shape[0]:
        out = dense_products(_pad_activations(a, kp), wp, path)
    else:
        out = np.zeros((a.shape[0], wp.shape[0] * LANES), dtype=np.int32)
        if out.size and kp:
            _gemm_dense_kernel(_pad_activations(a, kp), wp, p, out)
    return _add_bias(np.ascontiguousarray(out[:, :n]), bias_s32)


def int8_gemm(a_u8: np.ndarray, w_s8: np.ndarray, path: str = "vnni", bias_s32=None) -> np.ndarray:
    """Dense int8 GEMM ``A (u8, M x K) x W (s8, K x N) -> s32 (M x N)`` along ``path``.

    ``path``: ``"avx512"`` (VPMADDUBSW + VPMADDWD + VPADDD), ``"vnni"`` (VPDPBUSD)
    or ``"vnnis"`` (VPDPBUSDS).  ``bias_s32`` (optional, int32 ``(N,)``) is added
    with VPADDD wrap-around semantics.
    """
    _check_path(path)
    a = _check_a(a_u8)
    w = _check_matrix(w_s8, "w_s8", np.int8)
    if a.shape[1] != w.shape[0]:
        raise InputError(f"a_u8 is {a.shape} but w_s8 is {w.shape}: inner dimensions (K) must match")
    return int8_gemm_packed(a, pack_weights(w), w.shape[1], path, bias_s32)


def int8_gemm_registers(a_u8: np.ndarray, w_s8: np.ndarray, path: str = "vnni") -> np.ndarray:
    """The same GEMM issued literally, instruction by instruction, through
    :mod:`sparsesim.isa` on 512-bit registers (one call per K step over all
    (row, column-block) register pairs).  Slow; used to show the fused kernels
    compute what the instruction sequence computes."""
    from ..isa import vpaddd, vpdpbusd, vpdpbusds, vpmaddubsw, vpmaddwd

    _check_path(path)
    a = _check_a(a_u8)
    w = _check_matrix(w_s8, "w_s8", np.int8)
    if a.shape[1] != w.shape[0]:
        raise InputError(f"a_u8 is {a.shape} but w_s8 is {w.shape}: inner dimensions (K) must match")
    wp = pack_weights(w)
    nb_n, kb_n, _ = wp.shape
    a = _pad_activations(a, kb_n * GROUP)
    m_n = a.shape[0]
    acc = np.zeros((m_n, nb_n, LANES), dtype=np.int32)
    ones = np.ones((m_n, nb_n, 2 * LANES), dtype=np.int16)
    for kb in range(kb_n):
        # broadcast A[m, 4kb..4kb+3] to 16 dword lanes (VPBROADCASTD)
        a_reg = np.tile(a[:, 4 * kb : 4 * kb + 4], LANES)[:, None, :]
        a_reg = np.ascontiguousarray(np.broadcast_to(a_reg, (m_n, nb_n, 64)))
        w_reg = np.ascontiguousarray(np.broadcast_to(wp[None, :, kb, :], (m_n, nb_n, 64)))
        if path == "avx512":
            acc = vpaddd(acc, vpmaddwd(vpmaddubsw(a_reg, w_reg), ones))
        elif path == "vnni":
            acc = vpdpbusd(acc, a_reg, w_reg)
        else:
            acc = vpdpbusds(acc, a_reg, w_reg)
    return np.ascontiguousarray(acc.reshape(m_n, nb_n * LANES)[:, : w.shape[1]])


def s16_saturations(a_u8: np.ndarray, w_s8: np.ndarray) -> np.ndarray:
    """Per output (M x N, int32): how many VPMADDUBSW words saturated on the way."""
    a = _check_a(a_u8)
    w = _check_matrix(w_s8, "w_s8", np.int8)
    if a.shape[1] != w.shape[0]:
        raise InputError(f"a_u8 is {a.shape} but w_s8 is {w.shape}: inner dimensions (K) must match")
    wp = pack_weights(w)
    out = np.zeros((a.shape[0], wp.shape[0] * LANES), dtype=np.int32)
    if out.size and wp.shape[1]:
        _s16_saturation_kernel(_pad_activations(a, wp.shape[1] * GROUP), wp, out)
    return np.ascontiguousarray(out[:, : w.shape[1]])


#: Largest |weight| for which VPMADDUBSW cannot saturate with any u8 input:
#: 255 * (64 + 64) = 32640 <= 32767.
SPLIT_LIMIT = 64


def split_outlier_gemm(a_u8: np.ndarray, w_s8: np.ndarray, path: str = "avx512", limit: int = SPLIT_LIMIT):
    """The split-GEMM mitigation of the s16 saturation.

    ``W = W_small + W_outlier`` with ``W_small = clip(W, -limit, limit)``: the dense
    part runs through ``path`` (with ``limit <= 64`` no VPMADDUBSW word can
    saturate); the sparse remainder (weights beyond the limit) is computed in full
    precision over its non-zero rows and added with s32 wrap-around.  Returns
    ``(C, outlier_fraction)``; ``C`` equals the exact (VPDPBUSD) product.
    """
    _check_path(path)
    a = _check_a(a_u8)
    w = _check_matrix(w_s8, "w_s8", np.int8)
    if not (isinstance(limit, (int, np.integer)) and 1 <= limit <= SPLIT_LIMIT):
        raise InputError(f"limit must be an integer in 1..{SPLIT_LIMIT} (saturation-free), got {limit!r}")
    if a.shape[1] != w.shape[0]:
        raise InputError(f"a_u8 is {a.shape} but w_s8 is {w.shape}: inner dimensions (K) must match")
    small = np.clip(w, -limit, limit).astype(np.int8)
    outlier = w.astype(np.int64) - small
    c = int8_gemm(a, small, path).astype(np.int64)
    rows = np.flatnonzero(outlier.any(axis=1))
    if rows.size:
        c += a[:, rows].astype(np.int64) @ outlier[rows]
    frac = float(np.count_nonzero(outlier)) / max(outlier.size, 1)
    return (c & 0xFFFFFFFF).astype(np.uint32).view(np.int32), frac


# --------------------------------------------------------------------- 2:4 sparse
def compress_weights_24(w_s8: np.ndarray):
    """2:4-compress the weight columns along K with the project's N:M format.

    Returns ``(values, indices)`` of shape ``(N, ceil(K/4)*2)``: row ``n`` holds
    the kept weights of column ``n`` (K zero-padded to a multiple of 4).  Weights
    that are not already 2:4 are pruned (largest 2 magnitudes of each group kept).
    """
    from ..formats import compress

    w = _check_matrix(w_s8, "w_s8", np.int8)
    return compress(np.ascontiguousarray(w.T), 2, 4, pad=True)


def sparse24_int8_gemm(
    a_u8: np.ndarray, values: np.ndarray, indices: np.ndarray, path: str = "vnni", bias_s32=None
) -> np.ndarray:
    """2:4-sparse int8 GEMM on compressed weights (see :func:`compress_weights_24`).

    ``values`` int8 and ``indices`` (integers 0..3, strictly ascending inside each
    pair) have shape ``(N, K/2)``; ``a_u8`` is ``(M, K)`` with ``K`` at most twice
    the kept count (shorter K is zero-padded).  Equals ``int8_gemm(a, W, path)``
    on the decompressed ``W`` bit for bit.
    """
    p = _check_path(path)
    v = _check_matrix(values, "values", np.int8)
    if not isinstance(indices, np.ndarray) or indices.dtype.kind not in "iu" or indices.shape != v.shape:
        got = f"{indices.dtype} {indices.shape}" if isinstance(indices, np.ndarray) else type(indices).__name__
        raise InputError(f"indices must be an integer array of shape {v.shape}, got {got}")
    if v.shape[1] % 2:
        raise InputError(f"values have {v.shape[1]} kept entries per column, not a multiple of 2 (2:4)")
    idx = indices.astype(np.int64)
    if idx.size:
        pair = idx.reshape(idx.shape[0], -1, 2)
        bad = (pair[..., 0] >= pair[..., 1]) | (pair < 0).any(-1) | (pair > 3).any(-1)
        if bad.any():
            r, g = np.argwhere(bad)[0]
            raise InputError(
                f"indices of column {r}, group {g} are {tuple(pair[r, g])}: expected two ascending positions in 0..3"
            )
    kp = v.shape[1] * 2
    a = _check_a(a_u8, kp)
    n = v.shape[0]
    if path == "vnni" and has_path("vnni") and a.shape[0] and n:
        # exact u8 x s8 products wrapped to s32: the routed VPDPBUSD kernel gives the same bits
        panel = pack_sparse(v, idx.astype(np.uint8), 2, 4)
        return _add_bias(dense_times_sparse_t(_pad_activations(a, kp), panel), bias_s32)
    np_ = _ceil(n, LANES)
    vpad = np.zeros((np_, v.shape[1]), dtype=np.int8)
    vpad[:n] = v
    ipad = np.zeros((np_, v.shape[1]), dtype=np.uint8)
    ipad[:n] = idx
    ipad[n:, 1::2] = 1  # padded columns: zero values at valid positions (0, 1)
    out = np.zeros((a.shape[0], np_), dtype=np.int32)
    if out.size and kp:
        _gemm_sparse24_kernel(_pad_activations(a, kp), vpad, ipad, p, out)
    return _add_bias(np.ascontiguousarray(out[:, :n]), bias_s32)
