"""`fleetcost doctor`: explain what in the ledger needs attention."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

import orjson

from fleetcost.analytics.doctor import diagnose
from fleetcost.analytics.prefix_doctor import prefix_findings
from fleetcost.cli.calls import open_ledger
from fleetcost.cli.doctor_prices import price_lookup, share_of
from fleetcost.pricing.cost import format_usd
from fleetcost.storage.base import CallQuery
from fleetcost.storage.prefix_sqlite import read_evidence


def register(sub: Any, name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--config", help="fleetcost.toml (for the ledger path)")
    p.add_argument("--db", help="ledger file (default: from config or ./fleetcost.db)")
    p.add_argument("--since", help="only calls at or after this ISO 8601 UTC time")
    p.add_argument("--until", help="only calls before this ISO 8601 UTC time")
    p.add_argument("--compare", metavar="SINCE/UNTIL",
                   help="explain the change from this baseline period to --since/--until")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.compare:
        from fleetcost.cli.doctor_compare import run_compare

        return run_compare(args)
    log = open_ledger(args)
    try:
        rows = log.query(CallQuery(since=args.since))
    finally:
        log.close()
    evidence = read_evidence(log.path, args.since)
    findings = diagnose(rows) + prefix_findings(rows, evidence, price_lookup(args.config))
    if args.json:
        data = []
        for f in findings:
            d = dataclasses.asdict(f)
            d["cost_usd"] = format_usd(f.cost_usd) if f.cost_usd is not None else None
            # {cause, evidence, usd, share}: the finding contract of issue 3.
            d["cause"], d["usd"], d["share"] = f.kind, d["cost_usd"], share_of(f, rows)
            data.append(d)
        out = {"calls": len(rows), "findings": data}
        sys.stdout.buffer.write(orjson.dumps(out, option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    print(f"{len(rows)} calls in the ledger; {len(findings)} findings")
    for f in findings:
        print(f"- [{f.kind}] {f.summary}  (e.g. {', '.join(f.sample_call_ids)})")
    return 0
