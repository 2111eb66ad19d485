"""Semantic-cache lookup benchmark: `python -m bench.cache_bench [--entries N]`.

Measures what the issue's target names (p50 <= 10 ms per lookup with 100,000
entries, embedding included) and the index's memory per 100,000 entries, in
one process so embedding and search share the same machine state. Cached
vectors are random unit vectors (search cost does not depend on their values);
queries are real questions embedded by the numpy MiniLM.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

_PAIRS = "../shared/data/gptcache/derived/qqp_pairs_labeled.jsonl.gz"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(entries: int, queries: int) -> dict[str, float]:
    import numpy as np

    from fleetcost.cache.embed import DIM, embed, embed_one
    from fleetcost.cache.index import NumpyIndex

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((entries, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = NumpyIndex()
    start = time.perf_counter()
    for i, vec in enumerate(vectors):
        index.add(str(i), vec, "tenant|model|sys|tools|params")
    build_s = time.perf_counter() - start
    texts = [f"How do I learn topic number {i} quickly?" for i in range(queries)]
    embed(texts[:2])  # load the model outside the timed loop
    search_ms: list[float] = []
    total_ms: list[float] = []
    for text in texts:
        t0 = time.perf_counter()
        vec = embed_one(text)
        t1 = time.perf_counter()
        index.search(vec, "tenant|model|sys|tools|params", k=5)
        t2 = time.perf_counter()
        search_ms.append((t2 - t1) * 1e3)
        total_ms.append((t2 - t0) * 1e3)
    matrix_mb = entries * DIM * 4 / 1e6  # live float32 rows; capacity doubling may add up to 2x
    return {
        "entries": entries, "build_s": round(build_s, 3),
        "search_p50_ms": round(statistics.median(search_ms), 3),
        "search_p99_ms": round(_percentile(search_ms, 0.99), 3),
        "lookup_p50_ms": round(statistics.median(total_ms), 3),
        "lookup_p99_ms": round(_percentile(total_ms, 0.99), 3),
        "vectors_mb_per_100k": round(matrix_mb * 100_000 / entries, 1),
    }


def verifier_cost(pairs_path: str, count: int) -> dict[str, float]:
    """Per-call cost of the default HitVerifier on real question pairs (first `count`).

    One verifier serves every call, as in the gateway, so its memo of recent
    texts and words is as warm as real traffic would keep it; each query is new.
    """
    from fleetcost.cache.embed import embed
    from fleetcost.cache.evaluate import load_pairs
    from fleetcost.cache.verify import default_threshold, default_verifier

    pairs = load_pairs(Path(pairs_path), count)
    vecs = embed([p.text_a for p in pairs] + [p.text_b for p in pairs])
    cos = (vecs[: len(pairs)] * vecs[len(pairs):]).sum(axis=1)
    verifier, floor = default_verifier(), default_threshold()
    verifier.verdict("warm up", "warm up", 1.0, floor)
    ms: list[float] = []
    for p, c in zip(pairs, cos, strict=True):
        t0 = time.perf_counter()
        verifier.verdict(p.text_b, p.text_a, max(float(c), floor), floor)
        ms.append((time.perf_counter() - t0) * 1e3)
    return {"verifier_calls": len(ms), "verifier_p50_ms": round(statistics.median(ms), 3),
            "verifier_p99_ms": round(_percentile(ms, 0.99), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--pairs", default=_PAIRS,
                        help="labelled pairs for the verifier's per-call cost ('' to skip)")
    args = parser.parse_args()
    result: dict[str, float] = run(args.entries, args.queries)
    if args.pairs and Path(args.pairs).is_file():
        result.update(verifier_cost(args.pairs, args.queries))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
