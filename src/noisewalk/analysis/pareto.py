"""The Pareto front of peak accuracy against robustness μ: configurations no other beats on both."""

from __future__ import annotations

import math
from collections.abc import Sequence


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points (accuracy, μ) that no other point dominates, by increasing μ.

    A point dominates another when it is at least as good on both and better on one
    (higher is better on both). Points with a NaN coordinate are never on the front.
    """
    valid = [i for i, (a, m) in enumerate(points) if math.isfinite(a) and math.isfinite(m)]
    front = []
    for i in valid:
        a, m = points[i]
        dominated = any(
            points[j][0] >= a and points[j][1] >= m and (points[j][0] > a or points[j][1] > m) for j in valid
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][1], -points[i][0]))
