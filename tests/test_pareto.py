"""Pareto fronts: non-dominated sets, ties, senses, missing objectives; against a brute force."""

import math
import random

import pytest

from sparsesim.dse.pareto import dominates, pareto_front


def brute_force(points, senses):
    """Independent reference: keep a point unless some other point is no worse everywhere and
    better somewhere (written out per objective and sense, O(n^2))."""
    keep = []
    for i, p in enumerate(points):
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in p):
            continue
        beaten = False
        for j, q in enumerate(points):
            if j == i or any(v is None or (isinstance(v, float) and math.isnan(v)) for v in q):
                continue
            no_worse = all((qv <= pv) if s == "min" else (qv >= pv) for pv, qv, s in zip(p, q, senses))
            better = any((qv < pv) if s == "min" else (qv > pv) for pv, qv, s in zip(p, q, senses))
            if no_worse and better:
                beaten = True
                break
        if not beaten:
            keep.append(i)
    return keep


def test_two_objectives_by_hand():
    pts = [(1, 5), (2, 3), (3, 4), (4, 1), (2, 6), (5, 1)]
    assert pareto_front(pts) == [0, 1, 3]  # (3,4) beaten by (2,3); (5,1) by (4,1); (2,6) by (1,5)


def test_ties_keep_every_equal_point_or_none():
    pts = [(1, 2), (1, 2), (2, 1), (3, 3), (3, 3)]
    assert pareto_front(pts) == [0, 1, 2]  # equal points do not dominate each other
    assert pareto_front([(1, 1), (1, 1)]) == [0, 1]
    # equal in one objective, better in the other: the better one alone
    assert pareto_front([(1, 2), (1, 3)]) == [0]
    assert not dominates((1, 2), (1, 2)) and dominates((1, 2), (1, 3))


def test_senses_and_missing_values():
    # speedup maximised, energy minimised
    pts = [(2.0, 10.0), (1.5, 5.0), (1.0, 12.0), (2.0, 9.0), (None, 1.0), (3.0, float("nan"))]
    assert pareto_front(pts, ["max", "min"]) == [1, 3]
    assert pareto_front([]) == []
    with pytest.raises(ValueError):
        pareto_front([(1, 2)], ["min", "up"])
    with pytest.raises(ValueError):
        pareto_front([(1, 2), (1,)])


def test_matches_brute_force_on_random_clouds_with_ties():
    rng = random.Random(7)
    for trial in range(200):
        n, d = rng.randint(1, 40), rng.randint(1, 4)
        senses = [rng.choice(["min", "max"]) for _ in range(d)]
        pts = [tuple(float(rng.randint(0, 5)) for _ in range(d)) for _ in range(n)]  # many ties
        if trial % 5 == 0:
            pts[rng.randrange(n)] = (None,) * d
        assert pareto_front(pts, senses) == brute_force(pts, senses), (pts, senses)
