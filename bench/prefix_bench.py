"""Prefix-tracking cost benchmark: `python -m bench.prefix_bench [--sessions N]`.

What the prefix hook adds to a call on the request path, measured in one
process on real tau-bench sessions (both protocols, as the demo's fleet sends
them, each session's calls in order so the tracker sees growing histories):
per call, the hook (`pipeline.prefix_hook.before_call`'s work: block digests,
token counts of new blocks, per-session comparison) against what the gateway
already does with the same body (`parse_request` + `upstream_body`). Runs
the whole replay `--repeat` times with a fresh tracker each time (cold
token memo, as a new gateway) and reports the median, p50/p99 per call.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _calls(sessions: int) -> list[tuple[str, str, bytes]]:
    from fleetcost.fleet.plan import SCENARIOS, plan_sessions
    from fleetcost.fleet.trajectories import find_data_dir, load_conversations

    conversations = load_conversations(find_data_dir(None, os.environ, Path.cwd()))
    return [(s.session_id, s.wire.kind, call.body)
            for s in plan_sessions(conversations, sessions, SCENARIOS[0]) for call in s.calls()]


def run(sessions: int, repeat: int) -> dict[str, Any]:
    from fleetcost.pipeline.prefix import PrefixTracker
    from fleetcost.pricing.prefix_rules import cache_rule
    from fleetcost.providers import registry

    PrefixTracker().warm()  # the gateway loads the tokenizer at startup
    calls = _calls(sessions)
    parsed = [(sid, kind, registry.get(kind).parse_request(body)) for sid, kind, body in calls]
    hook_us: list[float] = []
    base_us: list[float] = []
    for _ in range(repeat):
        tracker = PrefixTracker()
        for (sid, kind, request), (_, _, body) in zip(parsed, calls, strict=True):
            adapter = registry.get(kind)
            t0 = time.perf_counter()
            adapter.upstream_body(adapter.parse_request(body), request.model)
            t1 = time.perf_counter()
            prompt = tracker.prompt(request, cache_rule(kind), ("t", sid))
            tracker.compare(("t", sid), "c", prompt, cache_rule(kind), 1024)  # type: ignore[arg-type]
            t2 = time.perf_counter()
            base_us.append((t1 - t0) * 1e6)
            hook_us.append((t2 - t1) * 1e6)
    small = registry.get("openai").parse_request(
        b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Where is my bag?"}]}')
    tracker, small_us = PrefixTracker(), []
    for i in range(2000):
        t0 = time.perf_counter()
        tracker.compare(("t", str(i % 50)), "c", tracker.prompt(small),
                        cache_rule("openai"), 1024)  # type: ignore[arg-type]
        small_us.append((time.perf_counter() - t0) * 1e6)
    sizes = [len(body) for _, _, body in calls]
    return {
        "calls": len(calls), "repeat": repeat,
        "body_kb_mean": round(statistics.mean(sizes) / 1024, 1),
        "hook_us_p50": round(_percentile(hook_us, 0.5), 1),
        "hook_us_p99": round(_percentile(hook_us, 0.99), 1),
        "hook_us_mean": round(statistics.mean(hook_us), 1),
        "small_body_hook_us_p50": round(_percentile(small_us, 0.5), 1),
        "parse_and_serialize_us_p50": round(_percentile(base_us, 0.5), 1),
        "hook_over_parse_and_serialize": round(
            _percentile(hook_us, 0.5) / _percentile(base_us, 0.5), 2),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=24)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--out", type=Path, default=Path("bench/results/prefix.json"))
    args = p.parse_args()
    result = run(args.sessions, args.repeat)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
