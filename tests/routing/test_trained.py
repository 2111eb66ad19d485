"""The router file: learns a learnable signal, round-trips, routes by threshold or WTP."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from fleetcost.errors import BadRequest
from fleetcost.routing.data import Benchmark, Query
from fleetcost.routing.trained import load_router, train
from tests.routing.fixtures import STRONG, WEAK

TOPICS = ["algebra proof", "integral calculus", "history of rome", "poem about rain"]


def _bench(n: int = 120) -> Benchmark:
    rng = random.Random(7)
    queries = []
    for i in range(n):
        topic = TOPICS[i % 4]
        hard = topic in ("algebra proof", "integral calculus")
        filler = " ".join(rng.choice(["please", "now", "kindly", "today"]) for _ in range(5))
        weak_ok = not hard or rng.random() < 0.1
        queries.append(Query(f"{filler} {topic} question {i}",
                             {WEAK: float(weak_ok), STRONG: 1.0}))
    return Benchmark("synthetic", (WEAK, STRONG), tuple(queries))


def test_learns_which_prompts_need_the_strong_model(tmp_path: Path) -> None:
    bench = _bench()
    router = train(bench, range(len(bench.queries)), WEAK, STRONG, seed=1)
    hard = router.prob_weak_ok("kindly now please today now integral calculus question 99")
    easy = router.prob_weak_ok("kindly now please today now history of rome question 99")
    assert hard < router.threshold <= easy
    poem, proof = (f"please now kindly today now {t} question 5"
                   for t in ("poem about rain", "algebra proof"))
    assert router.route(poem) == WEAK
    assert router.route(proof) == STRONG
    assert router.route(proof, willingness_to_pay=0.0) == WEAK
    assert router.route(poem, willingness_to_pay=1.0) == STRONG
    assert router.training["rows"] == 120 and router.training["fingerprint"].startswith("sha256:")

    path = tmp_path / "router.json"
    router.save(path)
    again = load_router(path)
    assert (again.weak_model, again.strong_model) == (WEAK, STRONG)
    assert again.threshold == router.threshold
    assert again.prob_weak_ok("a new prompt about algebra proof") == pytest.approx(
        router.prob_weak_ok("a new prompt about algebra proof"), abs=1e-12)


def test_bad_router_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text("{}")
    with pytest.raises(BadRequest, match="not a fleetcost router"):
        load_router(path)
    router = train(_bench(), range(120), WEAK, STRONG)
    data = router.to_dict()
    data["weights"] = data["weights"][:-1]
    path.write_text(json.dumps(data))
    with pytest.raises(BadRequest, match="do not match"):
        load_router(path)
    with pytest.raises(BadRequest, match="at least 12 rows"):
        train(_bench(), range(5), WEAK, STRONG)
