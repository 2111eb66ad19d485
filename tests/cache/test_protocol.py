"""The issue's scoring protocol, on hand-built served answers (no model needed for the rates)."""

from __future__ import annotations

import numpy as np
import pytest

from fleetcost.cache.evaluate import Pair, Served, measure, recommend
from fleetcost.cache.train import fit_logistic

ENTRIES = ["How do I learn Python?", "What is 2+2?", "Where is Paris?", "how do i cook rice"]
PAIRS = [
    Pair("How do I learn Python?", "How can I learn Python?", 1),  # served its partner: right
    Pair("What is 2+2?", "What is 3+3?", 0),  # served its label-0 partner: wrong (partner)
    Pair("Where is Paris?", "Where is Paris located?", 1),  # served nothing: a miss
    Pair("What is a wok?", "How do I cook rice?", 0),  # another pair's same text: wrong
]
SERVED = [Served(0, 0.95), Served(1, 0.93), Served(-1, 0.0), Served(3, 0.99)]


def test_headline_counts_every_non_partner_hit_as_wrong() -> None:
    p = measure(PAIRS, SERVED, ENTRIES, 0.90)
    assert p.hit_rate == 3 / 4
    assert p.precision == 1 / 3
    assert p.recall == 1 / 2
    assert p.false_hit_rate == 2 / 2  # label-0 queries served a hit, per label-0 query
    assert p.wrong_hits_per_negative == 2 / 2
    assert p.false_hit_rate_per_query == 2 / 4
    assert (p.false_hits_partner, p.false_hits_other, p.same_text_hits) == (1, 1, 1)
    # the alternative reading leaves the same-text hit out, as an extra field only
    assert p.precision_excl_same_text == 1 / 2
    assert p.false_hit_rate_excl_same_text == 1 / 2


def test_a_positive_served_the_wrong_entry_costs_precision_not_false_hits() -> None:
    """The false-hit rate is a share of the queries that should miss: a label-1 query
    that hits another pair's question is a wrong hit, but not a query that should miss."""
    served = [Served(2, 0.95), Served(-1, 0.0), Served(-1, 0.0), Served(-1, 0.0)]
    p = measure(PAIRS, served, ENTRIES, 0.90)
    assert (p.precision, p.recall, p.false_hit_rate) == (0.0, 0.0, 0.0)
    assert p.wrong_hits_per_negative == 1 / 2 and p.false_hits_other == 1


def test_threshold_cuts_hits_below_it() -> None:
    p = measure(PAIRS, SERVED, ENTRIES, 0.94)
    assert (p.hit_rate, p.recall, p.false_hits_partner) == (2 / 4, 1 / 2, 0)


def test_recommendation_is_reported_on_the_other_half() -> None:
    by_t = {round(0.70 + 0.01 * i, 2): SERVED for i in range(30)}
    rec = recommend(PAIRS, by_t, ENTRIES, 0.9)
    train = [p for p in PAIRS if p.half == 0]
    held = rec["held_out"]
    assert isinstance(held, dict)
    assert held["queries"] == len(PAIRS) - len(train)


def test_logistic_fit_recovers_the_separating_direction() -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4000, 3))
    y = (1 / (1 + np.exp(-(2.0 * x[:, 0] - 1.0 * x[:, 2]))) > rng.random(4000)).astype(float)
    _mean, scale, w = fit_logistic(x, y)
    raw = w[:3] / scale
    assert raw[0] == pytest.approx(2.0, abs=0.25)
    assert raw[1] == pytest.approx(0.0, abs=0.15)
    assert raw[2] == pytest.approx(-1.0, abs=0.2)
