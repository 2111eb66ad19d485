"""`fleetcost eval router`: cost-quality curves of routing policies on labelled data.

    fleetcost eval router DATA [--policy P]... [--json] [--train-fraction F] [--seed N]
                               [--repeats N] [--weak M --strong M] [--price-as M=CATALOG]...
                               [--catalog FILE] [--plot FILE.png]

DATA: a routing CSV, a folder of them, a judgements.jsonl, or a wide
preference CSV (see fleetcost.routing.data). Policies learn on one split and
are scored on the other; random and oracle are always reported beside them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from fleetcost.errors import BadRequest

METRICS = ("apgr", "cpt50", "cpt80", "cost_reduction_at_95")


def register(kinds: Any) -> None:
    parser = kinds.add_parser(
        "router", help="routing policies' cost-quality curves, APGR, CPT, cost at 95%",
        description="Train on one split, report every policy on the other.",
    )
    parser.add_argument("data", metavar="DATA", type=Path,
                        help="routing CSV, folder of CSVs, judgements.jsonl or preference CSV")
    parser.add_argument("--policy", action="append",
                        choices=("length", "trained", "trained-per-dollar", "cascade"),
                        help="evaluate only this policy (repeatable; default: all that apply)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--train-fraction", type=float, default=0.5,
                        help="share of queries to train on (default 0.5)")
    parser.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="also run seeds seed+1.. and report the spread (default 1)")
    parser.add_argument("--weak", help="the cheap model (default: the worse of two)")
    parser.add_argument("--strong", help="the strong model (default: the better of two)")
    parser.add_argument("--price-as", action="append", default=[], metavar="MODEL=CATALOG",
                        help="price a data-set model as this catalog entry (repeatable)")
    parser.add_argument("--catalog", type=Path, default=None, help="price catalog file")
    parser.add_argument("--plot", type=Path, default=None, metavar="FILE.png",
                        help="draw the curves (needs the `plot` extra)")
    parser.set_defaults(func=run_router)


def _settings(args: argparse.Namespace) -> Any:
    from fleetcost.routing.evaluate import POLICIES, Settings

    if not 0.0 < args.train_fraction < 1.0:
        raise BadRequest("--train-fraction must be between 0 and 1", param="train-fraction")
    if args.repeats < 1:
        raise BadRequest("--repeats must be at least 1", param="repeats")
    price_as = {}
    for item in args.price_as:
        model, sep, entry = item.partition("=")
        if not sep or not model or not entry:
            raise BadRequest(f"--price-as wants MODEL=CATALOG_MODEL, got {item!r}",
                             param="price-as")
        price_as[model] = entry
    policies = tuple(dict.fromkeys(args.policy)) if args.policy else POLICIES
    return Settings(args.train_fraction, args.seed, args.weak, args.strong, policies, price_as)


def run_router(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from fleetcost.pricing import load_catalog
    from fleetcost.routing.data import load
    from fleetcost.routing.evaluate import evaluate

    settings = _settings(args)
    if args.catalog is not None and not args.catalog.is_file():
        raise BadRequest(f"no such catalog file: {args.catalog}", param="catalog")
    catalog = load_catalog(args.catalog)
    bench = load(args.data)
    reports = [evaluate(bench, replace(settings, seed=args.seed + r), catalog)
               for r in range(args.repeats)]
    report = reports[0]
    if args.repeats > 1:
        report["over_seeds"] = spread(reports)
    if args.plot is not None:
        from fleetcost.routing.plot import plot

        plot(report, args.plot)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 0


def spread(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation of each metric across the seeds' splits."""
    out: dict[str, Any] = {"seeds": [r["seed"] for r in reports]}
    for name in reports[0]["policies"]:
        row = {}
        for key in METRICS:
            values = [r["policies"][name][key] for r in reports
                      if name in r["policies"] and r["policies"][name][key] is not None]
            if values:
                sd = statistics.stdev(values) if len(values) > 1 else 0.0
                row[key] = {"mean": round(statistics.fmean(values), 4), "sd": round(sd, 4),
                            "n": len(values)}
        out[name] = row
    return out


def print_table(report: dict[str, Any]) -> None:
    out = sys.stdout
    rows = report["rows"]
    out.write(f"{report['benchmark']}: weak {report['weak_model']} "
              f"(quality {report['weak_quality']:.3f}, ${report['weak_cost_per_query']}/query), "
              f"strong {report['strong_model']} (quality {report['strong_quality']:.3f}, "
              f"${report['strong_cost_per_query']}/query); train {rows['train']}, "
              f"test {rows['test']} rows, seed {report['seed']}\n")
    out.write(f"{'policy':<18} {'APGR':>7} {'CPT(50%)':>9} {'CPT(80%)':>9} "
              f"{'cost cut @95%':>14} {'strong share @95%':>18}\n")
    seeds = report.get("over_seeds", {})
    for name, p in report["policies"].items():
        out.write(f"{name:<18} {p['apgr']:>7.3f} {_pct(p['cpt50']):>9} {_pct(p['cpt80']):>9} "
                  f"{_pct(p['cost_reduction_at_95']):>14} {_pct(p['strong_share_at_95']):>18}")
        if name in seeds and "apgr" in seeds[name]:
            a = seeds[name]["apgr"]
            out.write(f"   APGR over {a['n']} seeds {a['mean']:.3f} ± {a['sd']:.3f}")
        out.write("\n")
    for name, why in report.get("skipped", {}).items():
        out.write(f"{name}: skipped, {why}\n")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
