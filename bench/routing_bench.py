"""Routing decision overhead: `python -m bench.routing_bench [--router FILE] [--calls N]`.

Measures, in one process and without any model call, what routing adds to a
request: the route stage (request features, policies, plan of deployments,
constraints) for the plain alias path, the rules policy and the trained
router, and the cascade gates that read a buffered answer (format, stated
confidence, logprobs; the agreement and verifier gates are model calls and
are not counted). Requests are the gateway benchmark's 2-8 KB tau-bench
bodies. Target: p50 <= 2 ms for the trained router.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from bench.prompts import TRAJECTORIES, build_mix

RULES = [
    {"name": "json", "tier": "weak", "response_format": True},
    {"name": "code", "tier": "strong", "regex": r"(?i)\b(def|class|import)\b"},
    {"name": "refund", "tier": "strong", "keywords": ["refund", "compensation"]},
    {"name": "long", "tier": "strong", "min_input_tokens": 1500},
    {"name": "rest", "tier": "weak"},
]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _summary(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {"p50_ms": round(statistics.median(ms), 4), "p99_ms": round(_percentile(ms, 0.99), 4),
            "mean_ms": round(statistics.fmean(ms), 4), "n": len(ms)}


def _context(routing: dict[str, Any]) -> Any:
    from fleetcost.config import Settings
    from fleetcost.pipeline.context import GatewayContext
    from fleetcost.pipeline.upstream import UpstreamClient
    from fleetcost.pricing.catalog import load_catalog
    from fleetcost.storage.cache_memory import MemoryCacheStore

    settings = Settings.model_validate({
        "models": {"small": {"provider": "openai", "model": "gpt-4o-mini"},
                   "big": {"provider": "openai", "model": "gpt-4o", "fallbacks": ["small"]}},
        "routing": {"weak": "small", "strong": "big", **routing},
    })
    return GatewayContext(settings=settings, catalog=load_catalog(), upstream=UpstreamClient(),
                          cache=MemoryCacheStore(10))


async def _route_times(ctx: Any, bodies: list[bytes], model: str) -> list[float]:
    from fleetcost.pipeline.identify import identify
    from fleetcost.pipeline.route import route
    from fleetcost.pipeline.state import CallState
    from fleetcost.providers import registry

    adapter = registry.get("openai")
    out = []
    for body in bodies:
        state = CallState(adapter=adapter, headers={})
        state.request = adapter.parse_request(body)
        state.request.model = model
        identify(state)
        start = time.perf_counter()
        await route(state, ctx)
        out.append(time.perf_counter() - start)
    return out


def _gate_times(calls: int) -> list[float]:
    from fleetcost.providers.base import Answer
    from fleetcost.routing.config import CascadeConfig
    from fleetcost.routing.gates import GateInput, run_gates

    cfg = CascadeConfig(gates=["format", "confidence", "logprobs"], missing_signal="accept")
    text = " ".join(["The order ships today from the central warehouse."] * 20)

    async def never() -> None:
        return None

    async def verify(_: Answer) -> None:
        return None

    async def loop() -> list[float]:
        out = []
        for i in range(calls):
            answer = Answer(text + f" Confidence: 0.{i % 10}", [-0.1 * (i % 7)] * 200)
            inp = GateInput(answer, None, False, never, verify)
            start = time.perf_counter()
            await run_gates(inp, cfg)
            out.append(time.perf_counter() - start)
        return out

    return asyncio.run(loop())


def run(calls: int, router: str | None, trajectories: str | None = None) -> dict[str, Any]:
    mix = build_mix(count=48, stream_share=0.0, path=Path(trajectories or TRAJECTORIES))
    bodies = [mix[i % len(mix)].body for i in range(calls)]
    result: dict[str, Any] = {}
    plain = _context({})
    result["alias_only"] = _summary(asyncio.run(_route_times(plain, bodies, "big")))
    rules = _context({"policies": ["rules"], "rules": RULES})
    result["rules"] = _summary(asyncio.run(_route_times(rules, bodies, "auto")))
    try:
        import fleetcost.routing.trained  # noqa: F401
    except ImportError:
        result["trained"] = {"skipped": "fleetcost.routing.trained is not on this branch"}
    else:
        if router is None:
            result["trained"] = {"skipped": "pass --router FILE (`fleetcost router train`)"}
        else:
            trained = _context({"policies": ["trained"], "trained": {"path": router}})
            result["trained"] = _summary(asyncio.run(_route_times(trained, bodies, "auto")))
    result["cascade_gates"] = _summary(_gate_times(calls))
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.routing_bench")
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--router", default=None, help="trained router file")
    p.add_argument("--out", default="bench/results/routing.json")
    p.add_argument("--routing-path", default=None,
                   help="extra folder searched for fleetcost.routing modules (to measure the "
                   "trained router from a branch where it lives)")
    p.add_argument("--trajectories", default=None, help="tau-bench trajectories JSON")
    args = p.parse_args(argv)
    if args.routing_path:
        import fleetcost.routing

        fleetcost.routing.__path__.append(args.routing_path)
    result = run(args.calls, args.router, args.trajectories)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
