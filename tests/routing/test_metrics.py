"""Metric functions against values worked out by hand (four queries, see each test)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fleetcost.routing import metrics

# weak right on 0 and 3, strong right on 0, 1, 2: the strong model helps on 1 and 2
# and hurts on 3. Weak mean 0.5, strong mean 0.75. Weak $1, strong $10 a call.
DATA = metrics.Outcomes(
    [1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 0.0], [Decimal(1)] * 4, [Decimal(10)] * 4,
)


def test_oracle_curve_and_apgr() -> None:
    order = metrics.oracle_order(DATA)
    assert order == [1, 2, 0, 3]
    points = metrics.curve(DATA, order)
    assert [p.quality for p in points] == [0.5, 0.75, 1.0, 1.0, 0.75]
    assert [metrics.pgr(p, DATA) for p in points] == [0.0, 1.0, 2.0, 2.0, 1.0]
    # trapezoid, step 0.25: 0.25 * (0.5 + 1.5 + 2 + 1.5) = 1.375
    assert metrics.apgr(points, DATA) == pytest.approx(1.375)
    assert metrics.cpt(points, DATA, 0.5) == 0.25
    assert metrics.cpt(points, DATA, 0.8) == 0.25


def test_worst_order_is_negative_and_random_is_half() -> None:
    worst = metrics.curve(DATA, [3, 0, 1, 2])
    # PGR 0, -1, -1, 0, 1 -> 0.25 * (-0.5 - 1 - 0.5 + 0.5) = -0.375
    assert metrics.apgr(worst, DATA) == pytest.approx(-0.375)
    assert metrics.cpt(worst, DATA, 0.8) == 1.0
    assert metrics.apgr(metrics.random_curve(DATA), DATA) == pytest.approx(0.5)


def test_the_oracle_ranking_is_one_on_binary_data_without_regressions() -> None:
    data = metrics.Outcomes([1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0],
                            [Decimal(1)] * 4, [Decimal(2)] * 4)
    points = metrics.curve(data, metrics.oracle_order(data))
    # PGR 0, 0.5, 1, 1, 1 -> 0.25 * (0.25 + 0.75 + 1 + 1) = 0.75; all gain found by share 0.5
    assert metrics.apgr(points, data) == pytest.approx(0.75)
    assert metrics.cpt(points, data, 1.0) == 0.5


def test_cost_exact_and_reduction_at_95() -> None:
    router = metrics.curve(DATA, metrics.oracle_order(DATA))
    assert [p.cost_per_query for p in router] == [
        Decimal("1"), Decimal("3.25"), Decimal("5.5"), Decimal("7.75"), Decimal("10")]
    # 95% of 0.75 = 0.7125, first reached at one strong call: $3.25 of $10
    assert metrics.cost_reduction(router, DATA) == pytest.approx(0.675)
    cascade = metrics.curve(DATA, metrics.oracle_order(DATA), cascade=True)
    # the cascade pays the weak call too: (4 + 10) / 4 = 3.5
    assert cascade[1].cost_per_query == Decimal("3.5")
    assert metrics.cost_reduction(cascade, DATA) == pytest.approx(0.65)


def test_random_curve_is_the_straight_line() -> None:
    points = metrics.random_curve(DATA, steps=4)
    assert [p.quality for p in points] == [0.5, 0.5625, 0.625, 0.6875, 0.75]
    assert [p.cost_per_query for p in points] == [
        Decimal("1"), Decimal("3.25"), Decimal("5.5"), Decimal("7.75"), Decimal("10")]


def test_curve_rejects_a_non_permutation_and_thin_keeps_ends() -> None:
    with pytest.raises(ValueError):
        metrics.curve(DATA, [0, 0, 1, 2])
    many = metrics.random_curve(DATA, steps=1000)
    thin = metrics.thin(many, 11)
    assert len(thin) == 11 and thin[0] == many[0] and thin[-1] == many[-1]
