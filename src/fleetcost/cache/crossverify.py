"""The default hit verifier: hard rules, then one score blending three views of the pair.

Why a blend: each view misses what another sees. The cosine of the two
embeddings is the strongest single signal at the top of the range (raw cosine
at 0.95 already keeps false hits near 3% on Quora); the pair network
(cache/netverify.py) reads the lexical detail that differs (names, content
words, length); the cross-encoder (cache/cross.py) reads the two texts
together, so swapped roles and a dropped qualifier count. On the held-out
Quora half (caches of 5,000 pairs) the shipped point serves 2.9% of the
negatives at recall 0.259, where the pair network alone keeps about 0.20 and
raw cosine 0.205 at that rate (weights in verifier_cross.json, chosen on half
0 fold 1 by fleetcost.cache.select_cross; figures in docs/NOTES.md).

    score = w_net * logit(p_net) + w_cross * logit(p_cross) + w_cos * 20 * (cosine - 0.9)

served when score >= accept and cosine >= the floor. The cross-encoder pass
is the expensive part (~3 ms); it is skipped when the cheap views already
decide: when even a certain cross-encoder could not lift the score to
`accept`. Numbers, negation and opposite qualifiers still refuse outright.

One question typed twice (the same words once case and punctuation are
folded, as `eval cache` reads "the same text") is served without asking any
model: no detail can differ, and a learned score is the wrong place to risk
refusing it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetcost.cache.evaluate import same_text
from fleetcost.cache.netverify import NetVerifier

if TYPE_CHECKING:
    from fleetcost.cache.cross import CrossScorer

LOGIT_CAP = 9.0  # |logit| above this adds nothing: probabilities are float32
COSINE_PIVOT = 0.9
COSINE_SCALE = 20.0


def bundled_meta() -> Path:
    return Path(str(resources.files("fleetcost.cache").joinpath("verifier_cross.json")))


@dataclass(frozen=True)
class Blend:
    w_net: float
    w_cross: float
    w_cos: float
    accept: float
    threshold: float  # the default cosine floor that goes with `accept`
    meta: dict[str, Any]

    @classmethod
    def load(cls, path: Path | None = None) -> Blend:
        meta: dict[str, Any] = json.loads((path or bundled_meta()).read_text())
        w = meta["weights"]
        return cls(float(w["net"]), float(w["cross"]), float(w["cosine"]),
                   float(meta["accept"]), float(meta["threshold"]), meta)

    def cheap(self, p_net: float, cosine: float) -> float:
        return self.w_net * logit(p_net) + self.w_cos * COSINE_SCALE * (cosine - COSINE_PIVOT)

    def score(self, p_net: float, p_cross: float, cosine: float) -> float:
        return self.cheap(p_net, cosine) + self.w_cross * logit(p_cross)

    def undecided(self, cheap: float) -> bool:
        """Whether the cross-encoder could still change the verdict (either way)."""
        reach = self.w_cross * LOGIT_CAP
        return cheap - reach < self.accept <= cheap + reach


def logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return max(-LOGIT_CAP, min(LOGIT_CAP, math.log(p / (1 - p))))


class CrossVerifier:
    """Cosine floor, hard rules, then the blended score (see the module docstring)."""

    def __init__(self, blend: Blend | None = None, net: NetVerifier | None = None,
                 scorer: CrossScorer | None = None) -> None:
        self.blend = blend or Blend.load()
        self.net = net or NetVerifier()
        self._scorer = scorer

    @property
    def threshold(self) -> float:
        return self.blend.threshold

    @property
    def scorer(self) -> CrossScorer:
        if self._scorer is None:
            from fleetcost.cache.cross import shared_scorer

            self._scorer = shared_scorer()
        return self._scorer

    def warm(self) -> None:
        """Load the word table and the pair graph before the first verdict is timed."""
        self.net.warm()
        _ = self.scorer

    def verdict(self, query: str, candidate: str, cosine: float, threshold: float) -> str | None:
        return self.verdicts([(query, candidate, cosine)], threshold)[0]

    def verdicts(self, items: list[tuple[str, str, float]], threshold: float) -> list[str | None]:
        """Verdicts for many (query, candidate, cosine), one batched cross-encoder run."""
        out: list[str | None] = []
        pending: list[tuple[int, float, str]] = []
        for query, candidate, cosine in items:
            if cosine < threshold:
                out.append("below_threshold")
                continue
            if same_text(query, candidate):
                out.append(None)
                continue
            rule, p_net, why = self.net.screen(query, candidate, cosine)
            cheap = self.blend.cheap(p_net, cosine)
            if rule is not None:
                out.append(rule)
            elif self.blend.undecided(cheap):
                pending.append((len(out), cheap, why))
                out.append(None)
            else:
                out.append(None if cheap >= self.blend.accept else why)
        if pending:
            probs = self.scorer.scores([items[i][:2] for i, _c, _w in pending])
            for (i, cheap, why), p in zip(pending, probs, strict=True):
                score = cheap + self.blend.w_cross * logit(p)
                out[i] = None if score >= self.blend.accept else _reason(why)
        return out


def _reason(why: str) -> str:
    """A refusal the cheap views would have served names the cross-encoder."""
    return "cross" if why == "similarity" else why
