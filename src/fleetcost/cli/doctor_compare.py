"""`fleetcost doctor --compare SINCE/UNTIL`: why the bill changed between two periods."""

from __future__ import annotations

import argparse
import sys

import orjson

from fleetcost.analytics.compare import compare
from fleetcost.analytics.explain import explain
from fleetcost.cli.calls import open_ledger
from fleetcost.errors import ConfigError
from fleetcost.pricing.catalog import load_catalog
from fleetcost.storage.base import CallQuery


def run_compare(args: argparse.Namespace) -> int:
    since, sep, until = args.compare.partition("/")
    if not sep or not since or not until:
        raise ConfigError("--compare takes the baseline period as SINCE/UNTIL "
                          "(ISO 8601 UTC, e.g. 2026-10-01/2026-10-16)")
    log = open_ledger(args)
    try:
        base = log.query(CallQuery(since=since, until=until))
        current = log.query(CallQuery(since=args.since, until=args.until))
    finally:
        log.close()
    result = compare(base, current, load_catalog())
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    print("\n".join(explain(result)))
    return 0
