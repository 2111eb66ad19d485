"""Budget check overhead: `python -m bench.budget_bench [--calls N] [--e2e-calls N]`.

The target (issue 5): p50 <= 0.5 ms added per call on SQLite. Measured two ways:

* `stages`: in one process, the guard and budget stages plus the settle on
  the bench's 48 tau-bench bodies (2-8 KB), against a SQLite budget file with
  two budgets per call (agent `*` and tenant), every call reserved and
  settled; the prompt count the reservation needs is included (it is the
  largest part). Timed per call with perf_counter, no network.
  `stages_cold` empties the prompt-count memo before every call (no
  message seen before, the worst case); `stages` keeps it, as a gateway
  does, and the 48 bodies repeat, as agents' histories do.
* `e2e`: the emulator and two gateways (budgets + guards on, and both off),
  the same non-streamed bodies sent one at a time through each in turn, on
  keep-alive connections; the added p50 is the difference of the two
  medians, the paired figure the median of per-call differences.

Results print as JSON and go to `bench/results/budget-<UTC>.json`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.procs import fleetcost, free_port
from bench.prompts import build_mix as _build_mix

RESULTS = Path(__file__).resolve().parent / "results"
SHARED = Path("/work/shared/data/tau-bench/historical_trajectories/gpt-4o-airline.json")


def build_mix(count: int, stream_share: float) -> list[Any]:
    """The bench's bodies; from the shared data folder when the worktree has no sibling copy."""
    try:
        return _build_mix(count, stream_share)
    except FileNotFoundError:
        return _build_mix(count, stream_share, path=SHARED)
BUDGETS = """
[[budgets]]
scope = "agent"
limit_usd = "100000"

[[budgets]]
scope = "tenant"
limit_usd = "1000000"
"""
OFF = "[guards]\nenabled = false\n"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4)


def stages(calls: int, workdir: Path, cold: bool = False) -> dict[str, Any]:
    import tomllib

    from fleetcost.config import Settings
    from fleetcost.pipeline.budget import reserve, settle_budget
    from fleetcost.pipeline.context import GatewayContext
    from fleetcost.pipeline.guard import guard
    from fleetcost.pipeline.identify import identify
    from fleetcost.pipeline.state import CallState
    from fleetcost.pipeline.token_memo import TokenMemo
    from fleetcost.pipeline.upstream import UpstreamClient
    from fleetcost.pricing.catalog import load_catalog
    from fleetcost.providers import registry
    from fleetcost.storage.budget_sqlite import SQLiteBudgetLedger
    from fleetcost.types import CallRecord

    settings = Settings.model_validate(tomllib.loads(BUDGETS))
    store = SQLiteBudgetLedger(workdir / f"budgets-{cold}.db")
    ctx = GatewayContext(settings=settings, catalog=load_catalog(), upstream=UpstreamClient(),
                         cache=None, budgets=store)  # type: ignore[arg-type]
    adapter = registry.get("openai")
    bodies = [c.body for c in build_mix(48, 0.0)]
    added, counting = [], []
    for i in range(calls):
        body = bodies[i % len(bodies)]
        headers = {"x-fleetcost-agent": f"agent-{i % 20}", "x-fleetcost-session": f"s{i}",
                   "x-fleetcost-tenant": "bench"}
        if cold:  # nothing counted before: every message through the tokenizer
            ctx.token_memo = TokenMemo()
        state = CallState(adapter=adapter, headers=headers)
        state.request = adapter.parse_request(body)
        identify(state)
        t0 = time.perf_counter()
        guard(state, ctx, body)
        t1 = time.perf_counter()
        reserve(state, ctx, body)
        record = CallRecord(call_id=state.call_id, ts=state.ts, input_tokens=900,
                            output_tokens=150, cost_usd=Decimal("0.0012345"))
        settle_budget(state, ctx, record)
        t2 = time.perf_counter()
        added.append((t2 - t0) * 1e3)
        counting.append((t1 - t0) * 1e3)
    store.close()
    warm = added[100:]
    return {"calls": len(warm), "added_p50_ms": _pct(warm, 0.5), "added_p99_ms": _pct(warm, 0.99),
            "guard_and_count_p50_ms": _pct(counting[100:], 0.5)}


def _send(conn: http.client.HTTPConnection, body: bytes, i: int) -> float:
    headers = {"content-type": "application/json", "x-fleetcost-agent": f"agent-{i % 20}",
               "x-fleetcost-session": f"s{i}", "x-fleetcost-tenant": "bench",
               "x-fleetcost-cache": "off"}
    t0 = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body, headers)
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 200, resp.status
    return (time.perf_counter() - t0) * 1e3


def e2e(calls: int, workdir: Path) -> dict[str, Any]:
    bodies = [c.body for c in build_mix(48, 0.0)]
    eport, on_port, off_port = free_port(), free_port(), free_port()
    (workdir / "on.toml").write_text(BUDGETS)
    (workdir / "off.toml").write_text(OFF)
    up = f"http://127.0.0.1:{eport}"
    emu_args = ["emulate", "--port", str(eport), "--latency", "zero", "--seed", "1"]

    def gw(port: int, cfg: str) -> list[str]:
        return ["serve", "--port", str(port), "--config", str(workdir / cfg),
                "--upstream", f"openai={up}", "--upstream", f"anthropic={up}"]

    with fleetcost("emulator", emu_args, eport, workdir), \
            fleetcost("on", gw(on_port, "on.toml"), on_port, workdir,
                      {"FLEETCOST_DB": str(workdir / "on.db")}), \
            fleetcost("off", gw(off_port, "off.toml"), off_port, workdir,
                      {"FLEETCOST_DB": str(workdir / "off.db")}):
        conns = {"on": http.client.HTTPConnection("127.0.0.1", on_port),
                 "off": http.client.HTTPConnection("127.0.0.1", off_port)}
        times: dict[str, list[float]] = {"on": [], "off": []}
        for i in range(calls + 100):
            order = ("on", "off") if i % 2 else ("off", "on")
            for side in order:
                took = _send(conns[side], bodies[i % len(bodies)], i)
                if i >= 100:
                    times[side].append(took)
        for c in conns.values():
            c.close()
    paired = [a - b for a, b in zip(times["on"], times["off"], strict=True)]
    return {"calls": calls, "off_p50_ms": _pct(times["off"], 0.5),
            "on_p50_ms": _pct(times["on"], 0.5),
            "added_p50_ms": round(_pct(times["on"], 0.5) - _pct(times["off"], 0.5), 4),
            "paired_median_ms": round(statistics.median(paired), 4),
            "off_p99_ms": _pct(times["off"], 0.99), "on_p99_ms": _pct(times["on"], 0.99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000, help="in-process calls")
    parser.add_argument("--e2e-calls", type=int, default=1000, help="calls per gateway")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleetcost-budget-bench-") as tmp:
        result = {"stages": stages(args.calls, Path(tmp)),
                  "stages_cold": stages(args.calls, Path(tmp), cold=True),
                  "e2e": e2e(args.e2e_calls, Path(tmp)) if args.e2e_calls else None,
                  "target_added_p50_ms": 0.5}
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"budget-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
