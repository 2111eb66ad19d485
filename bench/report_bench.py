"""Attribution report benchmark: `python -m bench.report_bench [--rows N]`.

Builds a ledger of N synthetic calls (1,000,000 by default: the issue's
target is `fleetcost report` under 5 s on that many rows), then times the
real command, as a user runs it, for each grouping: median of `--repeat`
runs, wall clock and child CPU. Writes bench/results/report-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from fleetcost.storage.sqlite import SQLiteUsageLog
from fleetcost.types import CallRecord

RESULTS = Path(__file__).resolve().parent / "results"
GROUPINGS = ("agent", "model", "task", "session", "day")
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-6", "claude-haiku-4-5")


def build(path: Path, rows: int, seed: int = 1) -> float:
    rnd = random.Random(seed)
    log = SQLiteUsageLog(path)
    start = time.perf_counter()
    batch: list[CallRecord] = []
    for i in range(rows):
        day, sec = rnd.randrange(30), rnd.randrange(86_400)
        batch.append(CallRecord(
            call_id=f"c{i:08d}",
            ts=f"2026-10-{day + 1:02d}T{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}Z",
            tenant=f"t{rnd.randrange(5)}", agent_id=f"agent-{rnd.randrange(200)}",
            session_id=f"s{rnd.randrange(rows // 12 + 1)}", task_type=f"task-{rnd.randrange(12)}",
            model=rnd.choice(MODELS), provider="openai",
            input_tokens=rnd.randrange(500, 20_000), output_tokens=rnd.randrange(10, 800),
            cached_tokens=rnd.randrange(0, 400) * 32, cache_status="hit",
            response_cache=rnd.choice(("miss", "bypass", "exact")),
            cost_usd=Decimal(rnd.randrange(1, 10**8)) / Decimal(10**9),
            saved_usd=Decimal(rnd.randrange(0, 10**6)) / Decimal(10**9),
        ))
        if len(batch) == 10_000:
            log.append(batch)
            batch = []
    log.append(batch)
    log.close()
    return time.perf_counter() - start


def time_report(db: Path, by: str) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fleetcost.cli.main", "report", "--by", by,
                    "--db", str(db), "--json"], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def time_dashboard(db: Path, workdir: Path, repeat: int) -> dict[str, float] | None:
    """Seconds from navigation until the page has drawn every figure, in headless Chromium."""
    import shutil

    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    from bench.procs import fleetcost, free_port

    port = free_port()
    flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    cfg = workdir / "bench.toml"
    cfg.write_text("[alerts]\nenabled = false\n")
    with fleetcost("gateway", ["serve", "--port", str(port), "--config", str(cfg)], port,
                   workdir, env={"FLEETCOST_DB": str(db)}) as gw, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=flags)
        times = []
        for _ in range(repeat):
            page = browser.new_page()
            t0 = time.perf_counter()
            page.goto(gw.url + "/dashboard")
            page.wait_for_selector("body[data-loaded]", timeout=600_000)
            times.append(time.perf_counter() - t0)
            page.close()
        browser.close()
    return {"page_s_median": round(statistics.median(times), 3), "target_s": 1.0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ledger.db"
        build_s = build(db, args.rows)
        results = {}
        for by in GROUPINGS:
            runs = [time_report(db, by) for _ in range(args.repeat)]
            results[by] = {"wall_s_median": round(statistics.median(r[0] for r in runs), 3),
                           "cpu_s_median": round(statistics.median(r[1] for r in runs), 3)}
            print(by, results[by], file=sys.stderr)
        dashboard = time_dashboard(db, Path(tmp), args.repeat)
        print("dashboard", dashboard, file=sys.stderr)
    out = {"bench": "report", "rows": args.rows, "build_s": round(build_s, 1),
           "target_s": 5.0, "groupings": results, "dashboard": dashboard,
           "machine": os.uname().nodename,
           "cpus": os.cpu_count(), "python": sys.version.split()[0]}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"report-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(path)


if __name__ == "__main__":
    main()
