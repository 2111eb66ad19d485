"""Choose the blend's weights and operating point: `python -m fleetcost.cache.select_cross PAIRS`.

Writes cache/verifier_cross.json. Only half 0 fold 1 queries are counted (the
cross-encoder and the pair network were fitted on fold 0), in caches of
DEFAULT_CACHE_PAIRS pairs as `fleetcost eval cache` builds them, so half 1
stays held out for the figures the report quotes.

Objective: the most restatement recall on the selection split of the
hand-written restatements (scripts/data, one cache of their text_a) at
precision >= PARA_PRECISION there, among the blends that keep Quora's false
hits at most TARGET_FHR - MARGIN and its recall at least QUORA_RECALL; if
none keeps that recall, the most Quora recall within the false-hit bound.
Why this way round: Quora needs only its bound and a recall floor (the
target is recall >= 0.25 at 3% false hits), while every restatement a
blend refuses is a paraphrase hit lost; maximising Quora recall instead
spent all the slack on Quora and left restatement recall at its floor.
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetcost.cache.crossverify import Blend, bundled_meta
from fleetcost.cache.evaluate import (
    DEFAULT_CACHE_PAIRS,
    Pair,
    Served,
    Shortlist,
    load_pairs,
    measure,
    same_text,
    shortlist,
)
from fleetcost.cache.train_net import fold

TARGET_FHR = 0.03
MARGIN = 0.003
# The selection split is a third one-detail negatives: raw cosine there gives 0.794
# precision at 0.718 recall where the paraphrase sets give 0.94 at 0.72, so
# 0.93 here asks more than 0.95 there.
PARA_PRECISION = 0.93
QUORA_RECALL = 0.26  # the target's 0.25 and a margin for the held-out half
RESTATEMENTS = Path(__file__).resolve().parents[3] / "scripts" / "data"
WEIGHTS = tuple(itertools.product((0.0, 0.5, 1.0), (0.5, 1.0, 1.5, 2.0),
                                  (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)))
FLOORS = (0.78, 0.80, 0.82, 0.84, 0.86, 0.88)
ACCEPTS = tuple(round(-2.0 + 0.25 * i, 2) for i in range(41))


def restatement_split(pair: Pair) -> str:
    """"train" for 3 in 4 written rows (by a hash of text_a), else "select"."""
    import hashlib

    digest = hashlib.sha256(pair.text_a.encode()).digest()[0]
    return "select" if digest % 4 == 0 else "train"


@dataclass(frozen=True)
class Candidate:
    entry: int
    cosine: float
    p_net: float  # 0 when a hard rule refuses
    p_cross: float
    refused: bool
    same: bool  # the same text: served whatever the scores (evaluate.same_text)


def candidates(pairs: list[Pair], verifier: Any, cache_pairs: int | None = DEFAULT_CACHE_PAIRS,
               keep: list[int] | None = None) -> tuple[Shortlist, list[list[Candidate]]]:
    """The three views of each kept query's shortlisted candidates, computed once for the grid.

    Every pair's text_a is cached; only the `keep` queries (all when None) are scored.
    """
    sl = shortlist(pairs, 4, FLOORS[0], cache_pairs=cache_pairs)
    wanted = set(range(len(pairs)) if keep is None else keep)
    rows: list[list[Candidate]] = []
    todo: list[tuple[str, str]] = []
    for n, (p, near) in enumerate(zip(pairs, sl.near, strict=True)):
        row = []
        for i, s in near if n in wanted else []:
            rule, p_net, _why = verifier.net.screen(p.text_b, sl.entries[i], s)
            same = same_text(p.text_b, sl.entries[i])
            row.append(Candidate(i, s, p_net, 0.0, rule is not None and not same, same))
            todo.append((p.text_b, sl.entries[i]))
        rows.append(row)
    probs = iter(verifier.scorer.scores(todo))
    rows = [[Candidate(c.entry, c.cosine, c.p_net, next(probs), c.refused, c.same) for c in r]
            for r in rows]
    return sl, rows


def point(pairs: list[Pair], sl: Shortlist, rows: list[list[Candidate]], keep: list[int],
          blend: Blend) -> dict[str, float]:
    served = []
    for i in keep:
        hit = next((Served(c.entry, c.cosine) for c in rows[i] if not c.refused
                    and c.cosine >= blend.threshold
                    and (c.same or blend.score(c.p_net, c.p_cross, c.cosine) >= blend.accept)),
                   Served(-1, 0.0))
        served.append(hit)
    m = measure([pairs[i] for i in keep], served, sl.entries, blend.threshold)
    return {"precision": m.precision, "recall": m.recall, "false_hit_rate": m.false_hit_rate,
            "queries": m.queries}


def select(pairs: list[Pair], written: list[Pair], verifier: Any,
           ) -> tuple[Blend, dict[str, Any]]:
    keep = [i for i, p in enumerate(pairs) if p.half == 0 and fold(p) == 1]
    sl, rows = candidates(pairs, verifier, keep=keep)
    wsl, wrows = candidates(written, verifier, None) if written else (Shortlist([], []), [])
    wkeep = list(range(len(written)))
    best: tuple[tuple[int, float], Blend, dict[str, Any]] | None = None
    for (w_net, w_cross, w_cos), floor in itertools.product(WEIGHTS, FLOORS):
        for accept in ACCEPTS:
            blend = Blend(w_net, w_cross, w_cos, accept, floor, {})
            m = point(pairs, sl, rows, keep, blend)
            if m["false_hit_rate"] > TARGET_FHR - MARGIN:
                continue
            r = (point(written, wsl, wrows, wkeep, blend) if written
                 else {"precision": 1.0, "recall": 1.0, "queries": 0})
            if r["precision"] < PARA_PRECISION:
                continue
            met = m["recall"] >= QUORA_RECALL
            key = (int(met), r["recall"] if met else m["recall"])
            if best is None or key > best[0]:
                best = (key, blend, {"quora": m, "restatements": r})
            break  # accepts ascend: the first one within both bounds keeps the most recall
    if best is None:
        raise RuntimeError("no blend reaches the false-hit bound on fold 1")
    return best[1], best[2]


def main() -> None:
    from fleetcost.cache.crossverify import CrossVerifier

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", type=Path)
    parser.add_argument("--out", type=Path, default=bundled_meta())
    args = parser.parse_args()
    verifier = CrossVerifier(Blend(1.0, 1.0, 1.0, 0.0, 0.8, {}))
    verifier.warm()
    written = [p for path in sorted(RESTATEMENTS.glob("restatements_train_*.jsonl"))
               for p in load_pairs(path) if restatement_split(p) == "select"]
    blend, fit = select(load_pairs(args.pairs), written, verifier)
    meta = {
        "weights": {"net": blend.w_net, "cross": blend.w_cross, "cosine": blend.w_cos},
        "accept": blend.accept, "threshold": blend.threshold,
        "score": "w_net*logit(p_net) + w_cross*logit(p_cross) + w_cos*20*(cosine-0.9)",
        "selected_on": f"half 0 fold 1 queries of all pairs, caches of {DEFAULT_CACHE_PAIRS}",
        "objective": f"most restatement recall at precision >= {PARA_PRECISION} with Quora "
                     f"false-hit rate <= {TARGET_FHR - MARGIN}, recall >= {QUORA_RECALL}",
        "selection": fit,
    }
    args.out.write_text(json.dumps(meta, indent=1) + "\n")
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
