"""`fleetcost eval router`: every policy's cost-quality curve on held-out queries.

Protocol: the queries are shuffled with a fixed seed and cut into a training
split and a test split (`train_fraction`); where a data set has several rows
per conversation (judged turns), a whole conversation stays on one side.
Policies learn on the training split only (features, regularisation,
thresholds) and are scored on the test split. Every call is priced from the
catalog: the prompt's tokens and the answer's tokens (counted from the
recorded answer, or a recorded output length, or the data file's stated
default) at each model's list price.

Policies: `random` (the expected curve of routing a random share), `oracle`
(knows which queries the strong model improves), `length` (longest prompts
to the strong model), `trained` (the trained router, `trained.py`) and
`cascade` (the cheap model answers every query; `answer_gate.py` decides
which answers to escalate), the last only where the data has the weak
model's answers.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from typing import Any

from fleetcost.errors import BadRequest
from fleetcost.pricing import Catalog, cost, format_usd
from fleetcost.routing import metrics
from fleetcost.routing.data import Benchmark, Query
from fleetcost.types import Usage

BASELINES = ("random", "oracle")
POLICIES = ("length", "trained", "trained-per-dollar", "cascade")


@dataclass(frozen=True)
class Settings:
    train_fraction: float = 0.5
    seed: int = 0
    weak: str | None = None
    strong: str | None = None
    policies: tuple[str, ...] = POLICIES
    price_as: dict[str, str] = field(default_factory=dict)
    curve_points: int = 101


def price_table() -> dict[str, Any]:
    text = resources.files("fleetcost.routing").joinpath("eval_prices.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def pick_models(bench: Benchmark, settings: Settings) -> tuple[str, str]:
    """Weak and strong model: given, or the worse and better of exactly two."""
    for name in (settings.weak, settings.strong):
        if name is not None and name not in bench.models:
            raise BadRequest(f"model {name!r} is not in the data; it has: "
                             f"{', '.join(bench.models)}", param="weak/strong")
    if settings.weak and settings.strong:
        return settings.weak, settings.strong
    if len(bench.models) != 2:
        raise BadRequest(f"the data has {len(bench.models)} models; pick two with --weak and "
                         "--strong", param="weak/strong")
    ranked = sorted(bench.models, key=bench.mean_quality)
    return settings.weak or ranked[0], settings.strong or ranked[1]


def split(bench: Benchmark, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices of the training and test queries; conversations are not cut."""
    groups: dict[str, list[int]] = {}
    for i, q in enumerate(bench.queries):
        key = q.group if bench.split_by_group else str(i)
        groups.setdefault(key, []).append(i)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    cut = round(len(keys) * fraction)
    train = sorted(i for k in keys[:cut] for i in groups[k])
    test = sorted(i for k in keys[cut:] for i in groups[k])
    if not train or not test:
        raise BadRequest("--train-fraction leaves one split empty", param="train-fraction")
    return train, test


@dataclass(frozen=True)
class Pricer:
    catalog: Catalog
    aliases: dict[str, str]
    default_output: int

    def entry(self, model: str) -> str:
        name = self.aliases.get(model, model)
        price = self.catalog.get(name)
        if price is None:
            raise BadRequest(f"the catalog cannot price {model!r}; map it with --price-as "
                             f"{model}=CATALOG_MODEL", param="price-as")
        return price.model

    def call_cost(self, query: Query, model: str, count: Callable[[str, str], int]) -> Decimal:
        entry = self.entry(model)
        price = self.catalog.get(entry)
        assert price is not None
        if model in query.responses:
            out = count(query.responses[model], entry)
        else:
            out = query.output_tokens.get(model, self.default_output)
        return cost(Usage(input_tokens=count(query.prompt, entry), output_tokens=out), price)


def outcomes(bench: Benchmark, rows: Sequence[int], weak: str, strong: str,
             pricer: Pricer, count: Callable[[str, str], int]) -> metrics.Outcomes:
    qs = [bench.queries[i] for i in rows]
    return metrics.Outcomes(
        [q.quality[weak] for q in qs], [q.quality[strong] for q in qs],
        [pricer.call_cost(q, weak, count) for q in qs],
        [pricer.call_cost(q, strong, count) for q in qs],
    )


def summary(points: Sequence[metrics.Point], data: metrics.Outcomes,
            most: int) -> dict[str, Any]:
    best = metrics.cheapest_at(points, data, 0.95)
    reduction = metrics.cost_reduction(points, data, 0.95)
    return {
        "apgr": round(metrics.apgr(points, data), 4),
        "cpt50": metrics.cpt(points, data, 0.5),
        "cpt80": metrics.cpt(points, data, 0.8),
        "cost_reduction_at_95": None if reduction is None else round(reduction, 4),
        "strong_share_at_95": None if best is None else best.strong_share,
        "cost_per_query_at_95": None if best is None else format_usd(best.cost_per_query),
        "curve": [{"strong_share": round(p.strong_share, 6), "quality": round(p.quality, 6),
                   "cost_per_query": format_usd(p.cost_per_query)}
                  for p in metrics.thin(points, most)],
    }


def tie_break_order(scores: Sequence[float], seed: int) -> list[int]:
    """Highest score first; equal scores in a seeded random order (not input order,
    which may carry a pattern such as the subject files' order)."""
    jitter = list(range(len(scores)))
    random.Random(seed).shuffle(jitter)
    return sorted(range(len(scores)), key=lambda i: (-scores[i], jitter[i]))


@dataclass(frozen=True)
class Run:
    """What a policy may look at: the training rows, and the test prompts (not their labels)."""

    bench: Benchmark
    train: list[int]
    test: list[int]
    weak: str
    strong: str
    seed: int
    count: Callable[[str, str], int]
    pricer: Pricer
    memo: dict[str, Any] = field(default_factory=dict)  # one trained router per run


def _length(run: Run) -> tuple[list[int], bool]:
    entry = run.pricer.entry(run.weak)
    tokens = [float(run.count(run.bench.queries[i].prompt, entry)) for i in run.test]
    return tie_break_order(tokens, run.seed), False


def _test_probs(run: Run) -> list[float]:
    from fleetcost.routing.trained import train

    if "probs" not in run.memo:
        router = train(run.bench, run.train, run.weak, run.strong, seed=run.seed)
        run.memo["probs"] = [router.prob_weak_ok(run.bench.queries[i].prompt) for i in run.test]
    probs: list[float] = run.memo["probs"]
    return probs


def _trained(run: Run) -> tuple[list[int], bool]:
    from fleetcost.routing.trained import rank_by_prob

    return rank_by_prob(_test_probs(run)), False


def _trained_per_dollar(run: Run) -> tuple[list[int], bool]:
    """The same router, ranking by expected gain per extra dollar: what the gateway
    can compute before the call from the prompt's tokens, both list prices and the
    strong model's mean answer length on the training split."""
    probs = _test_probs(run)
    weak = run.pricer.catalog.get(run.pricer.entry(run.weak))
    strong = run.pricer.catalog.get(run.pricer.entry(run.strong))
    assert weak is not None and strong is not None
    entry = run.pricer.entry(run.strong)
    outs = [_answer_tokens(run, run.bench.queries[i], entry) for i in run.train]
    mean_out = sum(outs) / len(outs)
    scores = []
    for p, i in zip(probs, run.test, strict=True):
        tokens = run.count(run.bench.queries[i].prompt, entry)
        extra = float(tokens * (strong.input - weak.input)
                      + Decimal(mean_out) * (strong.output - weak.output))
        scores.append((1.0 - p) / max(extra, 1e-12))
    return tie_break_order(scores, run.seed), False


def _answer_tokens(run: Run, query: Query, entry: str) -> int:
    if run.strong in query.responses:
        return run.count(query.responses[run.strong], entry)
    return query.output_tokens.get(run.strong, run.pricer.default_output)


def _cascade(run: Run) -> tuple[list[int], bool]:
    from fleetcost.routing.answer_gate import train_gate
    from fleetcost.routing.trained import quality_only, rank_by_prob

    qs = [run.bench.queries[i] for i in run.train]
    wq = [q.quality[run.weak] for q in qs]
    sq = [q.quality[run.strong] for q in qs]

    def fold_apgr(held: Sequence[int], p: Any) -> float:
        data = quality_only([wq[i] for i in held], [sq[i] for i in held])
        return metrics.apgr(metrics.curve(data, rank_by_prob(list(p))), data)

    gate = train_gate([q.prompt for q in qs], [q.responses[run.weak] for q in qs],
                      [w >= s for w, s in zip(wq, sq, strict=True)], fold_apgr, seed=run.seed)
    tests = [run.bench.queries[i] for i in run.test]
    probs = [gate.prob_ok(q.prompt, q.responses[run.weak]) for q in tests]
    return rank_by_prob(probs), True


POLICY_RUNNERS: dict[str, Callable[[Run], tuple[list[int], bool]]] = {
    "length": _length, "trained": _trained, "trained-per-dollar": _trained_per_dollar,
    "cascade": _cascade,
}


def token_counter() -> Callable[[str, str], int]:
    import functools

    from fleetcost.pricing.tokens import count_text

    @functools.lru_cache(maxsize=1 << 16)
    def count(text: str, model: str) -> int:
        return count_text(text, model).tokens

    return count


# Policies that need no fitted model, so no numpy (the demo reads the length rule's curve).
NO_NUMPY = frozenset({"random", "oracle", "length"})


def evaluate(bench: Benchmark, settings: Settings, catalog: Catalog) -> dict[str, Any]:
    from fleetcost.routing.fit import require_numpy

    if set(settings.policies) - NO_NUMPY:
        require_numpy()  # only the trained policies fit a model
    weak, strong = pick_models(bench, settings)
    train, test = split(bench, settings.train_fraction, settings.seed)
    table = price_table()
    pricer = Pricer(catalog, {**table["aliases"], **settings.price_as},
                    int(table["default_output_tokens"]))
    run = Run(bench, train, test, weak, strong, settings.seed, token_counter(), pricer)
    data = outcomes(bench, test, weak, strong, pricer, run.count)
    curves: dict[str, tuple[list[metrics.Point], bool]] = {
        "random": (metrics.random_curve(data), False),
        "oracle": (metrics.curve(data, metrics.oracle_order(data)), False),
    }
    skipped = {}
    for name in settings.policies:
        if name == "cascade" and not bench.has_responses(weak):
            skipped[name] = f"the data has no answers of {weak} for the gate to read"
            continue
        order, cascade = POLICY_RUNNERS[name](run)
        curves[name] = (metrics.curve(data, order, cascade=cascade), cascade)
    policies = {}
    for name, (points, cascade) in curves.items():
        policies[name] = {"kind": "cascade" if cascade else "router",
                          **summary(points, data, settings.curve_points)}
    return {
        "benchmark": bench.name, "weak_model": weak, "strong_model": strong,
        "prices": {weak: pricer.entry(weak), strong: pricer.entry(strong)},
        "rows": {"train": len(train), "test": len(test)},
        "train_fraction": settings.train_fraction, "seed": settings.seed,
        "weak_quality": round(data.weak_mean, 6), "strong_quality": round(data.strong_mean, 6),
        "weak_cost_per_query": format_usd(curves["random"][0][0].cost_per_query),
        "strong_cost_per_query": format_usd(data.strong_only_cost()),
        "policies": policies, "skipped": skipped,
    }
