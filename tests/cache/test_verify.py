"""The hit verifiers on small fixed labelled samples, with the real MiniLM and weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetcost.cache.crossverify import Blend
from fleetcost.cache.embed import embed
from fleetcost.cache.learned import LearnedVerifier, PairModel, bundled_path
from fleetcost.cache.netverify import NetVerifier, PairNet, bundled_paths
from fleetcost.cache.verify import CosineVerifier, default_threshold, default_verifier
from fleetcost.config import SemanticCacheConfig

# Short factual sentences and questions restated (label 1), and others one detail apart
# (label 0), written for these tests: the kind the paraphrase target is about.
RESTATEMENTS = Path(__file__).parent / "data" / "restatements.jsonl"

RESTATED = [
    ("How do I learn Python?", "How can I learn Python?"),
    ("What is the capital of France?", "What is the capital city of France?"),
    ("How can I lose weight fast?", "How do I lose weight quickly?"),
    ("What are the health benefits of green tea?", "What health benefits does green tea have?"),
]
# one detail differs (number, year, negation, name, qualifier); cosine >= 0.85 for each
ONE_DETAIL = [
    ("Is a 2 bedroom flat enough for a family of four?",
     "Is a 3 bedroom flat enough for a family of four?"),
    ("What happened in India in 1947?", "What happened in India in 1948?"),
    ("Is it safe to drink tap water in Mexico?", "Is it not safe to drink tap water in Mexico?"),
    ("How do I install Python on Windows?", "How do I install Python on Ubuntu?"),
    ("What is the best laptop for programming?", "What is the cheapest laptop for programming?"),
]
FLOOR = 0.85  # below the shipped floor, so the verifier's own judgement is what is tested


def _cos(a: str, b: str) -> float:
    va, vb = embed([a, b])
    return float(va @ vb)


def test_most_restatements_are_served_at_the_default() -> None:
    """A rate, not each pair: the default (the cross-encoder blend) trades recall for
    precision and refuses some plain restatements (27 of these 44 served when it was
    chosen; "lose weight fast" / "quickly", a topic Quora repeats, is refused)."""
    rows = [json.loads(line) for line in RESTATEMENTS.read_text().splitlines() if line.strip()]
    pairs = [(r["text_a"], r["text_b"]) for r in rows if r["label"] == 1] + RESTATED
    verifier, floor = default_verifier(), default_threshold()
    served = [verifier.verdict(b, a, _cos(a, b), floor) is None for a, b in pairs]
    refused = [p for p, ok in zip(pairs, served, strict=True) if not ok]
    assert sum(served) / len(pairs) >= 0.55, refused


def test_an_opposite_qualifier_is_refused() -> None:
    a, b = "Regular exercise lowers blood pressure.", "Regular exercise raises blood pressure."
    cos = _cos(a, b)
    assert cos >= default_threshold()  # the cosine alone would serve it
    assert default_verifier().verdict(b, a, cos, default_threshold()) == "qualifier"
    assert default_verifier().verdict(a, a, 1.0, default_threshold()) is None


def test_learned_verifier_serves_restatements() -> None:
    verifier, floor = LearnedVerifier(), PairModel.load().threshold
    for a, b in RESTATED:
        cos = _cos(a, b)
        assert verifier.verdict(b, a, cos, floor) is None
        assert verifier.verdict(a, b, cos, floor) is None


@pytest.mark.parametrize(("a", "b"), ONE_DETAIL)
def test_one_detail_apart_is_refused(a: str, b: str) -> None:
    verifier = default_verifier()
    cos = _cos(a, b)
    assert cos >= FLOOR, "a raw cosine at FLOOR would serve this: the verifier must not"
    assert CosineVerifier().verdict(b, a, cos, FLOOR) is None
    reason = verifier.verdict(b, a, cos, FLOOR)
    assert reason in {"numbers", "negation", "names", "content", "similarity", "length",
                      "qualifier", "cross"}
    assert verifier.verdict(a, b, cos, FLOOR) == reason


def test_below_threshold_is_refused_whatever_the_text() -> None:
    text = "How do I learn Python?"
    assert default_verifier().verdict(text, text, 0.5, 0.9) == "below_threshold"


def test_gateway_and_eval_share_one_default_threshold() -> None:
    assert SemanticCacheConfig().threshold is None  # resolved to the verifier's floor
    assert default_threshold() == Blend.load().threshold
    assert 0.7 <= default_threshold() <= 0.99 and 0.0 < PairNet.load().accept < 1.0


def test_network_weights_were_fitted_on_the_train_half() -> None:
    meta = json.loads(bundled_paths()[0].read_text())
    assert meta["trained_on"].startswith("half 0")
    assert set(meta["hard"]) == {"numbers_differ", "negation_differs"}
    assert bundled_paths()[1].stat().st_size < 200_000


def test_network_hard_rule_refuses_even_a_confident_network() -> None:
    base = PairNet.load()
    sure = PairNet({**base.arrays, "b2": base.arrays["b2"] + 100.0}, base.accept,
                   base.threshold, base.meta)
    verifier = NetVerifier(sure)
    a, b = ONE_DETAIL[0]
    assert verifier.verdict(b, a, 0.99, 0.9) == "numbers"
    assert verifier.verdict(*RESTATED[0], 0.99, 0.9) is None


def test_mismatched_network_scalars_are_rejected(tmp_path: Path) -> None:
    meta = json.loads(bundled_paths()[0].read_text())
    meta["scalars"] = meta["scalars"][::-1]
    path = tmp_path / "verifier_net.json"
    path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="do not match"):
        PairNet.load(path)


def test_bundled_weights_were_fitted_on_the_train_half() -> None:
    data = json.loads(bundled_path().read_text())
    assert data["trained_on"].startswith("half 0")
    model = PairModel.load()
    assert 0.0 < model.accept < 1.0 and 0.7 <= model.threshold <= 0.99
    assert set(model.hard) == {"numbers_differ", "negation_differs"}


def test_mismatched_feature_list_is_rejected(tmp_path: Path) -> None:
    data = json.loads(bundled_path().read_text())
    data["features"] = data["features"][::-1]
    path = tmp_path / "verifier.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="do not match"):
        PairModel.load(path)


def test_hard_rule_refuses_even_a_confident_model() -> None:
    base = PairModel.load()
    sure = PairModel(base.mean, base.scale, base.weights, 50.0, base.accept, base.threshold,
                     base.hard)
    verifier = LearnedVerifier(sure)
    a, b = ONE_DETAIL[0]
    assert verifier.verdict(b, a, 0.99, 0.9) == "numbers"
    assert verifier.verdict(*RESTATED[0], 0.99, 0.9) is None
