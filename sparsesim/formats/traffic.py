"""Exact bytes of a sparse operand, by pattern and encoding: the traffic the timing
engine charges for moving ``A[m x k]`` across a memory interface once.

The counts are closed forms of what the encoders in this package produce, so a test
can check one against the other: ``traffic_bytes(...)["metadata"]`` for 2:4
``index`` equals ``encode(indices, 2, 4).nbytes`` and the CUTLASS metadata tensor's
``nbytes``; for unstructured formats it equals the encoder's ``nbytes()`` given the
same number of non-zeros.
"""

from __future__ import annotations

import numbers

from ..errors import FormatError, InputError
from ..patterns import parse_pattern
from ._arrays import dtype_bytes
from .metadata import ENCODINGS, bits_per_group, row_bytes
from .unstructured import _index_width, bitmask_nbytes, check_block, csb_nbytes, csr_nbytes

UNSTRUCTURED_FORMATS = ("csr", "csb", "bitmask")


def nnz_for_density(m: int, k: int, density: float) -> int:
    """Number of non-zeros of an ``m x k`` operand at ``density`` (rounded to nearest)."""
    return int(round(density * m * k))


def traffic_bytes(m, k, dtype, pattern, encoding=None, density=None, *, block: int = 64,
                  index_bits=None, pad: bool = False) -> dict:
    """Bytes of the sparse operand ``A[m x k]`` stored under ``pattern``.

    Returns a dict of ints: ``values``, ``metadata``, ``total`` (= values + metadata)
    and ``dense`` (the same operand stored dense), plus ``nnz`` (stored values),
    ``format`` and ``encoding``.

    * ``dense``: no metadata.
    * ``N:M``: ``m * K*N/M`` values; metadata per ``encoding``: ``"index"``
      (default, ``ceil(log2 M)`` bits per kept value, the tensor-core layout),
      ``"combinatorial"`` (``ceil(log2 C(M,N))`` bits per group) or ``"bitmask"``
      (M bits per group); each row's metadata is byte-aligned. K must be a multiple
      of M unless ``pad=True``.
    * ``unstructured``: ``density`` (or a density in the pattern spec) gives
      ``nnz = round(density*m*k)``; ``encoding`` is ``"csr"`` (default), ``"csb"``
      (``block`` x ``block`` blocks) or ``"bitmask"``. ``index_bits`` overrides the
      packed index width (e.g. 32 for software CSR).
    """
    for name, v in (("m", m), ("k", k)):
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v <= 0:
            raise InputError(f"{name} must be a positive int, got {v!r}")
    m, k = int(m), int(k)
    item = dtype_bytes(dtype)
    pat = parse_pattern(pattern, density)
    if encoding is not None and not isinstance(encoding, str):
        raise InputError(f"encoding must be a string or None, got {encoding!r}")
    check_block(block)
    _index_width(1, index_bits)
    if not isinstance(pad, bool):
        raise InputError(f"pad must be True or False, got {pad!r}")
    if encoding is None and isinstance(pattern, str) and ":" in pattern:
        suffix = pattern.strip().lower().rsplit(":", 1)[1]
        if suffix in UNSTRUCTURED_FORMATS:
            encoding = suffix  # "unstructured:csb" names its format
    dense_bytes = m * k * item
    if pat.is_dense:
        if encoding not in (None, "dense"):
            raise InputError(f"dense operands have no encoding, got {encoding!r}")
        return _result(dense_bytes, 0, dense_bytes, m * k, "dense", None)
    if pat.is_nm:
        enc = "index" if encoding is None else encoding
        if enc not in ENCODINGS:
            raise InputError(f"N:M encoding must be one of {', '.join(ENCODINGS)}, got {enc!r}")
        kp = k
        if k % pat.m:
            if not pad:
                raise FormatError(f"K = {k} is not a multiple of M = {pat.m}; pass pad=True to zero-pad")
            kp = -(-k // pat.m) * pat.m
        groups = kp // pat.m
        kept = m * groups * pat.n
        meta = m * row_bytes(groups, pat.n, pat.m, enc)
        return _result(kept * item, meta, dense_bytes, kept, f"{pat.n}:{pat.m}", enc)
    fmt = "csr" if encoding is None else encoding
    nnz = nnz_for_density(m, k, pat.density)
    if fmt == "csr":
        parts = csr_nbytes(m, k, nnz, item, index_bits)
    elif fmt == "csb":
        parts = csb_nbytes(m, k, nnz, item, block, index_bits)
    elif fmt == "bitmask":
        parts = bitmask_nbytes(m, k, nnz, item)
    else:
        raise InputError(f"unstructured format must be one of {', '.join(UNSTRUCTURED_FORMATS)}, got {fmt!r}")
    return _result(parts["values"], parts["metadata"], dense_bytes, nnz, fmt, fmt)


def _result(values, metadata, dense, nnz, fmt, enc):
    return {
        "values": int(values),
        "metadata": int(metadata),
        "total": int(values + metadata),
        "dense": int(dense),
        "nnz": int(nnz),
        "format": fmt,
        "encoding": enc,
    }


def compression_table(dtypes=("int8", "fp16"), patterns=("2:4", "4:8"),
                      encodings=ENCODINGS, m: int = 1024, k: int = 1024):
    """One row per (dtype, pattern, encoding): metadata bits and compressed size / dense size."""
    rows = []
    for dt in dtypes:
        for p in patterns:
            pat = parse_pattern(p)
            for enc in encodings:
                t = traffic_bytes(m, k, dt, p, enc)
                rows.append({
                    "dtype": dt,
                    "pattern": p,
                    "encoding": enc,
                    "metadata_bits_per_group": bits_per_group(pat, enc),
                    "metadata_bits_per_kept_value": bits_per_group(pat, enc) / pat.n,
                    "fraction_of_dense": t["total"] / t["dense"],
                    "bytes": t,
                })
    return rows
