"""Alert evaluation benchmark: `python -m bench.alert_bench [--rows N] [--db PATH]`.

One evaluation of every alert rule, as the gateway runs it every
`[alerts].interval_s`, on a ledger of N calls (1,000,000 by default, built by
bench/report_build.py, or an existing one with `--db`): the reference path
(the window and baseline read back as call records) against the aggregate
path (analytics/alert_ledger.py). Both run in this process on their own
connection; wall clock and process CPU, median of `--repeat`, with the load
average before and after, and a check that both give the same alerts.
Writes bench/results/alerts-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.report_build import build
from fleetcost.analytics.alerts import Alert
from fleetcost.config import AlertsConfig
from fleetcost.server.reports import AlertLoop
from fleetcost.storage.sqlite import SQLiteUsageLog

RESULTS = Path(__file__).resolve().parent / "results"
AT = datetime(2026, 10, 25, 14, tzinfo=UTC)  # eight days of history behind it


def _time(run: Callable[[datetime], list[Alert]], repeat: int) -> tuple[dict[str, float],
                                                                        list[Alert]]:
    walls, cpus, out = [], [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = run(AT)
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return {"wall_s_median": round(statistics.median(walls), 3),
            "cpu_s_median": round(statistics.median(cpus), 3)}, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db", type=Path, default=None, help="an existing ledger (no build)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    result: dict[str, Any] = {"load_before": os.getloadavg(), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "ledger.db"
        if args.db is None:
            result["build"] = build(db, args.rows)
        log = SQLiteUsageLog(db)
        loop = AlertLoop(AlertsConfig(), log)
        result["rows"], result["db"] = log.count(), str(args.db or "built")
        result["records"], want = _time(loop.holding_from_calls, args.repeat)
        result["aggregates"], got = _time(loop.holding, args.repeat)
        result["same_alerts"] = got == want
        result["alerts"] = [a.key for a in got]
        if loop._conn is not None:
            loop._conn.close()
        log.close()
    result["load_after"] = os.getloadavg()
    print(json.dumps(result, indent=1))
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"alerts-{stamp}.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
