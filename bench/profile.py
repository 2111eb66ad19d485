"""`python -m bench.profile`: where a gateway call's CPU goes, under load.

Starts its own emulator + gateway, drives the gateway with a closed loop
(non-streamed, streamed, or the usual mix) and samples the gateway process
with py-spy (`pip install py-spy` into the venv; it reads the process from
outside, so the gateway runs unmodified). Prints the functions with the most
samples, on-CPU only: self time (the frame itself was running) and inclusive
time (it was on the stack), aggregated by function rather than by line.
Writes a JSON summary beside the other results (`profile-<kind>.json`);
`--stacks FILE` keeps the raw collapsed stacks for a flame graph.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from bench.procs import stack
from bench.prompts import build_mix
from bench.run import RESULTS
from bench.scenarios import Context, run_child

SHARES = {"json": 0.0, "stream": 1.0, "mix": 0.5}
# Areas of the gateway a sample is charged to: the innermost frame that
# matches one of these (file or function name fragments), in this order.
AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ledger thread (sqlite)", ("storage/sqlite.py", "concurrent/futures/thread.py",
                                "threading.py")),
    ("stream tap + SSE", ("providers/sse.py", "StreamTap", "_delta_chars")),
    ("request parse + validate", ("parse_request", "providers/errors.py", "_check_message",
                                  "check_parts")),
    ("upstream body + headers", ("upstream_body", "upstream_headers")),
    ("response parse", ("parse_response",)),
    ("aiohttp (upstream client)", ("aiohttp/",)),
    ("account + pricing", ("account.py", "pricing/")),
    ("call state + ids", ("pipeline/state.py",)),
    ("identify + route", ("identify.py", "route.py")),
    ("metrics + ledger submit", ("prometheus", "storage/writer.py")),
    ("uvicorn (server protocol)", ("uvicorn/protocols", "uvicorn/middleware")),
    ("fleetcost server/ + pipeline/", ("fleetcost/server/", "fleetcost/pipeline/")),
    ("event loop (uvloop, asyncio)", ("asyncio/", "Runner.run", "uvicorn/")),
)


def by_area(collapsed: str) -> list[dict[str, Any]]:
    """Samples per area of the gateway (see AREAS), largest first."""
    areas: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        frames, _, count = line.rpartition(" ")
        if not frames or not count.isdigit():
            continue
        total += int(count)
        areas[_area(frames.split(";"))] += int(count)
    return [{"pct": round(100 * n / total, 1), "area": a} for a, n in areas.most_common()]


def _area(stack_: list[str]) -> str:
    for frame in reversed(stack_):
        for name, needles in AREAS:
            if any(n in frame for n in needles):
                return name
    return "other"


def top_functions(collapsed: str, limit: int = 25) -> dict[str, Any]:
    """Self and inclusive sample shares from py-spy's raw (collapsed) output."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        frames, _, count = line.rpartition(" ")
        if not frames or not count.isdigit():
            continue
        n = int(count)
        total += n
        stack_ = frames.split(";")
        own[stack_[-1]] += n
        for frame in set(stack_):
            incl[frame] += n
    def share(c: Counter[str]) -> list[dict[str, Any]]:
        return [{"pct": round(100 * n / total, 1), "function": f} for f, n in c.most_common(limit)]
    return {"samples": total, "self": share(own), "inclusive": share(incl)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--kind", choices=sorted(SHARES), default="mix",
                   help="calls to drive: non-streamed, streamed, or half and half (default)")
    p.add_argument("--seconds", type=float, default=10.0, help="sampling time (default 10)")
    p.add_argument("--concurrency", type=int, default=32, help="connections (default 32)")
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--gil", action="store_true",
                   help="only samples holding the GIL (the event loop's real competitors)")
    p.add_argument("--out", type=Path, default=RESULTS, metavar="DIR")
    p.add_argument("--stacks", type=Path, metavar="FILE",
                   help="also keep py-spy's collapsed stacks here (for a flame graph)")
    args = p.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("bench.profile needs py-spy: .venv/bin/pip install py-spy", file=sys.stderr)
        return 1
    mix = build_mix(stream_share=SHARES[args.kind])
    bodies = [{"body": c.body.decode(), "stream": c.stream} for c in mix]
    with tempfile.TemporaryDirectory(prefix="fleetcost-profile-") as tmp, \
            stack(Path(tmp), []) as (emu, gw):
        ctx = Context(emu, gw, bodies, quick=False)
        spec = ctx.base_spec("closed", target="gateway", concurrency=args.concurrency,
                             duration=args.seconds + 1.0, warmup=300)
        load: dict[str, Any] = {}
        driver = threading.Thread(target=lambda: load.update(run_child("bench.loadgen", spec)))
        driver.start()
        time.sleep(1.5)  # past the warm-up
        raw = Path(tmp) / "gateway.collapsed"
        cmd = [spy, "record", "--pid", str(gw.pid), "--rate", str(args.rate),
               "--duration", str(int(args.seconds)), "--function", "--nonblocking",
               "--format", "raw", "--output", str(raw), *(["--gil"] if args.gil else [])]
        subprocess.run(cmd, check=True, capture_output=True)
        driver.join()
        collapsed = raw.read_text()
    summary = top_functions(collapsed)
    summary["areas"] = by_area(collapsed)
    summary.update(kind=args.kind, gil_only=args.gil, concurrency=args.concurrency,
                   rps=load.get("rps"),
                   gateway_cpu_pct=load.get("gateway_cpu_pct"),
                   others_cpu_pct=load.get("others_cpu_pct"))
    if load.get("rps") and load.get("gateway_cpu_pct"):
        summary["gateway_cpu_ms_per_call"] = round(10 * load["gateway_cpu_pct"] / load["rps"], 4)
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"profile-{args.kind}{'-gil' if args.gil else ''}"
    if args.stacks:
        args.stacks.write_text(collapsed)
    (args.out / f"{name}.json").write_bytes(
        orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    print(f"{args.kind}: {summary.get('rps')} req/s, gateway CPU {summary.get('gateway_cpu_pct')}%"
          f" = {summary.get('gateway_cpu_ms_per_call')} ms per call; "
          f"{summary['samples']} samples (others on the machine: "
          f"{summary.get('others_cpu_pct')}% CPU)")
    per_call = summary.get("gateway_cpu_ms_per_call") or 0.0
    print("\nby area (share of samples, ~CPU microseconds per call):")
    for row in summary["areas"]:
        print(f"  {row['pct']:5.1f}%  ~{per_call * row['pct'] * 10:5.0f} us  {row['area']}")
    for title in ("self", "inclusive"):
        print(f"\n{title}:")
        for row in summary[title][:15]:
            print(f"  {row['pct']:5.1f}%  {row['function']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
