"""Evaluate the semantic cache on labelled question pairs.

Protocol (issue 3): insert every `text_a` into one scope of the index, query
every `text_b`; the cache serves the best candidate that clears the policy. A
hit on a label-1 pair's own partner is correct; any other hit is wrong (a
label-0 partner, or some other cached question). Queries are split into two
halves by a hash of the pair so a threshold can be chosen on one half and
reported on the other.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fleetcost.cache.guard import Detail, GuardConfig, WordVectors, extract, refusal

if TYPE_CHECKING:
    from fleetcost.cache.embed import FloatArray

SCOPE = "eval"  # every entry shares one scope: the pairs are one tenant's traffic
_NON_WORD = re.compile(r"[\W_]+")
SWEEP = tuple(round(0.70 + 0.01 * i, 2) for i in range(30))


@dataclass(frozen=True)
class Pair:
    text_a: str
    text_b: str
    label: int

    @property
    def half(self) -> int:
        """0 or 1, stable across runs and machines (not Python's salted hash)."""
        digest = hashlib.sha256(f"{self.text_a}\0{self.text_b}".encode()).digest()
        return digest[0] & 1


@dataclass(frozen=True)
class Served:
    """What the cache answers to one query: the entry index (or -1) and its cosine."""

    entry: int
    score: float


@dataclass(frozen=True)
class Point:
    threshold: float
    queries: int
    hit_rate: float
    precision: float
    recall: float
    false_hit_rate: float
    false_hits_partner: int  # the pair's own label-0 partner: "one detail differs"
    false_hits_other: int  # another cached question (often a Quora duplicate left unlabelled)
    same_text_hits: int


def load_pairs(path: Path, limit: int | None = None) -> list[Pair]:
    """Read JSONL (optionally gzip) `{text_a, text_b, label}` rows."""
    opener = gzip.open if str(path).endswith(".gz") else open
    pairs: list[Pair] = []
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in _nonblank(fh):
            row = json.loads(line)
            pairs.append(Pair(str(row["text_a"]), str(row["text_b"]), int(row["label"])))
            if limit is not None and len(pairs) >= limit:
                break
    return pairs


def _nonblank(lines: Iterator[str]) -> Iterator[str]:
    return (line for line in lines if line.strip())


@dataclass(frozen=True)
class Candidates:
    """Per query: the raw top-1 and the best candidate that passes the detail guard."""

    entries: list[str]
    raw: list[Served]
    guarded: list[Served]


def candidates(
    pairs: list[Pair],
    config: GuardConfig,
    progress: Callable[[int, int], None] | None = None,
    cache_path: Path | None = None,
) -> Candidates:
    """Embed, index and search once; the threshold sweep then needs no more model calls."""
    from fleetcost.cache.index import NumpyIndex
    from fleetcost.cache.vecstore import embed_cached

    entries = list(dict.fromkeys(p.text_a for p in pairs))
    vectors = embed_cached(entries + [p.text_b for p in pairs], cache_path, progress)
    index = NumpyIndex()
    for i, vec in enumerate(vectors[: len(entries)]):
        index.add(str(i), vec, SCOPE)
    found = index.search_many(vectors[len(entries):], SCOPE, max(config.candidates, 1))
    floor = min(SWEEP[0], config.threshold)
    shortlist = [[(int(e), s) for e, s in c if s >= floor] for c in found]
    details = {i: extract(entries[i]) for c in shortlist for i, _ in c}
    queries = [extract(p.text_b) for p in pairs]
    words = _word_vectors(list(details.values()) + queries, cache_path)
    raw = [Served(int(c[0][0]), c[0][1]) if c else Served(-1, 0.0) for c in found]
    guarded: list[Served] = []
    for query, cands in zip(queries, shortlist, strict=True):
        passing = (Served(i, s) for i, s in cands
                   if refusal(details[i], query, config, words) is None)
        guarded.append(next(passing, Served(-1, 0.0)))
    return Candidates(entries, raw, guarded)


def _word_vectors(details: list[Detail], cache_path: Path | None) -> WordVectors:
    """Embed every content word once, in batches, so the guard's synonym check is a lookup."""
    import numpy as np

    from fleetcost.cache.vecstore import embed_cached

    vocab = sorted({w for d in details for w in d.surface.values()})
    table = dict(zip(vocab, embed_cached(vocab, cache_path), strict=True))

    def lookup(words: list[str]) -> FloatArray:
        return np.stack([table[w] for w in words])

    return lookup


def _same_text(a: str, b: str) -> bool:
    return _NON_WORD.sub(" ", a.lower()).strip() == _NON_WORD.sub(" ", b.lower()).strip()


def measure(pairs: list[Pair], served: list[Served], entries: list[str], t: float) -> Point:
    """Hit rate, precision, recall and false-hit rate (wrong hits / queries) at cosine t.

    A hit on a cached question with the same text as the query (up to case and
    punctuation) is neither right nor wrong: the exact cache answers it before
    the semantic one is asked, and Quora repeats many questions verbatim across
    pairs. Such hits are counted apart (`same_text_hits`) and left out of the rates.
    """
    hits = correct = partner = same = 0
    positives = sum(p.label for p in pairs)
    for pair, s in zip(pairs, served, strict=True):
        if s.entry < 0 or s.score < t:
            continue
        entry = entries[s.entry]
        if entry == pair.text_a:
            hits += 1
            correct += pair.label
            partner += 1 - pair.label
        elif _same_text(entry, pair.text_b):
            same += 1
        else:
            hits += 1
    n = max(len(pairs), 1)
    return Point(
        threshold=round(t, 4), queries=len(pairs), hit_rate=hits / n,
        precision=correct / hits if hits else 1.0,
        recall=correct / positives if positives else 0.0,
        false_hit_rate=(hits - correct) / n,
        false_hits_partner=partner, false_hits_other=hits - correct - partner,
        same_text_hits=same,
    )


def recommend(
    pairs: list[Pair], served: list[Served], entries: list[str], target: float
) -> dict[str, object]:
    """Lowest threshold reaching `target` precision on half 0, reported on half 1."""
    train = [i for i, p in enumerate(pairs) if p.half == 0]
    test = [i for i, p in enumerate(pairs) if p.half == 1]

    def at(rows: list[int], t: float) -> Point:
        return measure([pairs[i] for i in rows], [served[i] for i in rows], entries, t)

    fit = [t for t in SWEEP if at(train, t).precision >= target]
    chosen = fit[0] if fit else max(SWEEP, key=lambda t: at(train, t).precision)
    held = at(test, chosen)
    return {
        "target_precision": target, "threshold": chosen, "reached_on_train": bool(fit),
        "train": asdict(at(train, chosen)), "held_out": asdict(held),
    }


def evaluate(
    pairs: list[Pair],
    config: GuardConfig,
    target: float = 0.8,
    progress: Callable[[int, int], None] | None = None,
    cache_path: Path | None = None,
) -> dict[str, object]:
    """The report `fleetcost eval cache --json` prints."""
    cands = candidates(pairs, config, progress, cache_path)
    served = cands.guarded if config.enabled else cands.raw
    sweep = [asdict(measure(pairs, served, cands.entries, t)) for t in SWEEP]
    raw = [asdict(measure(pairs, cands.raw, cands.entries, t)) for t in SWEEP]
    default = measure(pairs, served, cands.entries, config.threshold)
    return {
        "pairs": len(pairs),
        "guard": config.enabled,
        "thresholds": sweep,
        "thresholds_raw_cosine": raw,
        "at_default": {
            "threshold": config.threshold, "precision": default.precision,
            "recall": default.recall, "false_hit_rate": default.false_hit_rate,
            "hit_rate": default.hit_rate,
        },
        "recommended": recommend(pairs, served, cands.entries, target),
    }
