"""Attribution report benchmark: `python -m bench.report_bench [--rows N]`.

Builds a ledger of N synthetic calls (1,000,000 by default: the issue's
target is `fleetcost report` under 5 s on that many rows and every dashboard
page under 1 s) through the gateway's ledger writer (bench/report_build.py:
build time, rows/s of `append`, and the cost of one append of 1..1,024
calls), then times the real command, as a user runs it, for every grouping
and for ranges whose bounds are not on hour edges: median of `--repeat`
runs, wall clock and child CPU. Then the dashboard's pages in headless
Chromium (bench/dashboard_bench.py). The load average is recorded before
and after. Writes bench/results/report-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.dashboard_bench import time_pages
from bench.report_build import build, write_cost
from fleetcost.storage.base import REPORT_KEYS

RESULTS = Path(__file__).resolve().parent / "results"
# Ranges that do not fall on hour edges (the month is October 2026).
RANGES = {"range_days": ("2026-10-03T07:30:00Z", "2026-10-24T16:45:00Z"),
          "range_hours": ("2026-10-10T05:20:00Z", "2026-10-10T09:40:00Z")}


def time_report(db: Path, by: str, since: str | None = None,
                until: str | None = None) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    extra = [*(["--since", since] if since else []), *(["--until", until] if until else [])]
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fleetcost.cli.main", "report", "--by", by,
                    "--db", str(db), "--json", *extra], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _median(runs: list[tuple[float, float]]) -> dict[str, float]:
    return {"wall_s_median": round(statistics.median(r[0] for r in runs), 3),
            "cpu_s_median": round(statistics.median(r[1] for r in runs), 3)}


def reports(db: Path, repeat: int) -> dict[str, dict[str, float]]:
    results = {}
    for by in REPORT_KEYS:
        results[by] = _median([time_report(db, by) for _ in range(repeat)])
        print(by, results[by], file=sys.stderr)
    for name, (since, until) in RANGES.items():
        for by in ("agent", "session"):
            key = f"{by}_{name}"
            results[key] = _median([time_report(db, by, since, until) for _ in range(repeat)])
            print(key, results[key], file=sys.stderr)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--shape", choices=("fleet", "uniform"), default="fleet",
                   help="ledger shape (bench/report_build.py): sessions in time order, or "
                        "every field drawn independently in random order (the worst case)")
    p.add_argument("--build-only", action="store_true",
                   help="only build the ledger and time the writes (to compare code versions)")
    args = p.parse_args()
    out: dict[str, object] = {"bench": "report", "rows": args.rows, "shape": args.shape,
                              "target_s": 5.0,
                              "load_avg_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ledger.db"
        out["build"] = build(db, args.rows, args.shape)
        print("build", out["build"], file=sys.stderr)
        out["ledger_mb"] = round(sum(f.stat().st_size for f in Path(tmp).glob("ledger.db*"))
                                 / 2**20)
        out["write_cost"] = write_cost(db, args.shape)
        print("write_cost", out["write_cost"], file=sys.stderr)
        if not args.build_only:
            out["groupings"] = reports(db, args.repeat)
            out["dashboard"] = time_pages(db, Path(tmp), args.repeat)
            print("dashboard", out["dashboard"], file=sys.stderr)
    out.update({"load_avg_after": os.getloadavg(), "machine": os.uname().nodename,
                "cpus": os.cpu_count(), "python": sys.version.split()[0]})
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"report-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(path)


if __name__ == "__main__":
    main()
