"""Features of a (query, cached question) pair for the learned hit verifier.

Why features and not one cosine: Quora's hard negatives share a topic and
differ in one detail (a number, a name, a qualifier), which moves MiniLM's
sentence cosine by a few hundredths at most, while honest restatements can
move it by more. Each feature below measures one kind of difference the
cosine blurs; a logistic model (cache/verifier.json) weighs them. Every
feature is symmetric in its two texts, so the verdict does not depend on which
side was cached first.
"""

from __future__ import annotations

import math

from fleetcost.cache.guard import Detail, GuardConfig, WordVectors, _spelled_alike, unmatched

# The order is part of the data-file contract: verifier.json stores one weight per name.
NAMES = (
    "cosine",
    "numbers_differ",  # the sets of numbers (digits and number words) differ
    "numbers_one_side",  # only one side has numbers at all (weaker than a clash)
    "negation_differs",
    "names_unmatched",  # names/acronyms of either side missing from the other
    "content_unmatched_max",  # content words with no stem, spelling or synonym match
    "content_unmatched_sum",
    "content_overlap",  # Jaccard of content stems
    "length_gap",  # |log(word-count ratio)|
    "short",  # 1 / (1 + content words of the shorter side): few words, each one weighs more
)


def features(
    query: Detail, cached: Detail, cosine: float, config: GuardConfig, vectors: WordVectors | None
) -> list[float]:
    """One row of the model's input, in the order of NAMES."""
    ratio = config.spelling_ratio
    names = sum(
        1 for x, y in ((query, cached), (cached, query))
        for n in x.names if not _spelled_alike(n, y.stems, ratio)
    )
    left = unmatched(query, cached, config, vectors)
    union = query.content | cached.content
    overlap = len(query.content & cached.content) / len(union) if union else 1.0
    nq, nc = max(len(query.stems), 1), max(len(cached.stems), 1)
    return [
        cosine,
        float(bool(query.numbers) and bool(cached.numbers) and query.numbers != cached.numbers),
        float(bool(query.numbers) != bool(cached.numbers)),
        float(query.negated != cached.negated),
        float(names),
        float(max(left)),
        float(sum(left)),
        overlap,
        abs(math.log(nq / nc)),
        1.0 / (1.0 + min(len(query.content), len(cached.content))),
    ]
