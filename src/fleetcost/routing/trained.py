"""The trained router: P(the cheap model is good enough | prompt), as a small file.

Label: on a training query the weak model is "good enough" when its quality
is at least the strong model's (both right, both wrong, or a judge score no
lower). That is the quantity that decides whether paying for the strong model
buys anything: ranking queries by how unlikely it is puts the ones where the
strong model actually helps first, which is what the oracle does.

Model: logistic regression on cheap text features (`features.py`); its L2
strength is chosen by 3-fold cross-validation on the training split (APGR of
the held-out folds), and the default `threshold` is placed with the
out-of-fold predictions at the cheapest point that reaches 95% of the strong
model's training quality. Nothing here reads a test split.

The file is JSON (format `fleetcost-router`, version 1): models, feature spec,
standardisation, weights, threshold, quantiles of the training predictions
(for `willingness_to_pay`), and a fingerprint of the training rows. Scoring is
pure Python: no numpy import on the request path.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetcost.errors import BadRequest
from fleetcost.routing import metrics
from fleetcost.routing.data import Benchmark
from fleetcost.routing.features import FeatureSpec, hashed, numeric
from fleetcost.routing.fit import choose_l2, fit, sigmoid

if TYPE_CHECKING:
    from fleetcost.routing.fit import Matrix

FORMAT = "fleetcost-router"
VERSION = 1
TARGET_FRACTION = 0.95
# Standardised numbers are clipped, and spreads floored, so that a prompt far
# outside the training range (a training set of same-length prompts) cannot
# push the probability to 0 or 1 on one feature alone.
CLIP = 3.0
MIN_STD = 0.1


@dataclass(frozen=True)
class TrainedRouter:
    weak_model: str
    strong_model: str
    threshold: float
    spec: FeatureSpec
    mean: list[float]
    std: list[float]
    weights: list[float]  # numeric features first, then the hash buckets
    bias: float
    quantiles: list[float]  # 101 quantiles of P(weak ok) on the training split
    training: dict[str, Any] = field(default_factory=dict)

    def prob_weak_ok(self, prompt: str) -> float:
        """Probability that the weak model answers `prompt` as well as the strong one."""
        z = self.bias
        nums = numeric(prompt, self.spec)
        for j, value in enumerate(nums):
            scaled = (value - self.mean[j]) / self.std[j]
            z += self.weights[j] * min(CLIP, max(-CLIP, scaled))
        offset = len(nums)
        for bucket, value in hashed(prompt, self.spec).items():
            z += self.weights[offset + bucket] * value
        return sigmoid(z)

    def threshold_for(self, willingness_to_pay: float | None) -> float:
        """`willingness_to_pay` in [0, 1] is the share of (training-like) traffic
        one accepts to send to the strong model; None means the trained default."""
        if willingness_to_pay is None:
            return self.threshold
        share = min(1.0, max(0.0, willingness_to_pay))
        if share >= 1.0:
            return float("inf")
        return self.quantiles[round(share * (len(self.quantiles) - 1))]

    def route(self, prompt: str, willingness_to_pay: float | None = None) -> str:
        strong = self.prob_weak_ok(prompt) < self.threshold_for(willingness_to_pay)
        return self.strong_model if strong else self.weak_model

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION,
            "weak_model": self.weak_model, "strong_model": self.strong_model,
            "threshold": self.threshold, "features": self.spec.to_dict(),
            "scale": {"mean": self.mean, "std": self.std},
            "weights": self.weights, "bias": self.bias,
            "quantiles": self.quantiles, "training": self.training,
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), separators=(",", ":")) + "\n")


def load_router(path: Path) -> TrainedRouter:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BadRequest(f"cannot read router file {path}: {exc}", param="router") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BadRequest(f"{path} is not a fleetcost router file", param="router")
    if data.get("version") != VERSION:
        raise BadRequest(f"{path}: router file version {data.get('version')} "
                         f"is not supported (expected {VERSION})", param="router")
    try:
        spec = FeatureSpec.from_dict(data["features"])
        router = TrainedRouter(
            str(data["weak_model"]), str(data["strong_model"]), float(data["threshold"]),
            spec, [float(v) for v in data["scale"]["mean"]],
            [float(v) for v in data["scale"]["std"]], [float(v) for v in data["weights"]],
            float(data["bias"]), [float(v) for v in data["quantiles"]], dict(data["training"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BadRequest(f"{path}: malformed router file ({exc})", param="router") from None
    if len(router.weights) != spec.width or len(router.mean) != len(spec.numeric):
        raise BadRequest(f"{path}: weights do not match the feature spec", param="router")
    return router


def design(prompts: Sequence[str], spec: FeatureSpec) -> tuple[Matrix, Matrix]:
    """Raw numeric block and hashed block of the feature matrix."""
    import numpy as np

    nums = np.array([numeric(p, spec) for p in prompts], dtype=np.float64)
    hashes = np.zeros((len(prompts), spec.hash_dim))
    for i, p in enumerate(prompts):
        for bucket, value in hashed(p, spec).items():
            hashes[i, bucket] = value
    return nums.reshape(len(prompts), len(spec.numeric)), hashes


def fingerprint(bench: Benchmark, rows: Sequence[int], weak: str, strong: str) -> str:
    digest = hashlib.sha256()
    for i in rows:
        q = bench.queries[i]
        digest.update(f"{q.prompt}\x00{q.quality[weak]}\x00{q.quality[strong]}\x01".encode())
    return "sha256:" + digest.hexdigest()


def train(
    bench: Benchmark, rows: Sequence[int], weak: str, strong: str, *, seed: int = 0,
    specs: Sequence[FeatureSpec] | None = None,
) -> TrainedRouter:
    """Fit each candidate feature set, keep the best by cross-validated APGR."""
    import numpy as np

    if len(rows) < 12:
        raise BadRequest(f"training needs at least 12 rows, got {len(rows)}", param="DATA")
    prompts = [bench.queries[i].prompt for i in rows]
    wq = [bench.queries[i].quality[weak] for i in rows]
    sq = [bench.queries[i].quality[strong] for i in rows]
    y = np.array([1.0 if w >= s else 0.0 for w, s in zip(wq, sq, strict=True)])

    def fold_apgr(held: Sequence[int], p: Matrix) -> float:
        data = quality_only([wq[i] for i in held], [sq[i] for i in held])
        return metrics.apgr(metrics.curve(data, rank_by_prob(list(p))), data)

    best: tuple[float, FeatureSpec, Matrix, Matrix, Matrix, float, Matrix] | None = None
    tried = {}
    for spec in specs or FeatureSpec.candidates():
        x, mean, std = standardised(prompts, spec)
        l2, cv, oof = choose_l2(x, y, fold_apgr, seed=seed)
        tried[_spec_name(spec)] = round(cv, 4)
        if best is None or cv > best[0] + 1e-9:
            best = (cv, spec, x, mean, std, l2, oof)
    assert best is not None
    cv, spec, x, mean, std, l2, oof = best
    model = fit(x, y, l2)
    full = x @ np.asarray(model.weights) + model.bias
    probs = np.sort(1.0 / (1.0 + np.exp(-np.clip(full, -30, 30))))
    quantiles = [float(v) for v in np.quantile(probs, np.linspace(0, 1, 101))]
    meta = {"data": bench.name, "rows": len(rows), "fingerprint": fingerprint(bench, rows, weak,
            strong), "label": "weak quality >= strong quality", "model": "logistic",
            "features": _spec_name(spec), "cv_apgr_by_features": tried, "l2": l2,
            "cv_apgr": round(cv, 4), "seed": seed}
    return TrainedRouter(weak, strong, float(place_threshold(list(oof), wq, sq)), spec,
                         [float(v) for v in mean], [float(v) for v in std], model.weights,
                         model.bias, quantiles, meta)


def _spec_name(spec: FeatureSpec) -> str:
    if spec.hash_dim:
        return f"numeric+hashed{spec.hash_dim}"
    return "+".join(spec.numeric) if len(spec.numeric) == 1 else "numeric"


def standardised(prompts: Sequence[str], spec: FeatureSpec) -> tuple[Matrix, Matrix, Matrix]:
    import numpy as np

    nums, hashes = design(prompts, spec)
    mean, std = nums.mean(axis=0), np.maximum(nums.std(axis=0), MIN_STD)
    return np.hstack([np.clip((nums - mean) / std, -CLIP, CLIP), hashes]), mean, std


def quality_only(weak: Sequence[float], strong: Sequence[float]) -> metrics.Outcomes:
    """Outcomes without money, for choices that depend on quality alone."""
    zero = [Decimal(0)] * len(weak)
    return metrics.Outcomes(list(weak), list(strong), zero, zero)


def rank_by_prob(prob_ok: Sequence[float]) -> list[int]:
    """Least likely to be fine with the weak model first (the strong model's queue)."""
    return sorted(range(len(prob_ok)), key=lambda i: (prob_ok[i], i))


def place_threshold(prob_ok: Sequence[float], weak: Sequence[float],
                    strong: Sequence[float]) -> float:
    """A probability below which a query goes strong, at the smallest strong share
    whose (out-of-fold) training quality reaches 95% of the strong model's."""
    data = quality_only(weak, strong)
    order = rank_by_prob(prob_ok)
    goal = TARGET_FRACTION * data.strong_mean
    points = metrics.curve(data, order)
    k = next((j for j, p in enumerate(points) if p.quality >= goal - 1e-12), len(order))
    ranked = sorted(prob_ok)
    if k == 0:
        return 0.0
    if k >= len(ranked):
        return 1.0
    return (ranked[k - 1] + ranked[k]) / 2

