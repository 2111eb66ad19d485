"""The cost-quality curve of a routing policy and the numbers read off it.

A policy, whatever it is, ends up ranking the queries: the ones it would send
to the strong model first. Sending the top k of n to the strong model gives
one point of the curve (strong share k/n, mean quality, mean cost); sweeping
k from 0 to n gives the whole curve, which is what sweeping a threshold or a
willingness to pay does. From it:

- PGR(k) = (quality(k) - quality(weak only)) / (quality(strong only) - quality(weak only))
- APGR: area under PGR over the strong share from 0 to 1 (trapezoid);
  random routing gives 0.5, the oracle bounds what any ranking can do.
- CPT(x): the smallest strong share whose PGR reaches x.
- cost reduction at 95%: 1 - (cheapest cost reaching 95% of the strong
  model's quality) / (cost of sending everything to the strong model).

A cascade pays the weak model on every query and the strong one on top for
the escalated ones, so its cost differs from a router's at the same share.
Money stays Decimal: totals are exact sums; a per-query mean is rounded to
the pico-dollar only when it is divided out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

_PICO = Decimal("1e-12")
_EPS = 1e-12


@dataclass(frozen=True)
class Outcomes:
    """Per-query quality and cost of the weak and the strong model, index-aligned."""

    weak_quality: Sequence[float]
    strong_quality: Sequence[float]
    weak_cost: Sequence[Decimal]
    strong_cost: Sequence[Decimal]

    def __len__(self) -> int:
        return len(self.weak_quality)

    @property
    def weak_mean(self) -> float:
        return sum(self.weak_quality) / len(self)

    @property
    def strong_mean(self) -> float:
        return sum(self.strong_quality) / len(self)

    def strong_only_cost(self) -> Decimal:
        return _mean(sum(self.strong_cost, Decimal(0)), len(self))


@dataclass(frozen=True)
class Point:
    strong_share: float
    quality: float
    cost_per_query: Decimal


def _mean(total: Decimal, n: int) -> Decimal:
    return (total / n).quantize(_PICO)


def curve(data: Outcomes, order: Sequence[int], *, cascade: bool = False) -> list[Point]:
    """Points for k = 0..n where the first k indices of `order` go to the strong model."""
    n = len(data)
    if sorted(order) != list(range(n)):
        raise ValueError("order must be a permutation of the query indices")
    quality = sum(data.weak_quality)
    money = sum(data.weak_cost, Decimal(0))
    points = [Point(0.0, quality / n, _mean(money, n))]
    for k, i in enumerate(order, start=1):
        quality += data.strong_quality[i] - data.weak_quality[i]
        money += data.strong_cost[i] if cascade else data.strong_cost[i] - data.weak_cost[i]
        points.append(Point(k / n, quality / n, _mean(money, n)))
    return points


def random_curve(data: Outcomes, steps: int | None = None) -> list[Point]:
    """The expected curve of routing a random share: a straight line, APGR exactly 0.5."""
    n = len(data)
    steps = steps or n
    qw, qs = data.weak_mean, data.strong_mean
    cw = sum(data.weak_cost, Decimal(0))
    cs = sum(data.strong_cost, Decimal(0))
    points = []
    for k in range(steps + 1):
        share = Decimal(k) / steps
        money = cw + (cs - cw) * share
        points.append(Point(k / steps, qw + (qs - qw) * k / steps, _mean(money, n)))
    return points


def oracle_order(data: Outcomes) -> list[int]:
    """Queries by what the strong model adds, the cheapest gains first among equals."""
    gain = [s - w for s, w in zip(data.strong_quality, data.weak_quality, strict=True)]
    extra = [s - w for s, w in zip(data.strong_cost, data.weak_cost, strict=True)]
    return sorted(range(len(data)), key=lambda i: (-gain[i], extra[i], i))


def pgr(point: Point, data: Outcomes) -> float:
    gap = data.strong_mean - data.weak_mean
    if abs(gap) < _EPS:
        return 1.0
    return (point.quality - data.weak_mean) / gap


def apgr(points: Sequence[Point], data: Outcomes) -> float:
    values = [pgr(p, data) for p in points]
    area = 0.0
    for a, b, pa, pb in zip(points, points[1:], values, values[1:], strict=False):
        area += (b.strong_share - a.strong_share) * (pa + pb) / 2
    return area


def cpt(points: Sequence[Point], data: Outcomes, target: float) -> float | None:
    """Smallest strong share reaching PGR >= target; None if the curve never does."""
    for p in points:
        if pgr(p, data) >= target - _EPS:
            return p.strong_share
    return None


def cheapest_at(points: Sequence[Point], data: Outcomes, fraction: float) -> Point | None:
    """The cheapest point whose quality reaches `fraction` of the strong model's."""
    goal = fraction * data.strong_mean
    ok = [p for p in points if p.quality >= goal - _EPS]
    return min(ok, key=lambda p: (p.cost_per_query, p.strong_share)) if ok else None


def cost_reduction(points: Sequence[Point], data: Outcomes, fraction: float = 0.95) -> float | None:
    best = cheapest_at(points, data, fraction)
    full = data.strong_only_cost()
    if best is None or full <= 0:
        return None
    return float(1 - best.cost_per_query / full)


def thin(points: Sequence[Point], most: int = 101) -> list[Point]:
    """At most `most` evenly spaced points (ends kept) for printing; metrics use all."""
    if len(points) <= most:
        return list(points)
    last = len(points) - 1
    picks = sorted({round(j * last / (most - 1)) for j in range(most)})
    return [points[i] for i in picks]
