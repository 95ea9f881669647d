"""Resource limits of a simulation, checked before any work starts (docs/limits.md).

Every mode refuses a GEMM dimension above ``max_dim`` or an operand (``m*k``,
``k*n``, ``m*n``) above ``max_elements``: far beyond any accelerator's memory, and
the bound under which the wave schedule's integer arithmetic stays exact.  Mode
``"full"`` simulates every SM, CTA and event, so it refuses more than
``full_cta_iterations`` simulated CTA-iterations; mode ``"exec"`` computes C for real, so it refuses a
product whose working memory would exceed ``exec_bytes`` or whose multiply-adds
exceed ``exec_macs``.  The last three are raised with
``simulate(..., limits=Limits(...))`` or ``sparsesim simulate --limit NAME=VALUE``.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass

from ..errors import InputError, LimitError


@dataclass(frozen=True)
class Limits:
    max_dim: int = 2**40
    max_elements: int = 2**56
    full_cta_iterations: int = 300_000  # about half a minute of event-by-event simulation
    exec_bytes: int = 2 * 2**30  # working memory of the functional product
    exec_macs: int = 2**33  # multiply-adds of the functional product (seconds, not hours)


DEFAULT_LIMITS = Limits()
RAISABLE = ("full_cta_iterations", "exec_bytes", "exec_macs")


def resolve(limits) -> Limits:
    if limits is None:
        return DEFAULT_LIMITS
    if not isinstance(limits, Limits):
        raise InputError(f"limits must be a sparsesim.timing.Limits, got {type(limits).__name__}")
    for f in dataclasses.fields(Limits):
        v = getattr(limits, f.name)
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
            raise InputError(f"limit {f.name} must be a positive integer, got {v!r}")
    for name in ("max_dim", "max_elements"):
        if getattr(limits, name) > getattr(DEFAULT_LIMITS, name):
            raise InputError(f"limit {name} cannot be raised above {getattr(DEFAULT_LIMITS, name)}")
    return limits


def check_dims(m, n, k, limits: Limits):
    """``(m, n, k)`` as ints, or :class:`InputError` / :class:`LimitError`."""
    dims = []
    for name, v in (("m", m), ("n", n), ("k", k)):
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v <= 0:
            raise InputError(f"GEMM dimension {name} must be a positive int, got {v!r}")
        if v > limits.max_dim:
            raise LimitError(f"GEMM dimension {name} = {v} is above the largest the model takes "
                             f"({limits.max_dim} = 2**{limits.max_dim.bit_length() - 1})")
        dims.append(int(v))
    m, n, k = dims
    for label, count in (("A (m*k)", m * k), ("B (k*n)", k * n), ("C (m*n)", m * n)):
        if count > limits.max_elements:
            raise LimitError(f"operand {label} has {count} elements, above the largest the model takes "
                             f"({limits.max_elements} = 2**{limits.max_elements.bit_length() - 1})")
    return m, n, k


#: Working memory of mode "exec" per element of A, of B and of C: operand copies, their
#: encodings, per-step counts and the fp32 image (measured on the exec engine's allocations).
EXEC_WORKSPACE = (24, 8, 12)


def exec_bytes(m: int, n: int, k: int) -> int:
    """Memory mode "exec" allocates for an ``m x n x k`` product (:data:`EXEC_WORKSPACE`)."""
    wa, wb, wc = EXEC_WORKSPACE
    return wa * m * k + wb * k * n + wc * m * n


def check_exec(m: int, n: int, k: int, limits: Limits) -> None:
    need = exec_bytes(m, n, k)
    if need > limits.exec_bytes:
        raise LimitError(f"{m}x{n}x{k} is too large for mode 'exec': it would need about {need / 2**30:.1f} GiB "
                         f"(limit {limits.exec_bytes / 2**30:.1f} GiB; raise limits.exec_bytes, "
                         "or --limit exec_bytes=N)")
    if m * n * k > limits.exec_macs:
        raise LimitError(f"{m}x{n}x{k} is too large for mode 'exec': {m * n * k} multiply-adds "
                         f"(limit {limits.exec_macs}; raise limits.exec_macs, or --limit exec_macs=N)")


def check_full(need: int, limits: Limits) -> None:
    if need > limits.full_cta_iterations:
        raise LimitError(f"mode 'full' would simulate {need} CTA-iterations (limit {limits.full_cta_iterations}); "
                         "use mode 'statistical', which fast-forwards them, or raise limits.full_cta_iterations "
                         "(--limit full_cta_iterations=N)")


def parse_overrides(items) -> Limits:
    """``["exec_bytes=8e9", ...]`` (from ``--limit``) as :class:`Limits`."""
    values = {}
    for item in items or ():
        name, sep, text = str(item).partition("=")
        name = name.strip()
        if not sep or name not in RAISABLE:
            raise InputError(f"--limit {item!r}: expected NAME=VALUE with NAME one of {', '.join(RAISABLE)}")
        try:
            v = float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:
            raise InputError(f"--limit {item!r}: {text!r} is not a number") from None
        if not (v >= 1 and v == v and v != float("inf")) or (isinstance(v, float) and not v.is_integer()):
            raise InputError(f"--limit {item!r}: expected a positive whole number")
        values[name] = int(v)
    return dataclasses.replace(DEFAULT_LIMITS, **values)
