"""Trained-router decision overhead: `python -m bench.router_bench [--router FILE]`.

Measures what issue 4 names (routing decision overhead p50 <= 2 ms for the
trained router, model calls excluded) on real prompts: `prob_weak_ok` +
`route` of a router file, one prompt at a time, in this process. With
`--embed` it also times the MiniLM embedding of the same prompts (what a
router on embedding features would add per request). Without `--router` it
trains one on the GSM8K and MMLU prompts of ../shared/data/routellm.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

EVALS = Path("routellm") / "routellm" / "evals"


def _shared() -> Path:
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "data" / EVALS).is_dir():
            return parent / "shared" / "data" / EVALS
    raise SystemExit("shared/data/routellm not found next to the project")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _stats(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(ms), 4), "p99_ms": round(_percentile(ms, 0.99), 4),
            "mean_ms": round(statistics.fmean(ms), 4), "n": len(ms)}


def run(router_path: Path | None, n: int, embed: bool) -> dict[str, object]:
    from fleetcost.routing.data import load
    from fleetcost.routing.trained import load_router, train

    evals = _shared()
    prompts = [q.prompt for name in ("gsm8k/gsm8k_responses.csv", "mmlu/responses")
               for q in load(evals / name).queries]
    prompts = prompts[:: max(1, len(prompts) // n)][:n]
    if router_path is None:
        bench = load(evals / "gsm8k" / "gsm8k_responses.csv")
        with tempfile.TemporaryDirectory() as tmp:
            router_path = Path(tmp) / "router.json"
            train(bench, range(len(bench.queries)), bench.models[0], bench.models[1]).save(
                router_path)
            router = load_router(router_path)
    else:
        router = load_router(router_path)
    for p in prompts[:50]:
        router.route(p)
    decide = []
    for p in prompts:
        start = time.perf_counter()
        router.route(p)
        decide.append((time.perf_counter() - start) * 1000)
    out: dict[str, object] = {"router": router.training.get("features"),
                              "prompt_chars_p50": statistics.median(len(p) for p in prompts),
                              "decision": _stats(decide)}
    if embed:
        from fleetcost.cache.embed import embed_one

        embed_one(prompts[0])
        vec = []
        for p in prompts:
            start = time.perf_counter()
            embed_one(p)
            vec.append((time.perf_counter() - start) * 1000)
        out["embedding"] = _stats(vec)
    return out


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.router_bench", description=__doc__)
    p.add_argument("--router", type=Path, default=None, help="router file (default: train one)")
    p.add_argument("-n", type=int, default=2000, help="prompts to time (default 2000)")
    p.add_argument("--embed", action="store_true", help="also time the MiniLM embedding")
    args = p.parse_args()
    print(json.dumps(run(args.router, args.n, args.embed), indent=2))


if __name__ == "__main__":
    main()
