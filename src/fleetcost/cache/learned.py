"""The learned hit verifier: a logistic model over pair features, behind `HitVerifier`.

Why a model: the detail guard's yes/no rules refuse a paraphrase for one
unmatched word and serve a near-duplicate whose one differing word happened to
have a close synonym vector. Weighing the same signals (cosine, number, name,
negation and content-word differences, length) with weights fitted on labelled
pairs trades them against each other instead. The weights are data
(`verifier.json`, written by `python -m fleetcost.cache.train` from the train
half of the Quora pairs only), so retraining never touches code.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from fleetcost.cache.guard import Detail, GuardConfig, extract
from fleetcost.cache.pairfeat import NAMES, features

if TYPE_CHECKING:
    from fleetcost.cache.embed import FloatArray

_MEMO = 4096  # texts and words remembered per verifier: the gateway sees the same entries again

# feature -> the refusal reason reported when it weighs most against a hit
_REASONS = MappingProxyType({
    "numbers_differ": "numbers", "numbers_one_side": "numbers", "negation_differs": "negation",
    "names_unmatched": "names", "content_unmatched_max": "content",
    "content_unmatched_sum": "content", "content_overlap": "content",
    "length_gap": "length", "short": "content", "cosine": "similarity",
})


def bundled_path() -> Path:
    return Path(str(resources.files("fleetcost.cache").joinpath("verifier.json")))


@dataclass(frozen=True)
class PairModel:
    """Standardised logistic regression: p = sigmoid(bias + sum w_i (x_i - mean_i) / scale_i)."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    accept: float  # minimum probability to serve
    threshold: float  # the default cosine floor that goes with `accept`
    # Features that refuse on their own when non-zero. Why rules on top of a model:
    # Quora labels 41% of its pairs whose numbers clash as duplicates ("2016" vs
    # "2017" questions), so a model fitted to it learns to shrug numbers off; a
    # cache must not, whatever a noisy label set says.
    hard: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: Path | None = None) -> PairModel:
        data: dict[str, Any] = json.loads((path or bundled_path()).read_text())
        if tuple(data["features"]) != NAMES:
            raise ValueError(f"{path}: features {data['features']} do not match {NAMES}")
        hard = tuple(data.get("hard", ()))
        if not set(hard) <= set(NAMES):
            raise ValueError(f"{path}: unknown hard features {hard}")
        return cls(tuple(data["mean"]), tuple(data["scale"]), tuple(data["weights"]),
                   float(data["bias"]), float(data["accept"]), float(data["threshold"]), hard)

    def broken_rule(self, row: list[float]) -> str | None:
        """The first hard feature that is set in `row`, if any."""
        return next((n for n in self.hard if row[NAMES.index(n)] > 0), None)

    def contributions(self, row: list[float]) -> list[float]:
        return [w * (x - m) / s for x, m, s, w in
                zip(row, self.mean, self.scale, self.weights, strict=True)]

    def probability(self, row: list[float]) -> float:
        """0 when a hard rule is broken; else the logistic model's probability."""
        if self.broken_rule(row) is not None:
            return 0.0
        z = self.bias + sum(self.contributions(row))
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


class _Memo(OrderedDict[str, Any]):
    """A small LRU: the same cached entries and words come back query after query."""

    def get_or(self, key: str, make: Any) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = make(key)
        self.put(key, value)
        return value

    def put(self, key: str, value: Any) -> None:
        self[key] = value
        if len(self) > _MEMO:
            self.popitem(last=False)


class LearnedVerifier:
    """Cosine floor, then the pair model's probability that both texts ask the same thing."""

    def __init__(self, model: PairModel | None = None, config: GuardConfig | None = None) -> None:
        self.model = model or PairModel.load()
        self._config = config or GuardConfig()
        self._details = _Memo()
        self._words = _Memo()
        self._preloaded: dict[str, FloatArray] = {}

    @property
    def threshold(self) -> float:
        return self.model.threshold

    def probability(self, query: str, candidate: str, cosine: float) -> float:
        return self.model.probability(self.row(query, candidate, cosine))

    def row(self, query: str, candidate: str, cosine: float) -> list[float]:
        q: Detail = self._details.get_or(query, extract)
        c: Detail = self._details.get_or(candidate, extract)
        return features(q, c, cosine, self._config, self._word_vectors)

    def verdict(self, query: str, candidate: str, cosine: float, threshold: float) -> str | None:
        if cosine < threshold:
            return "below_threshold"
        row = self.row(query, candidate, cosine)
        rule = self.model.broken_rule(row)
        if rule is not None:
            return _REASONS[rule]
        if self.model.probability(row) >= self.model.accept:
            return None
        parts = self.model.contributions(row)
        worst = min(range(len(parts)), key=parts.__getitem__)
        return _REASONS[NAMES[worst]]

    def _word_vectors(self, words: list[str]) -> FloatArray:
        import numpy as np

        from fleetcost.cache.embed import embed

        found = {w: self._preloaded.get(w) for w in words}
        missing = [w for w, v in found.items() if v is None and w not in self._words]
        if missing:  # one batched forward pass for every word not seen lately
            for w, v in zip(missing, embed(missing), strict=True):
                self._words.put(w, v)
        return np.stack([v if (v := found[w]) is not None else self._words.get_or(w, _never)
                         for w in words])

    def remember_words(self, table: dict[str, FloatArray]) -> None:
        """Preload word vectors (the evaluation embeds its whole vocabulary in one batch)."""
        self._preloaded.update(table)


def _never(word: str) -> Any:
    raise KeyError(word)
