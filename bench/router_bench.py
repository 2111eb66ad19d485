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
import os
import statistics
import tempfile
import time
from collections.abc import Callable
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
    from fleetcost.routing.features import FeatureSpec
    from fleetcost.routing.trained import load_router, train

    evals = _shared()
    prompts = [q.prompt for name in ("gsm8k/gsm8k_responses.csv", "mmlu/responses")
               for q in load(evals / name).queries]
    prompts = prompts[:: max(1, len(prompts) // n)][:n]
    if router_path is None:
        bench = load(evals / "gsm8k" / "gsm8k_responses.csv")
        with tempfile.TemporaryDirectory() as tmp:
            router_path = Path(tmp) / "router.json"
            # the richest feature set (hashed words + numbers): the slowest to score
            train(bench, range(len(bench.queries)), bench.models[0], bench.models[1],
                  specs=[FeatureSpec()]).save(router_path)
            router = load_router(router_path)
    else:
        router = load_router(router_path)
    for p in prompts[:50]:
        router.route(p)
    out: dict[str, object] = {"router": router.training.get("features"),
                              "prompt_chars_p50": statistics.median(len(p) for p in prompts)}
    out["decision_wall"], out["decision_cpu"] = _timed(router.route, prompts)
    if embed:
        from fleetcost.cache.embed import embed_one

        embed_one(prompts[0])
        out["embedding_wall"], out["embedding_cpu"] = _timed(embed_one, prompts)
    return out


def _timed(call: Callable[[str], object], prompts: list[str]) -> tuple[dict[str, float], ...]:
    """Wall and CPU time per call: on a busy shared machine the wall figure
    includes waiting for a core, the CPU figure is the work itself."""
    wall, cpu = [], []
    for p in prompts:
        w0, c0 = time.perf_counter(), time.process_time()
        call(p)
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
    return _stats(wall), _stats(cpu)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.router_bench", description=__doc__)
    p.add_argument("--router", type=Path, default=None, help="router file (default: train one)")
    p.add_argument("-n", type=int, default=200, help="prompts to time (default 200)")
    p.add_argument("--embed", action="store_true", help="also time the MiniLM embedding")
    args = p.parse_args()
    # one BLAS thread: a multi-threaded matmul per single query only contends
    # for the cores a gateway's event loop needs (and is slower here)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    print(json.dumps(run(args.router, args.n, args.embed), indent=2))


if __name__ == "__main__":
    main()
