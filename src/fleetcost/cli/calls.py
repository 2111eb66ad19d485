"""`fleetcost calls`: list the ledger (newest last), as a table or JSON."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from fleetcost.analytics.records import record_dict
from fleetcost.config import load_settings
from fleetcost.storage.base import CallQuery
from fleetcost.storage.sqlite import SQLiteUsageLog

COLUMNS = ("ts", "call_id", "agent_id", "model", "input_tokens", "cached_tokens",
           "output_tokens", "cost_usd", "outcome")


def register(sub: Any, name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--config", help="fleetcost.toml (for the ledger path)")
    p.add_argument("--db", help="ledger file (default: config, $FLEETCOST_DB, ./fleetcost.db)")
    p.add_argument("--since", help="only calls at or after this ISO 8601 UTC time")
    p.add_argument("--limit", type=int, help="at most this many (the newest)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def open_ledger(args: argparse.Namespace) -> SQLiteUsageLog:
    from pathlib import Path

    from fleetcost.errors import ConfigError

    path = args.db or load_settings(args.config).storage.path
    if not Path(path).exists():
        raise ConfigError(f"no ledger at {path}: run `fleetcost serve` first or pass --db")
    return SQLiteUsageLog(path)


def run(args: argparse.Namespace) -> int:
    log = open_ledger(args)
    try:
        rows = log.query(CallQuery(since=args.since, limit=args.limit, newest_first=True))
    finally:
        log.close()
    rows.reverse()
    data = [record_dict(r) for r in rows]
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    table = [[("" if d[c] is None else str(d[c])) for c in COLUMNS] for d in data]
    widths = [max([len(c)] + [len(r[i]) for r in table]) for i, c in enumerate(COLUMNS)]
    print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)))
    for r in table:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
    return 0
