"""``sparsesim compress``, ``decompress`` and ``traffic``: the sparse formats from the shell."""

from __future__ import annotations

from ._types import real

import json
import re
import zipfile
import zlib

ENCODING_CHOICES = ("index", "combinatorial", "bitmask", "cutlass")
# what numpy's readers raise on a file that is not the .npy / .npz it claims to be
_UNREADABLE = (ValueError, EOFError, OSError, MemoryError, KeyError, TypeError, SyntaxError,
               zipfile.BadZipFile, zlib.error, NotImplementedError)
_SHAPE = re.compile(r"\s*([0-9]{1,30})\s*[x*]\s*([0-9]{1,30})\s*", re.ASCII | re.IGNORECASE)


def register(sub) -> None:
    p = sub.add_parser(
        "compress",
        help="prune + compress a .npy weight matrix (or every 2-D weight of a .safetensors model) "
             "into values + metadata (.npz or .safetensors)",
        description=(
            "Prune a 2-D .npy matrix to N:M along its last axis (K) and write the compressed "
            "values and metadata to an .npz archive or a .safetensors file. Encodings: index (ceil(log2 M) "
            "bits per kept value), combinatorial (ceil(log2 C(M,N)) bits per group), bitmask (M bits "
            "per group), cutlass (the 2:4 tensor-core layout: int16/int32 reordered metadata, as "
            "torch.sparse.SparseSemiStructuredTensorCUTLASS takes it). A .safetensors input (a model) "
            "is compressed weight by weight: every 2-D tensor whose K fits the pattern gets NAME.values, "
            "NAME.metadata and NAME.mask (the N:M keep-mask, uint8) in the output .safetensors."
        ),
    )
    p.add_argument("input", help="input .npy file (rows x K) or .safetensors model")
    p.add_argument("--out", "-o", required=True, help="output .npz or .safetensors file (written atomically)")
    p.add_argument("--pattern", default="2:4", help="N:M pattern (default 2:4)")
    p.add_argument("--encoding", default="index", choices=ENCODING_CHOICES)
    p.add_argument("--pad", action="store_true", help="zero-pad K up to a multiple of M")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar (model input)")
    p.set_defaults(func=_compress)

    p = sub.add_parser("decompress", help="rebuild the dense .npy matrix from a compressed .npz")
    p.add_argument("input", help=".npz written by 'sparsesim compress'")
    p.add_argument("--out", "-o", required=True, help="output .npy file (written atomically)")
    p.set_defaults(func=_decompress)

    p = sub.add_parser(
        "traffic",
        help="exact bytes of a sparse operand under each pattern and encoding",
        description="Print the bytes of A[m x k] as values + metadata for dense, N:M and unstructured formats.",
    )
    p.add_argument("--shape", default="4096x4096", help="MxK of the sparse operand (default 4096x4096)")
    p.add_argument("--dtype", action="append", help="element dtype(s): int8, fp8, fp16, bf16, fp32 (repeatable)")
    p.add_argument("--pattern", action="append", help="patterns (repeatable; default dense, 2:4, 4:8)")
    p.add_argument("--density", type=real, default=0.5, help="density for unstructured formats (default 0.5)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_traffic)


def _load_npy(path):
    """The single array of a .npy file."""
    from ..io import read_npy

    return read_npy(path, "input")


def _load_archive(path):
    """Header (dict) and arrays of an .npz written by 'sparsesim compress'."""
    import numpy as np

    from ..errors import FileError, FormatError
    from ..io import user_file

    bad = f"{path}: not an archive written by 'sparsesim compress'"
    with user_file(path, "rb", "input") as f:
        try:
            with np.load(f, allow_pickle=False) as z:
                if not hasattr(z, "files"):
                    raise FormatError(f"{bad} (a single array, not an .npz archive)")
                missing = [k for k in ("header", "values", "metadata") if k not in z.files]
                if missing:
                    raise FormatError(f"{bad} (no {', '.join(missing)})")
                header, values, meta = z["header"], z["values"], z["metadata"]
                if not all(isinstance(x, np.ndarray) for x in (header, values, meta)):
                    raise FormatError(f"{bad} (a member is not a .npy array)")
        except (FileError, FormatError):
            raise
        except _UNREADABLE as exc:
            raise FormatError(f"{bad} ({type(exc).__name__}: {exc})") from None
    return _check_header(header, path), values, meta


def _check_header(header, path):
    import numpy as np

    from ..errors import FormatError

    try:
        h = json.loads(str(header)) if header.dtype.kind == "U" and header.ndim == 0 else None
    except ValueError:
        h = None
    want = {"pattern": str, "encoding": str, "k": int, "dtype": str}
    if not isinstance(h, dict) or set(h) != set(want) or any(
            not isinstance(h[key], tp) or isinstance(h[key], bool) for key, tp in want.items()):
        raise FormatError(f"{path}: header is not the {{pattern, encoding, k, dtype}} record 'sparsesim compress' writes")
    if h["encoding"] not in ENCODING_CHOICES:
        raise FormatError(f"{path}: header encoding {h['encoding']!r} is not one of {', '.join(ENCODING_CHOICES)}")
    try:
        h["dtype"] = np.dtype(h["dtype"])
    except TypeError:
        raise FormatError(f"{path}: header dtype {h['dtype']!r} is not a numpy dtype") from None
    return h


def _compress_matrix(w, pat, encoding, pad):
    """(arrays, kept values, metadata) of one weight matrix; arrays: values, metadata, mask."""
    import numpy as np

    from .. import formats
    from ..errors import InputError

    dense = formats.prune(w, pat.n, pat.m, pad=pad)
    if encoding == "cutlass":
        if (pat.n, pat.m) not in ((2, 4), (1, 2)):
            raise InputError("--encoding cutlass takes 2:4 (1:2 for float32)")
        values, meta = formats.to_cutlass(dense)
    else:
        values, indices = formats.compress(w, pat.n, pat.m, pad=pad)
        meta = formats.encode_metadata(indices, pat.n, pat.m, encoding)
    mask = (dense != 0).astype(np.uint8)
    return {"values": values, "metadata": meta, "mask": mask}


def _save_safetensors(path, tensors: dict, header: dict) -> None:
    from ..errors import InputError
    from ..io import write_bytes_atomic

    try:
        from safetensors.numpy import save
    except ImportError:
        raise InputError("writing .safetensors needs the 'safetensors' package: pip install safetensors") from None
    write_bytes_atomic(path, save(tensors, metadata={k: str(v) for k, v in header.items()}))


def _compress_model(args, pat) -> int:
    """Every 2-D weight of a .safetensors model: values, metadata and keep-mask by layer name."""
    from ..errors import FormatError, InputError
    from ..masks.report import load_safetensors
    from ..progress import steps

    if not str(args.out).endswith(".safetensors"):
        raise InputError(f"--out {args.out}: a model is written as .safetensors")
    tensors = load_safetensors(args.input)
    out, skipped, dense_bytes, packed = {}, [], 0, 0
    for name, w in steps(sorted(tensors.items()), "weights", enabled=not args.quiet):
        if w.ndim != 2 or w.dtype.kind not in "fi":
            continue
        try:
            arrays = _compress_matrix(w, pat, args.encoding, args.pad)
        except (FormatError, InputError) as exc:
            skipped.append(f"{name} ({exc})")
            continue
        for part, arr in arrays.items():
            out[f"{name}.{part}"] = arr
        dense_bytes += w.nbytes
        packed += arrays["values"].nbytes + arrays["metadata"].nbytes
    if not out:
        raise InputError(f"{args.input}: no 2-D weight could be compressed to {pat} '{args.encoding}'"
                         + (f" (first: {skipped[0]})" if skipped else ""))
    header = {"format": "sparsesim-nm", "pattern": str(pat), "encoding": args.encoding,
              "layers": len(out) // 3, "source": str(args.input)}
    _save_safetensors(args.out, out, header)
    print(f"{args.input}: {len(out) // 3} weights -> {pat} '{args.encoding}': {packed} B of values + "
          f"metadata ({packed / max(dense_bytes, 1):.2%} of dense); {len(skipped)} skipped -> {args.out}")
    for s in skipped[:10]:
        print(f"  skipped {s}")
    return 0


def _compress(args) -> int:
    import numpy as np

    from ..errors import InputError
    from ..io import atomic_path, user_file
    from ..patterns import parse_pattern

    pat = parse_pattern(args.pattern)
    if not pat.is_nm:
        raise InputError(f"--pattern must be N:M, got {args.pattern!r}")
    if str(args.input).endswith(".safetensors"):
        return _compress_model(args, pat)
    w = _load_npy(args.input)
    k = w.shape[1] if w.ndim == 2 else 0
    arrays = _compress_matrix(w, pat, args.encoding, args.pad)
    values, meta = arrays["values"], arrays["metadata"]
    header = {"pattern": str(pat), "encoding": args.encoding, "k": int(k), "dtype": str(values.dtype)}
    if str(args.out).endswith(".safetensors"):
        _save_safetensors(args.out, {"values": values, "metadata": meta}, {"format": "sparsesim-nm", **header})
    else:
        with atomic_path(args.out) as tmp:
            with user_file(tmp, "wb", "output") as f:
                np.savez(f, header=np.array(json.dumps(header)), values=values, metadata=meta)
    dense_bytes = w.nbytes
    print(
        f"{args.input}: {w.shape[0]}x{k} {w.dtype} -> {pat} '{args.encoding}': "
        f"values {values.nbytes} B + metadata {meta.nbytes} B = {values.nbytes + meta.nbytes} B "
        f"({(values.nbytes + meta.nbytes) / max(dense_bytes, 1):.2%} of dense) -> {args.out}"
    )
    return 0


def _decompress(args) -> int:
    import numpy as np

    from .. import formats
    from ..errors import FormatError
    from ..io import save_npy_atomic
    from ..patterns import parse_pattern

    header, values, meta = _load_archive(args.input)
    pat = parse_pattern(header["pattern"])
    if not pat.is_nm:
        raise FormatError(f"{args.input}: header pattern {header['pattern']!r} is not N:M")
    if values.ndim != 2 or values.dtype != header["dtype"]:
        raise FormatError(f"{args.input}: values are {values.dtype} {values.shape}; the header says 2-D {header['dtype']}")
    k = header["k"]
    if header["encoding"] == "cutlass":
        dense = formats.from_cutlass(values, meta)
        if k != dense.shape[1]:
            raise FormatError(f"{args.input}: header k = {k}, but the CUTLASS tensors hold K = {dense.shape[1]}")
    else:
        if values.shape[1] % pat.n:
            raise FormatError(f"{args.input}: values have {values.shape[1]} columns, not a multiple of N = {pat.n}")
        groups = values.shape[1] // pat.n
        idx = formats.decode_metadata(meta, pat.n, pat.m, groups, header["encoding"])
        dense = formats.decompress(values, idx, pat.n, pat.m, k=k)
    save_npy_atomic(args.out, np.ascontiguousarray(dense))
    print(f"{args.input}: {header['pattern']} '{header['encoding']}' -> {dense.shape[0]}x{dense.shape[1]} {dense.dtype} -> {args.out}")
    return 0


def _traffic(args) -> int:
    from ..errors import InputError
    from ..formats import ENCODINGS, UNSTRUCTURED_FORMATS, traffic_bytes
    from ..patterns import parse_pattern

    shape = _SHAPE.fullmatch(args.shape)
    m, k = (int(x) for x in shape.groups()) if shape else (0, 0)
    if not (m > 0 and k > 0):
        raise InputError(f"--shape must be MxK with positive integers in digits 0-9, like 4096x4096; got {args.shape!r}")
    rows = []
    for dt in args.dtype or ["int8", "fp16"]:
        for p in args.pattern or ["dense", "2:4", "4:8", "unstructured"]:
            pat = parse_pattern(p, args.density if p.startswith("unstructured") else None)
            encs = [None] if pat.is_dense else (ENCODINGS if pat.is_nm else UNSTRUCTURED_FORMATS)
            for enc in encs:
                t = traffic_bytes(m, k, dt, pat, enc)
                rows.append({"dtype": dt, "pattern": str(pat), **t, "fraction_of_dense": t["total"] / t["dense"]})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"A = {m} x {k}")
    print(f"{'dtype':6} {'pattern':18} {'encoding':14} {'values B':>12} {'metadata B':>12} {'total B':>12} {'of dense':>9}")
    for r in rows:
        print(f"{r['dtype']:6} {r['pattern']:18} {str(r['encoding'] or '-'):14} {r['values']:>12} "
              f"{r['metadata']:>12} {r['total']:>12} {r['fraction_of_dense']:>9.2%}")
    return 0
