"""Numba entry points used by the format kernels (compiled lazily, on first call).

Numba widens integer arithmetic to 64 bits; :func:`same_width` and
:func:`unsigned_abs` keep magnitude keys in the element's own width, so LLVM
vectorises the selection loops with as many lanes as the data has (32 fp16 keys
per 512-bit register instead of 8).
"""

from llvmlite import ir
from numba import njit, prange, types  # noqa: F401
from numba.extending import intrinsic


@intrinsic
def same_width(typingctx, x, like):
    """``x`` converted to the integer type of ``like`` (truncating)."""
    if not (isinstance(x, types.Integer) and isinstance(like, types.Integer)):
        return None
    sig = like(x, like)

    def codegen(context, builder, signature, args):
        return context.cast(builder, args[0], signature.args[0], signature.args[1])

    return sig, codegen


@intrinsic
def unsigned_abs(typingctx, v):
    """``|v|`` as the unsigned integer of ``v``'s width (|-128| = 128 fits a uint8)."""
    if not isinstance(v, types.Integer):
        return None
    out = types.Integer.from_bitwidth(v.bitwidth, signed=False)
    sig = out(v)

    def codegen(context, builder, signature, args):
        (x,) = args
        if not signature.args[0].signed:
            return x
        neg = builder.icmp_signed("<", x, ir.Constant(x.type, 0))
        return builder.select(neg, builder.neg(x), x)

    return sig, codegen
