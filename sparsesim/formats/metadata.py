"""Metadata encodings of N:M index information, each with its exact bit count.

Three ways to say which N of M positions a group keeps:

``index``
    one ``ceil(log2 M)``-bit position per kept element (2 bits for 2:4, 3 bits for
    4:8). This is what NVIDIA's sparse tensor cores consume: for 2:4 a group's four
    bits are ``idx0 | idx1 << 2`` with ``idx0 < idx1``.
``combinatorial``
    one code per group naming one of the ``C(M, N)`` subsets: ``ceil(log2 C(M,N))``
    bits (3 for 2:4 since C(4,2)=6; 7 for 4:8 since C(8,4)=70). The code is the
    subset's rank in the combinatorial number system (colex order):
    ``code = sum_j C(pos_j, j + 1)`` for ascending positions ``pos_0 < pos_1 < ...``.
``bitmask``
    ``M`` bits per group, bit ``i`` set when position ``i`` is kept; exactly ``N``
    bits are set.

Packing: each row's fields are laid end to end, least-significant bit first,
in a little-endian bit stream; each row starts on a byte boundary (a row holds
``ceil(fields * width / 8)`` bytes). For 2:4 ``index`` this is exactly the
nibble-per-group word CUTLASS builds before it reorders metadata.

Decoders validate every field and raise :class:`FormatError` on a word that is not a
valid code (repeated or descending indices, a combinatorial code >= C(M, N), a
bitmask without exactly N bits, a set padding bit after a row's last field); they
never decode garbage.
"""

from __future__ import annotations

import numbers
from math import comb

import numpy as np

from ..errors import FormatError, InputError
from ..patterns import parse_pattern
from ._arrays import as_matrix
from ._jit import njit, prange

ENCODINGS = ("index", "combinatorial", "bitmask")


def field_bits(n: int, m: int, encoding: str) -> tuple[int, int]:
    """Return ``(fields_per_group, bits_per_field)`` of an encoding."""
    if not isinstance(encoding, str):
        raise InputError(f"metadata encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
    if encoding == "index":
        return n, (m - 1).bit_length()
    if encoding == "combinatorial":
        return 1, (comb(m, n) - 1).bit_length()
    if encoding == "bitmask":
        return 1, m
    raise InputError(f"unknown metadata encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}")


def bits_per_group(pattern, encoding: str = "index") -> int:
    """Exact metadata bits of one group of M under ``encoding``."""
    pat = _nm_pattern(pattern, "metadata bits per group")
    f, b = field_bits(pat.n, pat.m, encoding)
    return f * b


def _nm_pattern(pattern, what):
    pat = parse_pattern(pattern)
    if not pat.is_nm:
        raise InputError(f"{what} are defined for N:M patterns, not {pat}")
    return pat


def _count(v, name) -> int:
    if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 0:
        raise InputError(f"{name} must be a non-negative integer, got {v!r}")
    return int(v)


def row_bytes(groups: int, n: int, m: int, encoding: str) -> int:
    """Bytes one packed row of ``groups`` groups takes."""
    f, b = field_bits(n, m, encoding)
    return (groups * f * b + 7) // 8


def metadata_bytes(rows: int, k: int, pattern, encoding: str = "index") -> int:
    """Exact bytes of packed metadata for a ``rows x k`` operand (``k`` a multiple of M)."""
    pat = _nm_pattern(pattern, "metadata bytes")
    rows, k = _count(rows, "rows"), _count(k, "k")
    if k % pat.m:
        raise FormatError(f"K = {k} is not a multiple of M = {pat.m}")
    return rows * row_bytes(k // pat.m, pat.n, pat.m, encoding)


# ---------------------------------------------------------------------------
# Field <-> index conversion (Numba kernels, one row per prange iteration)
# ---------------------------------------------------------------------------

@njit(cache=True)
def _binom_table(mmax):
    t = np.zeros((mmax + 1, mmax + 1), dtype=np.int64)
    for a in range(mmax + 1):
        t[a, 0] = 1
        for b in range(1, a + 1):
            t[a, b] = t[a - 1, b - 1] + t[a - 1, b]
    return t


@njit(parallel=True, cache=True)
def _encode_kernel(idx, n, m, encoding, binom, width, out, bad_group):
    """Validate each group's indices, turn them into fields and pack them, one row per task.

    encoding 0=index, 1=combinatorial, 2=bitmask. Fields are appended LSB first to a
    bit accumulator that is flushed a byte at a time; ``bad_group[r]`` is the first
    group of row r whose indices are not strictly ascending below m (else -1).
    """
    rows = idx.shape[0]
    groups = idx.shape[1] // n
    for r in prange(rows):
        bad_group[r] = -1
        acc = np.uint64(0)
        nbits = 0
        o = 0
        for g in range(groups):
            prev = -1
            word = 0
            for j in range(n):
                i = np.int64(idx[r, g * n + j])
                if (i <= prev or i >= m) and bad_group[r] < 0:
                    bad_group[r] = g
                prev = i
                if encoding == 0:
                    acc |= np.uint64(i) << np.uint64(nbits)
                    nbits += width
                elif encoding == 1:
                    word += binom[i, j + 1]
                else:
                    word |= np.int64(1) << i
            if encoding != 0:
                acc |= np.uint64(word) << np.uint64(nbits)
                nbits += width
            while nbits >= 8:
                out[r, o] = np.uint8(acc & np.uint64(0xFF))
                acc >>= np.uint64(8)
                nbits -= 8
                o += 1
        if nbits > 0:
            out[r, o] = np.uint8(acc & np.uint64(0xFF))


@njit(parallel=True, cache=True)
def _fields_to_indices(fields, n, m, encoding, binom, idx, bad_group):
    """Inverse of :func:`_indices_to_fields`; marks the first invalid group of each row."""
    rows = idx.shape[0]
    groups = idx.shape[1] // n
    total = binom[m, n]
    for r in prange(rows):
        bad_group[r] = -1
        for g in range(groups):
            ok = True
            if encoding == 0:
                prev = -1
                for j in range(n):
                    i = fields[r, g * n + j]
                    if i <= prev or i >= m:
                        ok = False
                    prev = i
                    idx[r, g * n + j] = i
            elif encoding == 1:
                code = fields[r, g]
                if code >= total:
                    ok = False
                else:
                    # greedy decode of the combinatorial number system, largest position first
                    pos = m - 1
                    for j in range(n - 1, -1, -1):
                        while binom[pos, j + 1] > code:
                            pos -= 1
                        idx[r, g * n + j] = pos
                        code -= binom[pos, j + 1]
                        pos -= 1
            else:
                word = fields[r, g]
                cnt = 0
                for i in range(m):
                    if (word >> i) & 1:
                        if cnt < n:
                            idx[r, g * n + cnt] = i
                        cnt += 1
                if cnt != n or (word >> m) != 0:
                    ok = False
            if not ok and bad_group[r] < 0:
                bad_group[r] = g


@njit(parallel=True, cache=True)
def _unpack_fields(packed, width, nf, fields):
    rows = packed.shape[0]
    mask = (np.uint64(1) << np.uint64(width)) - np.uint64(1)
    for r in prange(rows):
        acc = np.uint64(0)
        nbits = 0
        i = 0
        for f in range(nf):
            while nbits < width:
                acc |= np.uint64(packed[r, i]) << np.uint64(nbits)
                i += 1
                nbits += 8
            fields[r, f] = np.int64(acc & mask)
            acc >>= np.uint64(width)
            nbits -= width


_ENC_CODE = {"index": 0, "combinatorial": 1, "bitmask": 2}
_BINOM = None


def _binom():
    global _BINOM
    if _BINOM is None:
        _BINOM = _binom_table(16)
    return _BINOM


def _check_nm(n, m):
    for name, v in (("n", n), ("m", m)):
        if not isinstance(v, numbers.Integral) or isinstance(v, bool):
            raise InputError(f"{name} must be an integer, got {v!r}")
    pat = parse_pattern(f"{int(n)}:{int(m)}")
    return pat.n, pat.m


def encode(indices, n: int, m: int, encoding: str = "index") -> np.ndarray:
    """Pack per-kept-element ``indices`` (from :func:`compress`) into metadata bytes.

    Returns ``uint8`` of shape ``rows x row_bytes``. The indices are validated first.
    """
    n, m = _check_nm(n, m)
    indices = as_matrix(indices, "indices")
    if indices.shape[1] % n:
        raise FormatError(f"indices have {indices.shape[1]} columns, not a multiple of N = {n}")
    f, width = field_bits(n, m, encoding)
    rows, kept = indices.shape
    groups = kept // n
    if indices.dtype.kind not in "iu":
        raise FormatError(f"indices must be integers, got {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= m):
        bad = int(indices.min()) if indices.min() < 0 else int(indices.max())
        raise FormatError(f"indices must be positions below {m}, found {bad}")
    idx = np.ascontiguousarray(indices, dtype=np.uint8)
    out = np.zeros((rows, row_bytes(groups, n, m, encoding)), dtype=np.uint8)
    bad_group = np.full(rows, -1, dtype=np.int64)
    if rows and groups:
        _encode_kernel(idx, n, m, _ENC_CODE[encoding], _binom(), width, out, bad_group)
    bad_rows = np.flatnonzero(bad_group >= 0)
    if bad_rows.size:
        r = int(bad_rows[0])
        gg = int(bad_group[r])
        raise FormatError(
            f"invalid {n}:{m} indices at row {r}, group {gg}: {list(indices[r, gg * n:(gg + 1) * n])} "
            f"(expected strictly ascending positions below {m})"
        )
    return out


def decode(packed, n: int, m: int, groups: int, encoding: str = "index") -> np.ndarray:
    """Unpack metadata bytes into per-kept-element indices (``uint8``, rows x groups*N).

    Raises :class:`FormatError` for any field that is not a valid code.
    """
    n, m = _check_nm(n, m)
    packed = as_matrix(packed, "packed metadata")
    if packed.dtype != np.uint8:
        raise FormatError(f"packed metadata must be uint8, got {packed.dtype}")
    groups = _count(groups, "groups")
    f, width = field_bits(n, m, encoding)
    need = row_bytes(groups, n, m, encoding)
    if packed.shape[1] != need:
        raise FormatError(
            f"packed metadata rows hold {packed.shape[1]} bytes; {groups} groups of {n}:{m} "
            f"'{encoding}' need {need}"
        )
    spare = need * 8 - groups * f * width  # padding bits after each row's last field
    if spare and packed.shape[0]:
        stray = np.flatnonzero(packed[:, -1] >> np.uint8(8 - spare))
        if stray.size:
            r = int(stray[0])
            raise FormatError(
                f"invalid {n}:{m} '{encoding}' metadata at row {r}: padding bits after the last field are set "
                f"(last byte {int(packed[r, -1]):#04x}; the top {spare} bits must be 0)"
            )
    rows = packed.shape[0]
    fields = np.empty((rows, groups * f), dtype=np.int64)
    idx = np.zeros((rows, groups * n), dtype=np.uint8)
    bad_group = np.full(rows, -1, dtype=np.int64)
    if rows and groups:
        _unpack_fields(np.ascontiguousarray(packed), width, groups * f, fields)
        _fields_to_indices(fields, n, m, _ENC_CODE[encoding], _binom(), idx, bad_group)
    bad_rows = np.flatnonzero(bad_group >= 0)
    if bad_rows.size:
        r = int(bad_rows[0])
        gg = int(bad_group[r])
        raise FormatError(
            f"invalid {n}:{m} '{encoding}' metadata at row {r}, group {gg}: "
            f"field(s) {list(fields[r, gg * f:(gg + 1) * f])} are not a valid code"
        )
    return idx


# ---------------------------------------------------------------------------
# Plain-Python references
# ---------------------------------------------------------------------------

def encode_reference(indices, n, m, encoding="index"):
    """Bit-by-bit reference of :func:`encode` using Python integers."""
    f, width = field_bits(n, m, encoding)
    rows, kept = indices.shape
    groups = kept // n
    out = np.zeros((rows, row_bytes(groups, n, m, encoding)), dtype=np.uint8)
    for r in range(rows):
        stream = 0
        pos = 0
        for g in range(groups):
            sel = [int(x) for x in indices[r, g * n:(g + 1) * n]]
            if encoding == "index":
                vals = sel
            elif encoding == "combinatorial":
                vals = [sum(comb(p, j + 1) for j, p in enumerate(sel))]
            else:
                vals = [sum(1 << p for p in sel)]
            for v in vals:
                stream |= v << pos
                pos += width
        for b in range(out.shape[1]):
            out[r, b] = (stream >> (8 * b)) & 0xFF
    return out
