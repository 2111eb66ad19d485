"""`fleetcost replay SOURCE --policy P.toml`: what recorded traffic would have cost.

SOURCE is a trajectory file (tau-bench JSON, or OpenAI message lists as JSON
or JSONL) or a ledger recorded with `[ledger] store_bodies = true`. Both the
baseline (`--baseline`, default: fleetcost's defaults) and the candidate
policy are replayed through the real gateway against the emulator. With
`--fail-above 5%` it is a CI cost gate: exit code 3 when the candidate
raises cost by more than the threshold.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import orjson

from fleetcost.errors import ConfigError
from fleetcost.planner import compare
from fleetcost.planner.replay import EMULATOR_SEED, load_policy, run_policy
from fleetcost.planner.sources import load_source
from fleetcost.pricing import format_usd

GATE_FAILED = 3


def register(sub: Any, name: str, help_text: str) -> None:
    parser = sub.add_parser(name, help=help_text, description=__doc__.splitlines()[0])
    parser.add_argument("source", metavar="SOURCE",
                        help="trajectories (.json/.jsonl) or a ledger (.db) with stored bodies")
    parser.add_argument("--policy", required=True, metavar="P.toml",
                        help="candidate policy: a fleetcost config file or fragment")
    parser.add_argument("--baseline", metavar="P0.toml",
                        help="baseline policy (default: fleetcost's defaults)")
    parser.add_argument("--fail-above", metavar="PCT", type=_threshold,
                        help="exit 3 when the candidate costs more than PCT above the "
                             "baseline, e.g. 5%% or 0.05")
    parser.add_argument("--model", default="gpt-4o",
                        help="model the trajectories' calls go to (default gpt-4o)")
    parser.add_argument("--emulator-seed", type=int, default=EMULATOR_SEED, metavar="N",
                        help=f"the emulator's seed for both runs (default {EMULATOR_SEED})")
    parser.add_argument("--emulated-lengths", action="store_true",
                        help="let the emulator pick output lengths instead of the recorded ones")
    parser.add_argument("--limit", type=int, metavar="N", help="replay the first N calls only")
    parser.add_argument("--json", action="store_true", help="print JSON (money as strings)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    load_policy(args.policy)  # fail on a bad policy before any server starts
    load_policy(args.baseline)
    calls = load_source(args.source, args.model, args.limit)
    if not calls:
        raise ConfigError(f"replay source {args.source} holds no calls")
    with tempfile.TemporaryDirectory(prefix="fleetcost-replay-") as tmp:
        seed = args.emulator_seed
        forced = not args.emulated_lengths
        base = run_policy(calls, args.baseline, Path(tmp), "baseline", seed=seed,
                          recorded_lengths=forced)
        cand = run_policy(calls, args.policy, Path(tmp), "candidate", seed=seed,
                          recorded_lengths=forced)
    doc = compare.report(base, cand, args.fail_above)
    billed = [c.cost_usd for c in calls if c.cost_usd is not None]
    if billed:
        # What the recorded traffic was really billed, beside both replays.
        doc["recorded"] = {"calls": len(billed), "cost_usd": format_usd(sum(billed, Decimal(0)))}
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
    else:
        print(compare.text(doc))
    for r in (base, cand):
        if r.failed:
            print(f"warning: {r.failed} of {r.sent} calls of the {r.name} run failed, "
                  f"first: {r.errors[0]}", file=sys.stderr)
    gate = doc.get("gate")
    return GATE_FAILED if gate is not None and not gate["passed"] else 0


def _threshold(text: str) -> Decimal:
    try:
        value = Decimal(text[:-1]) / 100 if text.endswith("%") else Decimal(text)
    except InvalidOperation as exc:
        raise argparse.ArgumentTypeError(f"{text} is not a percentage like 5% or 0.05") from exc
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: the threshold cannot be negative")
    return value
