"""Pareto fronts of a design space: the designs no other design beats on every objective.

A point *dominates* another when it is at least as good in every objective and strictly
better in one.  The front is the set of points nothing dominates.  Ties: points with equal
objective vectors do not dominate each other, so they are on the front together or off it
together.  Points with a missing (None) or NaN objective are left out.
"""

from __future__ import annotations

import math

SENSES = ("min", "max")


def _usable(vec) -> bool:
    return all(v is not None and not (isinstance(v, float) and math.isnan(v)) for v in vec)


def dominates(a, b) -> bool:
    """Whether objective vector ``a`` dominates ``b`` (all objectives minimised)."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def pareto_front(points, senses=None) -> list[int]:
    """Indices (in input order) of the non-dominated points.

    ``points``: a sequence of objective vectors (tuples of numbers, one per objective);
    ``senses``: ``"min"`` or ``"max"`` per objective (default: minimise all).

    Sorting the (minimised) vectors lexicographically puts every point after all points
    that dominate it, so one pass comparing each point with the front found so far is
    enough (a point dominated by an off-front point is dominated by a front point too).
    """
    points = [tuple(p) for p in points]
    width = len(points[0]) if points else 0
    senses = tuple(senses or ("min",) * width)
    if any(s not in SENSES for s in senses):
        raise ValueError(f"senses must be 'min' or 'max', got {senses!r}")
    if any(len(p) != len(senses) for p in points):
        raise ValueError(f"every point needs {len(senses)} objectives")
    keyed = [(tuple(v if s == "min" else -v for v, s in zip(p, senses)), i)
             for i, p in enumerate(points) if _usable(p)]
    keyed.sort()
    front: list[tuple] = []
    keep = []
    for vec, i in keyed:
        if not any(dominates(f, vec) for f in front):
            keep.append(i)
            if not front or front[-1] != vec:
                front.append(vec)
    return sorted(keep)
