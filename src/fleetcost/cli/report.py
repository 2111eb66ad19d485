"""`fleetcost report`: spend and lever figures by agent, task, model... from the ledger."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from fleetcost.storage.base import REPORT_KEYS, CallQuery

COLUMNS = ("key", "calls", "cost_usd", "input_tokens", "cached_tokens", "output_tokens",
           "saved_usd", "sessions", "cost_per_session")


def register(sub: Any, name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--by", choices=REPORT_KEYS, default="agent", help="grouping (default agent)")
    p.add_argument("--since", help="calls at or after this ISO 8601 UTC time")
    p.add_argument("--until", help="calls before this ISO 8601 UTC time")
    p.add_argument("--config", help="fleetcost.toml (for the ledger path)")
    p.add_argument("--db", help="ledger file (default: config, $FLEETCOST_DB, ./fleetcost.db)")
    p.add_argument("--waste", action="store_true",
                   help="split spend into waste categories instead of groups")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def ledger_path(args: argparse.Namespace) -> str:
    from fleetcost.config import load_settings

    return str(args.db or load_settings(args.config).storage.path)


def run(args: argparse.Namespace) -> int:
    if args.waste:
        return run_waste(args)
    from fleetcost.analytics.report import build
    from fleetcost.storage.report_sqlite import SQLiteLedgerReader

    reader = SQLiteLedgerReader(ledger_path(args))
    try:
        data = build(reader, args.by, CallQuery(since=args.since, until=args.until))
    finally:
        reader.close()
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    print_table(data)
    return 0


def print_table(data: dict[str, Any]) -> None:
    rows = [[_cell(g.get(c)) for c in COLUMNS] for g in data["groups"]]
    totals = dict(data["totals"], key="TOTAL")
    rows.append([_cell(totals.get(c)) for c in COLUMNS])
    header = [data["by"] if c == "key" else c for c in COLUMNS]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def run_waste(args: argparse.Namespace) -> int:
    from fleetcost.analytics.waste import attribute
    from fleetcost.errors import ConfigError
    from fleetcost.pricing.catalog import load_catalog
    from fleetcost.storage.sqlite import SQLiteUsageLog

    path = ledger_path(args)
    from pathlib import Path

    if not Path(path).exists():
        raise ConfigError(f"no ledger at {path}: run `fleetcost serve` first or pass --db")
    log = SQLiteUsageLog(path)
    try:
        rows = log.query(CallQuery(since=args.since, until=args.until))
    finally:
        log.close()
    data = attribute(rows, load_catalog())
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    print(f"spend ${data['spend_usd']} over {data['calls']} calls")
    for c in data["categories"]:
        flag = " (estimate)" if c["estimate"] else ""
        print(f"- {c['name']}: ${c['usd']} ({c['share_of_spend']:.1%} of spend, "
              f"{c['calls']} calls){flag}\n    {c['method']}")
    return 0
