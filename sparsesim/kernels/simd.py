"""AVX-512 int8 register tiles issued from Numba: VPDPBUSD, VPMADDUBSW, VPSHUFB.

Numba has no vector types, so each register tile is one ``numba.extending.intrinsic``
whose code generator writes the tile's inner loop in LLVM IR: the accumulators are
``<16 x i32>`` values (512-bit registers), the instructions are the LLVM intrinsics
``llvm.x86.avx512.vpdpbusd.512`` (VPDPBUSD), ``vpdpbusds.512`` (VPDPBUSDS),
``pmaddubs.w.512`` (VPMADDUBSW), ``pmaddw.d.512`` (VPMADDWD) and ``pshuf.b.512``
(VPSHUFB), and LLVM keeps the accumulators in registers for the whole loop.  The
loops mirror the instruction streams of :mod:`sparsesim.cpu.microkernels`:

* :func:`dense_tile` - C[MR rows x 16*NR columns] += A_u8 . W_s8 with W in the VNNI
  register layout (:func:`sparsesim.kernels.int8_gemm.pack_weights`): per 4-k step,
  NR weight registers are loaded, 4 activation bytes of each of the MR rows are
  broadcast (VPBROADCASTD) and MR*NR VPDPBUSD (or the three-instruction sequence, or
  VPDPBUSDS) update the accumulators.
* :func:`sparse_tile` - the N:M sparse MAC with the rows of the sparse operand in the
  lanes: per step, each 16-row block holds 4 kept s8 values per lane and a VPSHUFB
  control per lane (the decoded metadata: the position of each kept value among the
  S = 8 or 16 activations of the step); for each of MR activation columns the S
  activation bytes are broadcast, VPSHUFB is the multiplexer that routes each lane's
  4 activations to it, and VPDPBUSD multiplies and accumulates.

These instructions exist only on CPUs with AVX512BW (and AVX512_VNNI for the VNNI
forms); :func:`host_features` reads what the compiler targets, and callers pick the
portable kernels when a feature is missing (the intrinsics are never compiled then).
"""

from __future__ import annotations

import functools
import os

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

I8, I16, I32, I64 = ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.IntType(64)
V16I32 = ir.VectorType(I32, 16)
V32I16 = ir.VectorType(I16, 32)
V64I8 = ir.VectorType(I8, 64)

#: Tile kinds of :func:`dense_tile` (the instruction sequence per 4-k step).
DENSE_PATHS = ("avx512", "vnni", "vnnis")
#: CPU features (LLVM names) each path needs.
PATH_FEATURES = {"avx512": ("avx512f", "avx512bw"), "vnni": ("avx512f", "avx512bw", "avx512vnni"),
                 "vnnis": ("avx512f", "avx512bw", "avx512vnni")}

#: Environment switch: ``portable`` forces the portable kernels even where the CPU has
#: the instructions (``auto``, the default, uses them when present).
BACKEND_ENV = "SPARSESIM_INT8_BACKEND"
_BACKEND = {"value": None}


@functools.lru_cache(maxsize=None)
def host_features() -> frozenset:
    """CPU features Numba compiles for (LLVM names such as ``avx512vnni``).

    Follows Numba's own target choice: ``NUMBA_CPU_FEATURES`` when set, nothing
    when ``NUMBA_CPU_NAME`` names a CPU other than the host (a generic build must
    not contain AVX-512), else the host CPU's features as LLVM detects them.
    """
    from numba.core import config

    feats = getattr(config, "CPU_FEATURES", None)
    if feats:
        return frozenset(f[1:] for f in str(feats).split(",") if f.startswith("+"))
    name = getattr(config, "CPU_NAME", None)
    if name and name != "host":
        return frozenset()
    import llvmlite.binding as llvm

    f = llvm.get_host_cpu_features()
    return frozenset(k for k in f if f[k])


def set_backend(value: str | None) -> None:
    """``"auto"`` (default), ``"portable"`` (never issue AVX-512 int8 instructions) or
    ``None`` (back to the environment variable ``SPARSESIM_INT8_BACKEND``)."""
    if value not in (None, "auto", "portable"):
        raise ValueError(f"backend must be 'auto', 'portable' or None, got {value!r}")
    _BACKEND["value"] = value


def backend() -> str:
    v = _BACKEND["value"] or os.environ.get(BACKEND_ENV, "auto").strip().lower() or "auto"
    return v if v in ("auto", "portable") else "auto"


def has_path(path: str) -> bool:
    """True when the int8 tiles of ``path`` (``avx512``, ``vnni``, ``vnnis``, or ``shuffle``
    for the sparse tile: VPSHUFB + VPDPBUSD) will run on this machine."""
    if backend() == "portable":
        return False
    need = PATH_FEATURES.get(path, PATH_FEATURES["vnni"])
    feats = host_features()
    return all(f in feats for f in need)


# ---------------------------------------------------------------- IR helpers
def _target_has(features) -> bool:
    return all(f in host_features() for f in features)


def _trap(context, builder):
    """Code for a tile the compile target cannot execute: never reached, because callers
    check :func:`has_path` first; it lets one kernel hold every path and still compile."""
    builder.call(_intrinsic_fn(builder, "llvm.trap", ir.VoidType(), []), [])
    return context.get_dummy_value()


def _intrinsic_fn(builder, name, ret, args):
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(ret, args), name)


def _vnni_byte_type():
    """LLVM >= 21 types the byte sources of the VNNI intrinsics as <64 x i8>."""
    import llvmlite.binding as llvm

    return V64I8 if llvm.llvm_version_info[0] >= 21 else V16I32


def _vpdpbusd(builder, acc, a_u8, b_s8, saturate=False):
    bt = _vnni_byte_type()
    name = "llvm.x86.avx512.vpdpbusds.512" if saturate else "llvm.x86.avx512.vpdpbusd.512"
    fn = _intrinsic_fn(builder, name, V16I32, [V16I32, bt, bt])
    return builder.call(fn, [acc, builder.bitcast(a_u8, bt), builder.bitcast(b_s8, bt)])


def _three_instruction(builder, acc, a_u8, b_s8, ones):
    """VPMADDUBSW (u8 x s8 pairs, s16 saturation) -> VPMADDWD with ones -> VPADDD."""
    f1 = _intrinsic_fn(builder, "llvm.x86.avx512.pmaddubs.w.512", V32I16, [V64I8, V64I8])
    f2 = _intrinsic_fn(builder, "llvm.x86.avx512.pmaddw.d.512", V16I32, [V32I16, V32I16])
    s16 = builder.call(f1, [builder.bitcast(a_u8, V64I8), builder.bitcast(b_s8, V64I8)])
    return builder.add(acc, builder.call(f2, [s16, ones]))


def _vpshufb(builder, x, ctrl):
    fn = _intrinsic_fn(builder, "llvm.x86.avx512.pshuf.b.512", V64I8, [V64I8, V64I8])
    return builder.call(fn, [builder.bitcast(x, V64I8), builder.bitcast(ctrl, V64I8)])


def _data(context, builder, aryty, ary):
    return context.make_array(aryty)(context, builder, ary).data


def _at(builder, base, offset):
    """Byte pointer ``base + offset`` (``base`` an i8* / i32* array data pointer)."""
    return builder.gep(base, [offset])


def _load_vec(builder, ptr):
    return builder.load(builder.bitcast(ptr, V16I32.as_pointer()), align=1)


def _store_vec(builder, ptr, v):
    builder.store(v, builder.bitcast(ptr, V16I32.as_pointer()), align=1)


def _splat(builder, scalar, vec_type, lanes):
    undef = ir.Constant(vec_type, ir.Undefined)
    one = builder.insert_element(undef, scalar, ir.Constant(I32, 0))
    return builder.shuffle_vector(one, undef, ir.Constant(ir.VectorType(I32, lanes), [0] * lanes))


def _broadcast_d(builder, ptr):
    """VPBROADCASTD zmm, m32: 4 bytes to all 16 dword lanes."""
    x = builder.load(builder.bitcast(ptr, I32.as_pointer()), align=1)
    return _splat(builder, x, V16I32, 16)


def _broadcast_bytes(builder, ptr, nbytes):
    """8 bytes (VPBROADCASTQ) or 16 bytes (VBROADCASTI32X4) repeated over the register."""
    if nbytes == 8:
        x = builder.load(builder.bitcast(ptr, I64.as_pointer()), align=1)
        v = _splat(builder, x, ir.VectorType(I64, 8), 8)
    else:
        x = builder.load(builder.bitcast(ptr, ir.VectorType(I64, 2).as_pointer()), align=1)
        v = builder.shuffle_vector(x, x, ir.Constant(ir.VectorType(I32, 8), [0, 1] * 4))
    return builder.bitcast(v, V16I32)


def _intp(context, builder, ty, v):
    return context.cast(builder, v, ty, types.intp)


# ---------------------------------------------------------------- tiles
#: Register tile of :func:`dense_tile`: MR rows x NR column registers (16 accumulators).
DENSE_MR, DENSE_NR = 4, 4
#: Register tile of :func:`sparse_tile`: MR activation columns x one 16-row block.
SPARSE_MR = 16


def _literal(ty):
    """The value of a compile-time integer constant, or None (Numba then retries with literals)."""
    return ty.literal_value if isinstance(ty, types.IntegerLiteral) else None


@intrinsic
def dense_tile(typingctx, path, a, a0, lda, w, w0, wstride, c, c0, ldc, steps, accumulate):
    """``dense_tile(path, a, a0, lda, w, w0, wstride, c, c0, ldc, steps, accumulate)``.

    ``path`` (a literal: 0 VPMADDUBSW+VPMADDWD+VPADDD, 1 VPDPBUSD, 2 VPDPBUSDS).
    ``a`` uint8 (flat): row ``r`` of the tile starts at ``a0 + r*lda``, step ``t`` reads
    bytes ``4t..4t+3``.  ``w`` int8 (flat): column register ``j`` of step ``t`` is the
    64 bytes at ``w0 + j*wstride + 64t``.  ``c`` int32 (flat): accumulator (r, j) is
    the 16 lanes at ``c0 + r*ldc + 16j``; it starts at zero, or at C's value when
    ``accumulate`` is true, and is stored back after ``steps`` steps.
    """
    if _literal(path) is None:
        return None
    kind = DENSE_PATHS[_literal(path)]
    sig = types.void(path, a, a0, lda, w, w0, wstride, c, c0, ldc, steps, accumulate)
    mr, nr = DENSE_MR, DENSE_NR

    def codegen(context, builder, signature, args):
        if not _target_has(PATH_FEATURES[kind]):
            return _trap(context, builder)
        tys = signature.args
        a0v, ldav, w0v, wsv, c0v, ldcv, stepsv = (_intp(context, builder, tys[i], args[i])
                                                  for i in (2, 3, 5, 6, 8, 9, 10))
        pa = _data(context, builder, tys[1], args[1])
        pw = _data(context, builder, tys[4], args[4])
        pc = _data(context, builder, tys[7], args[7])
        accumulate_ = context.cast(builder, args[11], tys[11], types.boolean)
        ones = ir.Constant(V32I16, [1] * 32)
        cptr = [[_at(builder, pc, _lin(builder, c0v, (ldcv, r), 16 * j)) for j in range(nr)] for r in range(mr)]
        accs = _init_accumulators(builder, cptr, accumulate_)
        with cgutils.for_range(builder, stepsv) as loop:
            t = loop.index
            wregs = [_load_vec(builder, _at(builder, pw, _lin(builder, w0v, (wsv, j), (t, 64)))) for j in range(nr)]
            for r in range(mr):
                bc = _broadcast_d(builder, _at(builder, pa, _lin(builder, a0v, (ldav, r), (t, 4))))
                for j in range(nr):
                    acc = builder.load(accs[r][j])
                    if kind == "avx512":
                        acc = _three_instruction(builder, acc, bc, wregs[j], ones)
                    else:
                        acc = _vpdpbusd(builder, acc, bc, wregs[j], saturate=kind == "vnnis")
                    builder.store(acc, accs[r][j])
        _store_accumulators(builder, cptr, accs)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def sparse_tile(typingctx, step_bytes, path, transpose, ap, ap0, b, b0, c, c0, ldc, steps, fix, fix0):
    """``sparse_tile(step_bytes, path, transpose, ap, ap0, b, b0, c, c0, ldc, steps, fix, fix0)``:
    one 16-row block of the sparse operand against MR = 16 activation columns.

    ``step_bytes`` (literal 8 or 16): activation bytes per step.  ``path`` (literal):
    1 = VPSHUFB -> VPDPBUSD; 0 = VPSHUFB -> VPMADDUBSW (the routed pairs, kept slots
    (0, 1) and (2, 3) of each lane, saturate to s16) -> VPMADDWD with ones -> VPADDD.
    ``ap`` int8 (flat): step ``t`` holds 64 value bytes (16 lanes x 4 kept s8) at
    ``ap0 + 128t`` and 64 VPSHUFB control bytes at ``ap0 + 128t + 64`` (a byte
    position among the step's activations; 0x80 selects zero).  ``b`` uint8 (flat):
    step ``t``, column ``n`` is ``step_bytes`` bytes at ``b0 + (t*MR + n)*step_bytes``.
    After ``steps`` steps each lane ``j`` gets ``fix[fix0 + j]`` (int64, taken modulo
    2**32) subtracted; then, ``transpose`` (literal) 0: accumulator ``n`` (one lane per
    row of the block) is stored to ``c[c0 + n*ldc ...]``; 1: the 16 x 16 tile is
    transposed in registers and row ``j`` (16 columns) stored to ``c[c0 + j*ldc ...]``.
    """
    width = _literal(step_bytes)
    kind = _literal(path)
    trans = _literal(transpose)
    if width not in (8, 16) or kind not in (0, 1) or trans not in (0, 1):
        return None
    sig = types.void(step_bytes, path, transpose, ap, ap0, b, b0, c, c0, ldc, steps, fix, fix0)
    mr = SPARSE_MR
    need = PATH_FEATURES["vnni" if kind == 1 else "avx512"]

    def codegen(context, builder, signature, args):
        if not _target_has(need):
            return _trap(context, builder)
        tys = signature.args
        ap0v, b0v, c0v, ldcv, stepsv, fix0v = (_intp(context, builder, tys[i], args[i]) for i in (4, 6, 8, 9, 10, 12))
        pa = _data(context, builder, tys[3], args[3])
        pb = _data(context, builder, tys[5], args[5])
        pc = _data(context, builder, tys[7], args[7])
        pf = _data(context, builder, tys[11], args[11])
        ones = ir.Constant(V32I16, [1] * 32)
        accs = _init_accumulators(builder, [[None] for _ in range(mr)], None)
        with cgutils.for_range(builder, stepsv) as loop:
            t = loop.index
            base = _lin(builder, ap0v, (t, 128))
            vals = _load_vec(builder, _at(builder, pa, base))
            ctrl = _load_vec(builder, _at(builder, pa, _lin(builder, base, 64)))
            for n in range(mr):
                bc = _broadcast_bytes(builder, _at(builder, pb, _lin(builder, b0v, (t, mr * width), n * width)), width)
                routed = _vpshufb(builder, bc, ctrl)  # the multiplexer: each lane's 4 activations
                acc = builder.load(accs[n][0])
                if kind == 1:
                    acc = _vpdpbusd(builder, acc, routed, vals)
                else:
                    acc = _three_instruction(builder, acc, routed, vals, ones)
                builder.store(acc, accs[n][0])
        fix64 = builder.load(builder.bitcast(_at(builder, pf, fix0v), ir.VectorType(I64, 16).as_pointer()), align=1)
        fixv = builder.trunc(fix64, V16I32)  # modulo 2**32
        rows = [builder.sub(builder.load(accs[n][0]), fixv) for n in range(mr)]
        if trans:
            rows = _transpose16(builder, rows)
        for j, v in enumerate(rows):
            _store_vec(builder, _at(builder, pc, _lin(builder, c0v, (ldcv, j))), v)
        return context.get_dummy_value()

    return sig, codegen


def _transpose16(builder, v):
    """16 x 16 int32 transpose in registers: for each lane bit h, rows i and i + h swap
    the lanes where their bit h differs (two-source shuffles, 64 in all)."""
    v = list(v)
    h = 8
    while h:
        lo = [j if not j & h else 16 + j - h for j in range(16)]
        hi = [j + h if not j & h else 16 + j for j in range(16)]
        for i in range(16):
            if i & h:
                continue
            a, c = v[i], v[i + h]
            v[i] = builder.shuffle_vector(a, c, ir.Constant(ir.VectorType(I32, 16), lo))
            v[i + h] = builder.shuffle_vector(a, c, ir.Constant(ir.VectorType(I32, 16), hi))
        h //= 2
    return v


def _lin(builder, base, *terms):
    """``base + sum(terms)`` in intp; a term is a constant or a ``(value, constant)`` product."""
    out = base
    for term in terms:
        if isinstance(term, tuple):
            term = builder.mul(term[0], ir.Constant(I64, term[1]))
        else:
            term = ir.Constant(I64, term)
        out = builder.add(out, term)
    return out


def _init_accumulators(builder, cptr, accumulate):
    accs = [[cgutils.alloca_once(builder, V16I32) for _ in row] for row in cptr]
    zero = ir.Constant(V16I32, None)
    if accumulate is None:
        for row in accs:
            for slot in row:
                builder.store(zero, slot)
        return accs
    with builder.if_else(accumulate) as (then, otherwise):
        with then:
            for row, ptrs in zip(accs, cptr):
                for slot, p in zip(row, ptrs):
                    builder.store(_load_vec(builder, p), slot)
        with otherwise:
            for row in accs:
                for slot in row:
                    builder.store(zero, slot)
    return accs


def _store_accumulators(builder, cptr, accs):
    for row, ptrs in zip(accs, cptr):
        for slot, p in zip(row, ptrs):
            _store_vec(builder, p, builder.load(slot))
