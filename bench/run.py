"""`python -m bench.run`: measure the gateway against the emulator it fronts.

Starts an emulator (zero latency) and one gateway process on loopback, runs
the chosen scenarios with a separate load-generator process, writes
`bench/results/gateway-<UTC timestamp>.json` and `bench/results/latest.json`,
and prints a short summary. Needs no Debian package: the load generator is
Python (uvloop + httptools) and reports its own CPU so its ceiling is known.

Scenarios: sequential (1,000 calls one at a time, direct and gateway
interleaved), open (fixed arrival rates, latency from the scheduled send
time), max (closed loop, highest sustained rate), rss (gateway memory over
100,000 calls), client (aiohttp vs httpx vs raw as the upstream client),
exact_hit (exact-cache hits vs direct calls, interleaved), semantic (semantic
lookup latency and memory at 100,000 entries, in-process).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from bench import routing_bench, scenarios
from bench.procs import machine, stack
from bench.prompts import build_mix, describe
from bench.report import evaluate_targets, interference, loadgen_ceiling, print_summary

ALL = ("sequential", "open", "max", "rss", "client", "exact_hit", "semantic", "routing")
RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--quick", action="store_true",
                   help="short runs for development: 5 s per open-loop rate, 300 sequential "
                        "calls, 20,000-call RSS run")
    p.add_argument("--scenarios", default=",".join(ALL),
                   help=f"comma-separated subset of {','.join(ALL)} (default: all)")
    p.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="run sequential and open N times and report the median of the "
                        "per-run figures (the acceptance targets use 5)")
    p.add_argument("--out", type=Path, default=RESULTS, metavar="DIR",
                   help="directory for the results JSON (default bench/results)")
    p.add_argument("--rates", default="250,500,1000",
                   help="open-loop arrival rates in requests/s (default 250,500,1000)")
    p.add_argument("--duration", type=float, help="seconds per open-loop rate "
                   "(default 30, or 5 with --quick)")
    p.add_argument("--sequential-n", type=int, help="sequential calls (default 1000)")
    p.add_argument("--concurrency", type=int, default=64,
                   help="connections for the max-rate closed loop (default 64)")
    p.add_argument("--rss-calls", type=int, help="calls in the RSS run (default 100000)")
    p.add_argument("--stream-share", type=float, default=0.5,
                   help="share of streamed calls in the mix (default 0.5)")
    p.add_argument("--wait-quiet", type=float, default=20.0, metavar="SECONDS",
                   help="before each phase, wait up to this long for the rest of the machine "
                        "to go quiet (default 20; 0 = never wait)")
    p.add_argument("--prompts", type=int, default=48, help="distinct request bodies (default 48)")
    p.add_argument("--router", default=None, metavar="FILE",
                   help="trained router file for the routing scenario (default: skip it)")
    args = p.parse_args(argv)
    chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(ALL))
    if unknown:
        p.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(ALL)}")
    args.chosen = chosen
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    return args


def options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {"rates": [float(r) for r in args.rates.split(",")],
                            "concurrency": args.concurrency, "max_wait_s": args.wait_quiet}
    for key in ("duration", "sequential_n", "rss_calls"):
        if getattr(args, key) is not None:
            opts[key] = getattr(args, key)
    return opts


def run_all(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    mix = build_mix(count=args.prompts, stream_share=args.stream_share)
    bodies = [{"body": c.body.decode(), "stream": c.stream} for c in mix]
    result: dict[str, Any] = {
        "schema": 1, "machine": machine(),
        "config": {"quick": args.quick, "repeat": args.repeat, "scenarios": args.chosen,
                   **options(args), "mix": describe(mix),
                   "emulator": "fleetcost emulate --latency zero --seed 1",
                   "gateway": "fleetcost serve (one process, uvicorn+uvloop+httptools), "
                              "SQLite ledger"},
        "scenarios": {},
    }
    out = result["scenarios"]
    with stack(workdir, []) as (emu, gw):
        ctx = scenarios.Context(emu, gw, bodies, args.quick, options(args))
        if "client" in args.chosen:
            _progress("client: raw vs aiohttp vs httpx against the emulator")
            out["client"] = scenarios.clients(ctx)
        if "sequential" in args.chosen:
            runs = []
            for i in range(args.repeat):
                _progress(f"sequential, run {i + 1}/{args.repeat}")
                runs.append(scenarios.sequential(ctx))
            out["sequential"] = {"runs": runs,
                                 "median": scenarios.summarize_repeats(runs, "sequential")}
        if "open" in args.chosen:
            open_runs = []
            for i in range(args.repeat):
                _progress(f"open loop at {args.rates} req/s, run {i + 1}/{args.repeat}")
                open_runs.append(scenarios.open_loop(ctx, i))
            out["open"] = {"runs": open_runs,
                           "median": scenarios.summarize_repeats(open_runs, "open")}
        if "max" in args.chosen:
            _progress(f"max rate: closed loop at {args.concurrency} connections")
            out["max"] = scenarios.max_rate(ctx)
        if "rss" in args.chosen:
            _progress("rss: closed loop through the gateway")
            out["rss"] = scenarios.rss(ctx)
        if "exact_hit" in args.chosen:
            _progress("exact_hit: cache hits through the gateway vs direct, interleaved")
            out["exact_hit"] = scenarios.exact_hit(ctx)
        if "semantic" in args.chosen:
            _progress("semantic: lookup latency and memory at 100,000 entries")
            out["semantic"] = scenarios.semantic(ctx)
        if "routing" in args.chosen:
            _progress("routing: decision overhead in process (no model calls)")
            out["routing"] = routing_bench.run(500 if args.quick else 2000, args.router)
        result["gateway_rss_mb_end"] = gw.rss_mb()
    result["loadgen"] = loadgen_ceiling(out)
    result["targets"] = evaluate_targets(out)
    result["interference"] = interference(out)
    return result


def _progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def write(result: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    data = orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    path = out_dir / f"gateway-{stamp}.json"
    for target in (path, out_dir / "latest.json"):
        tmp = target.with_suffix(".json.tmp")
        tmp.write_bytes(data + b"\n")
        tmp.replace(target)
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fleetcost-bench-") as tmp:
        try:
            result = run_all(args, Path(tmp))
        except (RuntimeError, FileNotFoundError) as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 1
    path = write(result, args.out)
    print_summary(result)
    print(f"\nwritten: {path} (and latest.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
