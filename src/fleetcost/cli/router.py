"""`fleetcost router train`: learn a router file from labelled per-query results.

    fleetcost router train DATA --out ROUTER [--weak M --strong M] [--seed N] [--json]

The file is what the gateway's trained routing policy loads
(`fleetcost.routing.trained.load_router`). Train on everything you have here;
measure on a held-out split with `fleetcost eval router` (which trains its own
router on its training split, the same way).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fleetcost.errors import BadRequest


def register(sub: Any, name: str, help_text: str) -> None:
    parser = sub.add_parser(name, help=help_text, description="Trained routers.")
    actions = parser.add_subparsers(dest="router_action", metavar="ACTION", required=True)
    train = actions.add_parser("train", help="learn P(cheap model is good enough) from DATA",
                               description=__doc__.splitlines()[0])
    train.add_argument("data", metavar="DATA", type=Path,
                       help="routing CSV, folder of CSVs, judgements.jsonl or preference CSV")
    train.add_argument("--out", required=True, type=Path, metavar="ROUTER",
                       help="where to write the router file (JSON)")
    train.add_argument("--weak", help="the cheap model (default: the worse of two)")
    train.add_argument("--strong", help="the strong model (default: the better of two)")
    train.add_argument("--seed", type=int, default=0, help="cross-validation seed (default 0)")
    train.add_argument("--json", action="store_true", help="print the training summary as JSON")
    train.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    from fleetcost.routing.data import load
    from fleetcost.routing.evaluate import Settings, pick_models
    from fleetcost.routing.fit import require_numpy
    from fleetcost.routing.trained import train

    if args.out.parent and not args.out.parent.is_dir():
        raise BadRequest(f"no such folder for --out: {args.out.parent}", param="out")
    require_numpy()
    bench = load(args.data)
    weak, strong = pick_models(bench, Settings(weak=args.weak, strong=args.strong))
    router = train(bench, range(len(bench.queries)), weak, strong, seed=args.seed)
    router.save(args.out)
    summary = {"out": str(args.out), "weak_model": weak, "strong_model": strong,
               "threshold": round(router.threshold, 6), **router.training}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        sys.stdout.write(
            f"wrote {args.out}: {weak} -> {strong}, {summary['rows']} rows, features "
            f"{summary['features']}, cross-validated APGR {summary['cv_apgr']}, "
            f"threshold {summary['threshold']}\n")
    return 0
