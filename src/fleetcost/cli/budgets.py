"""`fleetcost budgets`: list budgets with their spend, suggest limits, report capped calls.

    fleetcost budgets [list]   configured budgets: spent / reserved / remaining now
    fleetcost budgets suggest  per-task session limits from the p99 of recorded sessions
    fleetcost budgets caps     calls whose output came within 5% of their max_tokens

Reads the files the gateway writes (the budget store and the ledger), so it
works with the gateway up or down. Budgets created through the admin API
live in the running gateway: list those with `GET /fleetcost/v1/budgets`.
"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal
from typing import Any

import orjson

from fleetcost.analytics.budgets import near_cap, suggest
from fleetcost.analytics.records import record_dict
from fleetcost.cli.calls import open_ledger
from fleetcost.config import load_settings
from fleetcost.errors import ConfigError
from fleetcost.pipeline.budget_report import describe_all
from fleetcost.pipeline.budget_rules import merged_rules
from fleetcost.server.app import budgets_path
from fleetcost.storage.base import CallQuery
from fleetcost.storage.budget_sqlite import SQLiteBudgetLedger


def register(sub: Any, name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=__doc__.splitlines()[0])
    p.add_argument("action", nargs="?", choices=("list", "suggest", "caps"), default="list")
    p.add_argument("--config", help="fleetcost.toml (budgets and file paths)")
    p.add_argument("--db", help="ledger file (default: config, $FLEETCOST_DB, ./fleetcost.db)")
    p.add_argument("--percentile", type=float, default=99.0,
                   help="suggest: the session-cost percentile to set limits at (default 99)")
    p.add_argument("--json", action="store_true", help="print JSON (money as decimal strings)")
    p.set_defaults(func=run)


def _usd(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _print_json(data: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")


def _table(rows: list[list[str]], columns: list[str]) -> None:
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def _list(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if args.db:
        settings = settings.model_copy(update={"storage": settings.storage.model_copy(
            update={"path": args.db})})
    store = SQLiteBudgetLedger(budgets_path(settings))
    try:
        rules = merged_rules(settings.budgets, store.saved_rules())
        data = describe_all(rules, store)
    finally:
        store.close()
    if not rules:
        raise ConfigError("no budgets: add [[budgets]] to the config (see docs/config.md), "
                          "pass --config, or create one with POST /fleetcost/v1/budgets")
    if args.json:
        _print_json(data)
        return 0
    rows = [[b["name"], k["member"], k["window"], b["limit_usd"] or "-", k["spent_usd"],
             k["reserved_usd"], k["remaining_usd"] or "-", k["resets_at"] or "-"]
            for b in data for k in (b["buckets"] or [{"member": "-", "window": "-",
                                                      "spent_usd": "0", "reserved_usd": "0",
                                                      "remaining_usd": b["limit_usd"],
                                                      "resets_at": None}])]
    _table(rows, ["budget", "member", "window", "limit_usd", "spent_usd", "reserved_usd",
                  "remaining_usd", "resets_at"])
    return 0


def _records(args: argparse.Namespace) -> list[Any]:
    log = open_ledger(args)
    try:
        return log.query(CallQuery())
    finally:
        log.close()


def _suggest(args: argparse.Namespace) -> int:
    found = suggest(_records(args), args.percentile)
    if args.json:
        _print_json([{"task": s.task, "sessions": s.sessions, "p50_usd": _usd(s.p50_usd),
                      f"p{args.percentile:g}_usd": _usd(s.p99_usd), "max_usd": _usd(s.max_usd),
                      "limit_usd": _usd(s.limit_usd)} for s in found])
        return 0
    if not found:
        print("no sessions in the ledger yet: send X-Fleetcost-Session with your calls")
        return 0
    print(f"# per-session limits at the p{args.percentile:g} of recorded session cost")
    for s in found:
        print(f"\n# {s.task}: {s.sessions} sessions, p50 ${_usd(s.p50_usd)}, "
              f"p{args.percentile:g} ${_usd(s.p99_usd)}, max ${_usd(s.max_usd)}")
        print(f'[[budgets]]\nscope = "task"\nmatch = "{s.task}"\nlimit_usd = "{_usd(s.limit_usd)}"'
              '\nwindow = "session"')
    return 0


def _caps(args: argparse.Namespace) -> int:
    found = near_cap(_records(args))
    if args.json:
        _print_json([record_dict(r) for r in found])
        return 0
    _table([[r.call_id, r.agent_id or "", r.task_type or "", r.model or "",
             str(r.output_tokens), str(r.output_cap)] for r in found],
           ["call_id", "agent", "task", "model", "output_tokens", "output_cap"])
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action == "suggest":
        return _suggest(args)
    if args.action == "caps":
        return _caps(args)
    return _list(args)
