"""Sparsity pattern specs, parsed in one place for the whole project.

Accepted specs:

* ``"dense"`` - every element kept, density 1.
* ``"N:M"`` - fine-grained structured sparsity: in each group of ``M`` consecutive
  elements along the reduction axis K at most ``N`` are non-zero. ``0 < N < M``
  and ``M`` is a power of two no larger than 16 (1:2, 2:4, 4:8, 2:8, ...).
* ``"unstructured"`` (optionally ``"unstructured:0.3"``) - any position may be
  zero; needs a density in (0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

from .errors import PatternError

MAX_GROUP = 16


@dataclass(frozen=True)
class Pattern:
    """A parsed sparsity pattern.

    ``kind`` is ``"dense"``, ``"nm"`` or ``"unstructured"``; ``n``/``m`` are set for
    N:M; ``density`` is the fraction of kept elements (N/M for N:M, 1 for dense).
    """

    kind: str
    density: float
    n: int = 0
    m: int = 0

    @property
    def is_dense(self) -> bool:
        return self.kind == "dense"

    @property
    def is_nm(self) -> bool:
        return self.kind == "nm"

    @property
    def is_unstructured(self) -> bool:
        return self.kind == "unstructured"

    @property
    def index_bits(self) -> int:
        """Bits of one per-kept-element index: ceil(log2 M)."""
        self._need_nm("index_bits")
        return (self.m - 1).bit_length()

    @property
    def combinatorial_bits(self) -> int:
        """Bits of one per-group combinatorial code: ceil(log2 C(M, N))."""
        self._need_nm("combinatorial_bits")
        return (comb(self.m, self.n) - 1).bit_length()

    def _need_nm(self, what: str) -> None:
        if not self.is_nm:
            raise PatternError(f"{what} is defined for N:M patterns only, not for {self}")

    def __str__(self) -> str:
        if self.is_dense:
            return "dense"
        if self.is_nm:
            return f"{self.n}:{self.m}"
        return f"unstructured:{self.density:g}"


def _parse_density(value, spec) -> float:
    try:
        d = float(value)
    except (TypeError, ValueError):
        raise PatternError(
            f"pattern {spec!r}: density {value!r} is not a number; expected a float in (0, 1]"
        ) from None
    if not (0.0 < d <= 1.0):
        raise PatternError(f"pattern {spec!r}: density {d} is outside (0, 1]")
    return d


def parse_pattern(spec, density: float | None = None) -> Pattern:
    """Parse a pattern spec (string or :class:`Pattern`) into a :class:`Pattern`.

    ``density`` is required for ``"unstructured"`` unless given in the spec as
    ``"unstructured:0.25"``; for dense and N:M it must be omitted or agree with the
    pattern's own density.
    """
    if isinstance(spec, Pattern):
        pat = spec
    elif not isinstance(spec, str):
        raise PatternError(
            f"pattern spec must be a string like 'dense', '2:4' or 'unstructured', got {type(spec).__name__}"
        )
    else:
        s = spec.strip().lower()
        if s == "dense":
            pat = Pattern("dense", 1.0)
        elif s.startswith("unstructured"):
            rest = s[len("unstructured"):]
            if rest.startswith(":") and rest[1:] and rest[1:] not in ("csr", "csb", "bitmask"):
                d = _parse_density(rest[1:], spec)
            elif rest in ("", ":csr", ":csb", ":bitmask"):
                if density is None:
                    raise PatternError(
                        f"pattern {spec!r} needs a density in (0, 1] (e.g. density=0.3 or 'unstructured:0.3')"
                    )
                d = _parse_density(density, spec)
                density = None
            else:
                raise PatternError(f"pattern {spec!r} is not understood; expected 'unstructured' or 'unstructured:D'")
            pat = Pattern("unstructured", d)
        elif ":" in s:
            parts = s.split(":")
            if len(parts) != 2:
                raise PatternError(f"pattern {spec!r} is not understood; expected 'N:M' such as '2:4'")
            try:
                n, m = int(parts[0]), int(parts[1])
            except ValueError:
                raise PatternError(f"pattern {spec!r}: N and M must be integers, as in '2:4'") from None
            if n <= 0:
                raise PatternError(f"pattern {spec!r}: N must be at least 1")
            if m < 2 or m & (m - 1) or m > MAX_GROUP:
                raise PatternError(
                    f"pattern {spec!r}: M must be a power of two between 2 and {MAX_GROUP}"
                )
            if n >= m:
                raise PatternError(f"pattern {spec!r}: N must be smaller than M")
            pat = Pattern("nm", n / m, n, m)
        else:
            raise PatternError(
                f"pattern {spec!r} is not understood; expected 'dense', 'N:M' (e.g. '2:4') or 'unstructured'"
            )
    if density is not None:
        d = _parse_density(density, str(spec))
        if pat.is_unstructured:
            pat = Pattern("unstructured", d)
        elif abs(d - pat.density) > 1e-12:
            raise PatternError(
                f"pattern {pat} has a fixed density of {pat.density:g}; density={d:g} contradicts it"
            )
    return pat
