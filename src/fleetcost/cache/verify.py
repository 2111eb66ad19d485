"""The seam between the semantic cache and the judgement "is this the same question?".

Why a seam: the cache (index, scope, store, pipeline stage) and the match
policy (cosine threshold, detail guard, any re-ranker) change for different
reasons and are measured differently (latency vs `fleetcost eval cache`). The
pipeline only ever asks a `HitVerifier`; `eval cache` measures the same object,
so the quality figures describe what the gateway actually serves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from fleetcost.cache.guard import GuardConfig, extract, refusal

if TYPE_CHECKING:
    from fleetcost.cache.embed import FloatArray


class HitVerifier(Protocol):
    """Decides whether a cached question may answer a new one."""

    def verdict(self, query: str, candidate: str, cosine: float, threshold: float) -> str | None:
        """None to serve the candidate; otherwise a short reason for refusing it."""
        ...


class CosineVerifier:
    """The raw cosine alone: the baseline every other policy is measured against."""

    def verdict(self, query: str, candidate: str, cosine: float, threshold: float) -> str | None:
        return "below_threshold" if cosine < threshold else None


class GuardVerifier:
    """Cosine threshold, then the lexical detail guard with MiniLM word vectors."""

    def __init__(self, config: GuardConfig | None = None) -> None:
        self._config = config or GuardConfig()

    def verdict(self, query: str, candidate: str, cosine: float, threshold: float) -> str | None:
        if cosine < threshold:
            return "below_threshold"
        if not self._config.enabled:
            return None
        return refusal(extract(candidate), extract(query), self._config, _word_vectors)


def _word_vectors(words: list[str]) -> FloatArray:
    from fleetcost.cache.embed import embed

    return embed(words)


def default_verifier() -> HitVerifier:
    """The verifier the gateway and `eval cache` use unless configured otherwise.

    The cross-encoder blend (cache/crossverify.py): hard rules for numbers,
    negation and opposite qualifiers, then MiniLM reading the two texts
    together, blended with the cosine. Why not the lighter pair network
    (cache/netverify.py, `eval cache --verifier net`): at its shipped point it
    serves 11% of Quora's held-out negatives, and at 3% it keeps no more
    recall than the raw cosine; the blend is the one point measured to do
    both targets of the issue's kind (figures in docs/NOTES.md).
    """
    from fleetcost.cache.crossverify import CrossVerifier

    verifier = CrossVerifier()
    verifier.warm()  # the word table and the pair graph load with the cache, not on a lookup
    return verifier


def default_threshold() -> float:
    """The cosine floor the default verifier was chosen with (from its data file).

    The gateway's `[cache.semantic] threshold` defaults to it, and so does
    `eval cache` (`at_default`): one setting, measured where it is served.
    """
    from fleetcost.cache.crossverify import Blend

    return Blend.load().threshold
