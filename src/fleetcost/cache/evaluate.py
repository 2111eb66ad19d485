"""Evaluate the semantic cache on labelled question pairs.

Protocol (issue 3): insert every `text_a` into one scope of the index, query
every `text_b`; the cache serves the first of its nearest entries that the
`HitVerifier` accepts (the same verifier object the gateway asks). A hit on a
label-1 pair's own partner is correct; any other hit is wrong, including a hit
on another pair's question with the very same text (Quora repeats questions
across pairs). Queries are split into two halves by a hash of the pair so a
threshold can be chosen on one half and reported on the other.

Rates follow the data README: precision = correct hits / hits, recall =
correct hits / label-1 queries, false-hit rate = wrong hits / label-0 queries
(the queries that should miss). Two other readings are reported as extra
fields so they can be compared with figures measured elsewhere: wrong hits per
query, and the rates with same-text hits left out (the exact cache answers
those before the semantic one is asked).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fleetcost.cache.verify import HitVerifier

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
    false_hit_rate: float  # wrong hits / label-0 queries
    false_hit_rate_per_query: float  # wrong hits / all queries
    false_hits_partner: int  # the pair's own label-0 partner: "one detail differs"
    false_hits_other: int  # another cached question (often a Quora duplicate left unlabelled)
    same_text_hits: int  # wrong hits on another pair's identical question (in false_hits_other)
    precision_excl_same_text: float
    false_hit_rate_excl_same_text: float


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
class Shortlist:
    """Per query, the nearest entries (index, cosine) at or above the sweep's floor."""

    entries: list[str]
    near: list[list[tuple[int, float]]]


def shortlist(
    pairs: list[Pair],
    k: int,
    floor: float,
    progress: Callable[[int, int], None] | None = None,
    cache_path: Path | None = None,
    index: str = "exact",
) -> Shortlist:
    """Embed, index and search once; the threshold sweep then needs no more model calls.

    `index` names the vector index (`cache.semindex.KINDS`); entries go in one
    at a time, as a live cache fills, so an IVF index trains as it would there.
    """
    from fleetcost.cache.semindex import build_index
    from fleetcost.cache.vecstore import embed_cached

    entries = list(dict.fromkeys(p.text_a for p in pairs))
    vectors = embed_cached(entries + [p.text_b for p in pairs], cache_path, progress)
    built = build_index(kind=index)
    for i, vec in enumerate(vectors[: len(entries)]):
        built.add(str(i), vec, SCOPE)
    queries, k = vectors[len(entries):], max(k, 1)
    many = getattr(built, "search_many", None)
    found = many(queries, SCOPE, k) if many else [built.search(q, SCOPE, k) for q in queries]
    return Shortlist(entries, [[(int(e), s) for e, s in c if s >= floor] for c in found])


def judge(
    pairs: list[Pair], sl: Shortlist, verifier: HitVerifier, floor: float
) -> list[list[bool]]:
    """The verifier's verdict on every shortlisted candidate, asked once at the sweep's floor.

    A verifier refuses below its threshold and otherwise judges the texts, so
    one verdict at the floor tells every higher threshold's answer too.
    """
    return [[verifier.verdict(p.text_b, sl.entries[i], s, floor) is None for i, s in near]
            for p, near in zip(pairs, sl.near, strict=True)]


def serve(sl: Shortlist, passes: list[list[bool]], t: float) -> list[Served]:
    """The first accepted candidate at or above cosine t, per query."""
    out: list[Served] = []
    for near, ok in zip(sl.near, passes, strict=True):
        hit = next((Served(i, s) for (i, s), good in zip(near, ok, strict=True)
                    if good and s >= t), Served(-1, 0.0))
        out.append(hit)
    return out


def normalise(text: str) -> str:
    """Lower case, punctuation folded to spaces: "the same text" for both caches' purposes."""
    return _NON_WORD.sub(" ", text.lower()).strip()


def _same_text(a: str, b: str) -> bool:
    return normalise(a) == normalise(b)


def measure(pairs: list[Pair], served: list[Served], entries: list[str], t: float) -> Point:
    """The issue's rates at threshold t (see the module docstring for the definitions)."""
    hits = correct = partner = same = 0
    for pair, s in zip(pairs, served, strict=True):
        if s.entry < 0 or s.score < t:
            continue
        hits += 1
        entry = entries[s.entry]
        if entry == pair.text_a:
            correct += pair.label
            partner += 1 - pair.label
        elif _same_text(entry, pair.text_b):
            same += 1
    positives = sum(p.label for p in pairs)
    negatives = max(len(pairs) - positives, 1)
    wrong = hits - correct
    return Point(
        threshold=round(t, 4), queries=len(pairs), hit_rate=hits / max(len(pairs), 1),
        precision=correct / hits if hits else 1.0,
        recall=correct / positives if positives else 0.0,
        false_hit_rate=wrong / negatives,
        false_hit_rate_per_query=wrong / max(len(pairs), 1),
        false_hits_partner=partner, false_hits_other=wrong - partner, same_text_hits=same,
        precision_excl_same_text=correct / (hits - same) if hits > same else 1.0,
        false_hit_rate_excl_same_text=(wrong - same) / negatives,
    )


def recommend(
    pairs: list[Pair], by_t: dict[float, list[Served]], entries: list[str], target: float
) -> dict[str, object]:
    """Lowest threshold reaching `target` precision on half 0, reported on half 1.

    `by_t` holds what the cache serves at each swept threshold.
    """
    train = [i for i, p in enumerate(pairs) if p.half == 0]
    test = [i for i, p in enumerate(pairs) if p.half == 1]

    def at(rows: list[int], t: float) -> Point:
        return measure([pairs[i] for i in rows], [by_t[t][i] for i in rows], entries, t)

    fit = [t for t in SWEEP if at(train, t).precision >= target]
    chosen = fit[0] if fit else max(SWEEP, key=lambda t: at(train, t).precision)
    return {
        "target_precision": target, "threshold": chosen, "reached_on_train": bool(fit),
        "train": asdict(at(train, chosen)), "held_out": asdict(at(test, chosen)),
    }


def held_out(pairs: list[Pair], served: list[Served], entries: list[str], t: float) -> Point:
    """The figures on half 1 only: the half no weight or threshold was fitted on."""
    rows = [i for i, p in enumerate(pairs) if p.half == 1]
    return measure([pairs[i] for i in rows], [served[i] for i in rows], entries, t)


def preload(verifier: HitVerifier, pairs: list[Pair], cache_path: Path | None) -> None:
    """Give a verifier that embeds words its whole vocabulary in one cached batch;
    let one that loads tables do so before it is timed."""
    warm = getattr(verifier, "warm", None)
    if warm is not None:
        warm()
    remember = getattr(verifier, "remember_words", None)
    if remember is None:
        return
    from fleetcost.cache.guard import extract
    from fleetcost.cache.vecstore import embed_cached

    texts = {t for p in pairs for t in (p.text_a, p.text_b)}
    vocab = sorted({w for t in texts for w in extract(t).surface.values()})
    vecs: FloatArray = embed_cached(vocab, cache_path)
    remember(dict(zip(vocab, vecs, strict=True)))


def timed_judge(
    pairs: list[Pair], sl: Shortlist, verifier: HitVerifier, floor: float
) -> tuple[list[list[bool]], float, float]:
    """`judge`, and the mean milliseconds per verdict, wall and CPU (tables preloaded).

    CPU time too: on a shared machine the wall figure mostly measures the neighbours.
    """
    start, cpu = time.perf_counter(), time.process_time()
    passes = judge(pairs, sl, verifier, floor)
    calls = max(sum(len(n) for n in sl.near), 1)
    return (passes, (time.perf_counter() - start) * 1e3 / calls,
            (time.process_time() - cpu) * 1e3 / calls)
