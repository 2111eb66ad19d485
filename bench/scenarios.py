"""The scenarios, run from the orchestrator against a live emulator + gateway.

Each scenario hands a JSON spec to a fresh load-generator process and keeps
its result, always with the direct-to-emulator figure beside the gateway's.
Direct and gateway phases of one scenario run back to back with the same
request mix; their order alternates between repeats so that a slow drift of
the machine (a neighbour's job, a warming cache) does not always land on the
same side.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
import psutil

from bench.procs import ROOT, Server
from bench.stats import added, median_of

PATHS = {"openai": "/v1/chat/completions"}
Result = dict[str, Any]


@dataclass
class Context:
    emulator: Server
    gateway: Server
    bodies: list[dict[str, Any]]
    quick: bool
    options: dict[str, Any] = field(default_factory=dict)

    def run(self, module: str, spec: dict[str, Any], timeout: float = 1800) -> Result:
        return run_child(module, spec, timeout, self.options.get("max_wait_s", 0.0))

    def base_spec(self, mode: str, **extra: Any) -> dict[str, Any]:
        target = {"host": "127.0.0.1", "path": PATHS["openai"]}
        return {
            "mode": mode, "bodies": self.bodies,
            "targets": {"direct": {**target, "port": self.emulator.port},
                        "gateway": {**target, "port": self.gateway.port}},
            "watch": {"gateway": self.gateway.pid, "emulator": self.emulator.pid},
            **extra,
        }


def wait_quiet(max_wait_s: float, busy_limit_pct: float = 30.0) -> dict[str, float]:
    """Wait (bounded) until the rest of the machine is near idle.

    Other work on the two cores (a test suite, a compiler) lands in our
    latencies; starting a phase once the machine is quiet makes repeat runs
    comparable. The busy level seen at the start goes into the result, so a
    phase that had to start anyway on a busy machine says so.
    """
    waited = 0.0
    busy = psutil.cpu_percent(interval=0.5) * (psutil.cpu_count() or 1)
    while busy > busy_limit_pct and waited < max_wait_s:
        busy = psutil.cpu_percent(interval=1.0) * (psutil.cpu_count() or 1)
        waited += 1.0
    return {"machine_busy_before_pct": round(busy, 1), "waited_for_quiet_s": waited}


def run_child(module: str, spec: dict[str, Any], timeout: float = 1800,
              max_wait_s: float = 0.0) -> Result:
    """Run `python -m MODULE` with the spec on stdin; its stdout is the result."""
    quiet = wait_quiet(max_wait_s) if max_wait_s > 0 else {}
    proc = subprocess.run(
        [sys.executable, "-m", module], input=orjson.dumps(spec), capture_output=True,
        cwd=ROOT, timeout=timeout, check=False,
    )
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace")[-3000:]
        raise RuntimeError(f"{module} failed ({proc.returncode}):\n{err}")
    return {**orjson.loads(proc.stdout), **quiet}


def sequential(ctx: Context) -> Result:
    n = ctx.options.get("sequential_n", 300 if ctx.quick else 1000)
    spec = ctx.base_spec("sequential", warmup=100, n=n)
    return ctx.run("bench.loadgen", spec)


def open_rate(ctx: Context, rate: float, direct_first: bool) -> Result:
    duration = ctx.options.get("duration", 5.0 if ctx.quick else 30.0)
    warm = 1.0 if ctx.quick else 3.0
    phases: dict[str, Result] = {}
    order = ("direct", "gateway") if direct_first else ("gateway", "direct")
    for target in order:
        spec = ctx.base_spec("open", target=target, rate=rate, duration=duration,
                             warmup_s=warm, prewarm=32)
        phases[target] = ctx.run("bench.loadgen", spec)
    d, g = phases["direct"], phases["gateway"]
    return {
        "rate": rate, "duration_s": duration, "direct": d, "gateway": g,
        "added": {k: added(d["latency"][k], g["latency"][k]) for k in d["latency"]},
    }


def open_loop(ctx: Context, run_index: int = 0) -> list[Result]:
    rates = ctx.options.get("rates", [250.0, 500.0, 1000.0])
    return [open_rate(ctx, r, direct_first=run_index % 2 == 0) for r in rates]


def max_rate(ctx: Context) -> Result:
    """Closed loop at N connections: what one gateway process sustains here.

    Run for the mix and for each kind alone, because a streamed call costs
    the gateway several times a whole one and the share of streams decides
    the answer. `gateway_rps_per_core` scales the achieved rate by the
    gateway's own CPU share: the rate the process would reach with a core to
    itself, the fair reading on two cores shared with the emulator and the
    generator (and it shows when the gateway, not the box, is the limit).
    """
    conc = ctx.options.get("concurrency", 64)
    duration = 5.0 if ctx.quick else 15.0
    out: Result = {"concurrency": conc, "duration_s": duration}
    subsets = {"mix": ctx.bodies, "json": [b for b in ctx.bodies if not b["stream"]],
               "stream": [b for b in ctx.bodies if b["stream"]]}
    for kind, bodies in subsets.items():
        if not bodies:
            continue
        row: Result = {}
        for target in ("direct", "gateway"):
            spec = ctx.base_spec("closed", target=target, concurrency=conc, duration=duration,
                                 warmup=500)
            spec["bodies"] = bodies
            row[target] = ctx.run("bench.loadgen", spec)
        g = row["gateway"]
        cpu = g.get("gateway_cpu_pct") or 0.0
        row.update(
            gateway_rps=g["rps"], direct_rps=row["direct"]["rps"], gateway_cpu_pct=cpu,
            gateway_rps_per_core=round(g["rps"] * 100 / cpu, 1) if cpu else None,
            gateway_cpu_ms_per_call=round(10 * cpu / g["rps"], 4) if g["rps"] else None,
        )
        out[kind] = row
    return out


def rss(ctx: Context) -> Result:
    total = ctx.options.get("rss_calls", 20_000 if ctx.quick else 100_000)
    every = max(1000, total // 20)
    before = ctx.gateway.rss_mb()
    spec = ctx.base_spec("closed", target="gateway", concurrency=64, total=total,
                         rss_pid=ctx.gateway.pid, rss_every=every)
    result = ctx.run("bench.loadgen", spec, timeout=3600)
    points = {p["calls"]: p["rss_mb"] for p in result["rss"]}
    marks = {f"rss_mb_at_{c // 1000}k": points.get(c) for c in _marks(total)}
    first, last = points.get(_marks(total)[0]), points.get(total)
    growth = round(100 * (last - first) / first, 2) if first and last else None
    return {
        "calls": total, "concurrency": 64, "rss_mb_before": before, **marks,
        "growth_pct_first_mark_to_end": growth, "rps": result["rps"],
        "errors": result["errors"], "samples": result["rss"],
        "gateway_cpu_pct": result.get("gateway_cpu_pct"),
    }


def _marks(total: int) -> list[int]:
    """10%, 50% and 100% of the run: 10k, 50k and 100k calls in a full run."""
    return [total // 10, total // 2, total]


def clients(ctx: Context) -> Result:
    duration = 3.0 if ctx.quick else 10.0
    url = ctx.emulator.url + PATHS["openai"]
    out: Result = {"concurrency": 32, "duration_s": duration, "target": "emulator (direct)"}
    for client in ("raw", "aiohttp", "httpx"):
        spec = ctx.base_spec("closed", client=client, url=url, concurrency=32,
                             duration=duration, warmup_s=1.0, warmup=300, target="direct")
        spec["watch"] = {"emulator": ctx.emulator.pid}
        out[client] = ctx.run("bench.clients", spec)
    return out


def summarize_repeats(runs: list[Result], key: str) -> dict[str, Any]:
    """Median over runs of each headline figure (the issue's "median of 5 runs")."""
    if key == "sequential":
        out: dict[str, Any] = {}
        for kind in ("all", "json", "stream"):
            out[kind] = {
                f"{side}_{q}": median_of([r[side][kind][q] for r in runs
                                          if q in r[side][kind]])
                for side in ("direct", "gateway", "added") for q in ("p50", "p99")
            }
        return out
    by_rate: dict[str, Any] = {}
    for i, first in enumerate(runs[0]):
        per = [r[i] for r in runs]
        by_rate[str(int(first["rate"]))] = {
            kind: {
                "direct_p50": median_of([p["direct"]["latency"][kind]["p50"] for p in per]),
                "direct_p99": median_of([p["direct"]["latency"][kind]["p99"] for p in per]),
                "gateway_p50": median_of([p["gateway"]["latency"][kind]["p50"] for p in per]),
                "gateway_p99": median_of([p["gateway"]["latency"][kind]["p99"] for p in per]),
                "added_p50": median_of([p["added"][kind]["p50"] for p in per]),
                "added_p99": median_of([p["added"][kind]["p99"] for p in per]),
            }
            for kind in ("all", "json", "stream")
        }
        by_rate[str(int(first["rate"]))]["errors"] = {
            side: sum(sum(p[side]["errors"].values()) for p in per)
            for side in ("direct", "gateway")
        }
        by_rate[str(int(first["rate"]))]["achieved_rps_gateway"] = median_of(
            [p["gateway"]["achieved_rps"] for p in per])
    return by_rate


def exact_hit(ctx: Context) -> Result:
    """Exact-cache hits through the gateway against direct emulator calls, interleaved.

    The mix's bodies with `temperature: 0` (cacheable); the warm-up sends every
    body once, so each measured gateway call is a hit. The ledger is read back
    to count the hits, so a result where hits did not happen says so.
    """
    n = ctx.options.get("sequential_n", 300 if ctx.quick else 1000)
    bodies = [{"body": orjson.dumps({**orjson.loads(b["body"]), "temperature": 0}).decode(),
               "stream": b["stream"]} for b in ctx.bodies]
    spec = ctx.base_spec("sequential", warmup=max(100, 2 * len(bodies)), n=n)
    spec["bodies"] = bodies
    result = ctx.run("bench.loadgen", spec)
    rows = orjson.loads(urllib.request.urlopen(
        f"{ctx.gateway.url}/fleetcost/v1/calls?limit={n}", timeout=30).read())
    result["ledger_last_n"] = dict(Counter(r["response_cache"] for r in rows))
    return result


def semantic(ctx: Context) -> Result:
    """Semantic lookup at 100,000 entries and memory per 100,000 (bench.cache_bench), each
    setting in a fresh process (numpy fixes its BLAS threads at import), one BLAS thread:
    all entries in the queried scope (the worst case) with the IVF index and with the exact
    scan, and spread over 100 scopes with the IVF index, and with questions carrying ~400
    characters of context (memory per entry without texts in memory); then one scope growing through
    its 65,536 -> 131,072 retraining under lookups (`--retrain`)."""
    entries = ctx.options.get("semantic_entries", 20_000 if ctx.quick else 100_000)
    out: Result = {}
    for name, index, scopes, chars in (
            ("one_scope_ivf", "ivf", 1, 0), ("one_scope_exact", "exact", 1, 0),
            ("100_scopes_ivf", "ivf", 100, 0), ("one_scope_ivf_400_char_texts", "ivf", 1, 400)):
        quiet = wait_quiet(ctx.options.get("max_wait_s", 0.0))
        proc = subprocess.run(
            [sys.executable, "-m", "bench.cache_bench", "--gateway-cache", "--index", index,
             "--entries", str(entries), "--scopes", str(scopes), "--text-chars", str(chars)],
            capture_output=True,
            cwd=ROOT, timeout=1800, check=False, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
        if proc.returncode != 0:
            raise RuntimeError(f"bench.cache_bench failed:\n{proc.stderr.decode()[-3000:]}")
        out[name] = {**orjson.loads(proc.stdout), **quiet}
    quiet = wait_quiet(ctx.options.get("max_wait_s", 0.0))
    proc = subprocess.run(  # inserts and lookups while the 65k -> 131k retraining runs
        [sys.executable, "-m", "bench.cache_bench", "--retrain", "--pairs", ""],
        capture_output=True, cwd=ROOT, timeout=1800, check=False,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    if proc.returncode != 0:
        raise RuntimeError(f"bench.cache_bench --retrain failed:\n{proc.stderr.decode()[-3000:]}")
    out["retrain_65k_to_131k_ivf"] = {**orjson.loads(proc.stdout), **quiet}
    return out
