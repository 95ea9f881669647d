"""Sparsity pattern specs, parsed in one place for the whole project.

Accepted specs:

* ``"dense"`` - every element kept, density 1.
* ``"N:M"`` - fine-grained structured sparsity: in each group of ``M`` consecutive
  elements along the reduction axis K at most ``N`` are non-zero. ``0 < N < M``
  and ``M`` is a power of two no larger than 16 (1:2, 2:4, 4:8, 2:8, ...).
* ``"unstructured"`` (optionally ``"unstructured:0.3"``) - any position may be
  zero; needs a density in (0, 1].

Specs are ASCII: N, M and a density are written with the digits 0-9 (no signs,
digit separators or other scripts' digits), a density as a plain decimal number
(``0.3``, ``.5``, ``1e-1``).  Case and surrounding blanks do not matter.
"""

from __future__ import annotations

import numbers
import re
from dataclasses import dataclass
from math import comb

from .errors import PatternError

MAX_GROUP = 16
_NM_SPEC = re.compile(r"([0-9]{1,9}):([0-9]{1,9})", re.ASCII)
_DENSITY_SPEC = re.compile(r"(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})(?:e[+-]?[0-9]{1,3})?", re.ASCII)


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
    """A density given as a number (``density=0.3``) or as the text of a spec."""
    if isinstance(value, str):
        ok = _DENSITY_SPEC.fullmatch(value) is not None
    else:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and type(value).__name__ != "bool_"
    if not ok:
        raise PatternError(
            f"pattern {spec!r}: density {value!r} is not a number; expected a float in (0, 1]"
        )
    d = float(value)
    if not (0.0 < d <= 1.0):  # also refuses NaN
        raise PatternError(f"pattern {spec!r}: density {d} is outside (0, 1]")
    return d


def _density_argument(value, spec) -> float:
    """``density=`` must be a number (a spec's text goes through :func:`_parse_density`)."""
    if isinstance(value, str):
        raise PatternError(f"pattern {spec!r}: density {value!r} is a string; pass a number in (0, 1]")
    return _parse_density(value, spec)


def _check_pattern_object(pat: Pattern) -> Pattern:
    """A :class:`Pattern` built by hand passes the same checks as a parsed spec."""
    if pat.kind == "dense" and pat.density == 1.0:
        return pat
    if pat.kind == "unstructured":
        return Pattern("unstructured", _density_argument(pat.density, pat))
    if pat.kind == "nm":
        for v in (pat.n, pat.m):
            if not isinstance(v, numbers.Integral) or isinstance(v, bool):
                raise PatternError(f"pattern {pat!r}: N and M must be integers")
        got = parse_pattern(f"{int(pat.n)}:{int(pat.m)}")
        if abs(got.density - pat.density) > 1e-12:
            raise PatternError(f"pattern {pat!r}: density must be N/M = {got.density:g}")
        return got
    raise PatternError(f"pattern {pat!r} is not understood; kind must be 'dense', 'nm' or 'unstructured'")


def parse_pattern(spec, density: float | None = None) -> Pattern:
    """Parse a pattern spec (string or :class:`Pattern`) into a :class:`Pattern`.

    ``density`` is required for ``"unstructured"`` unless given in the spec as
    ``"unstructured:0.25"``; for dense and N:M it must be omitted or agree with the
    pattern's own density.
    """
    if isinstance(spec, Pattern):
        pat = _check_pattern_object(spec)
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
                d = _density_argument(density, spec)
                density = None
            else:
                raise PatternError(f"pattern {spec!r} is not understood; expected 'unstructured' or 'unstructured:D'")
            pat = Pattern("unstructured", d)
        elif ":" in s:
            nm = _NM_SPEC.fullmatch(s)
            if nm is None:
                raise PatternError(
                    f"pattern {spec!r} is not understood; expected 'N:M' with integers N and M in digits 0-9, "
                    "such as '2:4'"
                )
            n, m = int(nm.group(1)), int(nm.group(2))
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
        d = _density_argument(density, str(spec))
        if pat.is_unstructured:
            pat = Pattern("unstructured", d)
        elif abs(d - pat.density) > 1e-12:
            raise PatternError(
                f"pattern {pat} has a fixed density of {pat.density:g}; density={d:g} contradicts it"
            )
    return pat
