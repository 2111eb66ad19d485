"""`fleetcost simulate WORKLOAD.toml`: the fleet cost model on a team's own numbers.

Prints the cost per period after each lever of the workload (exact expected
values), the spread per task (seeded Monte Carlo), the self-hosting
break-even and the prompt-cache return. `--sweep` twice gives a cost surface
over two lever parameters; `--optimise` finds its cheapest point within the
workload's quality constraint; `--plot FILE` draws the surface (needs the
`plot` extra).
"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal
from typing import Any

import orjson

from fleetcost.errors import ConfigError
from fleetcost.planner import report, sweep
from fleetcost.planner.simulate import simulate
from fleetcost.planner.workload import Workload, load_workload
from fleetcost.pricing import format_usd


def register(sub: Any, name: str, help_text: str) -> None:
    parser = sub.add_parser(name, help=help_text, description=__doc__.splitlines()[0])
    parser.add_argument("workload", metavar="WORKLOAD.toml")
    parser.add_argument("--json", action="store_true", help="print JSON (money as strings)")
    parser.add_argument("--sweep", action="append", default=[], metavar="PARAM=A:B:STEP",
                        help="vary a lever parameter, e.g. cache.hit_rate=0.1:0.6:0.05 "
                             "(give one or two)")
    parser.add_argument("--optimise", "--optimize", action="store_true",
                        help="cheapest swept point within the workload's [constraint]")
    parser.add_argument("--target", metavar="USD", type=Decimal,
                        help="also report the swept point under USD per period that loses "
                             "the least quality")
    parser.add_argument("--plot", metavar="FILE", help="draw the swept surface to FILE (PNG)")
    parser.add_argument("--samples", type=int, metavar="N",
                        help="Monte Carlo tasks per stage (default: the workload's `samples`)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    workload = load_workload(args.workload)
    if args.sweep or args.optimise or args.plot or args.target is not None:
        return _run_sweep(args, workload)
    try:
        sim = simulate(workload, spread_samples=args.samples)
    except (ValueError, ArithmeticError) as exc:
        raise ConfigError(f"{args.workload}: {exc}") from exc
    if args.json:
        _dump(report.as_json(sim))
    else:
        print(report.as_text(sim))
    return 0


def _run_sweep(args: argparse.Namespace, workload: Workload) -> int:
    axes = [sweep.parse_axis(s) for s in args.sweep]
    if not 1 <= len(axes) <= 2:
        raise ConfigError("give one or two --sweep PARAM=START:STOP:STEP")
    points = sweep.grid(workload, axes)
    max_loss = workload.constraint.max_loss if workload.constraint else None
    if args.optimise and max_loss is None:
        raise ConfigError(f"{args.workload}: --optimise needs a [constraint] section")
    doc: dict[str, Any] = {
        "axes": [{"param": a.param, "values": [format_usd(v) for v in a.values]} for a in axes],
        "points": [_point(p) for p in points],
        "surface": [[format_usd(v) for v in row] for row in sweep.surface(axes, points)],
        "cheapest": _point_or_none(sweep.cheapest(points, None)),
    }
    if args.target is not None:
        doc["target"] = _point_or_none(sweep.meeting_target(points, args.target))
    if args.optimise:
        doc["optimum"] = _point_or_none(sweep.cheapest(points, max_loss))
        doc["max_loss"] = format_usd(max_loss) if max_loss is not None else None
    if args.plot:
        from fleetcost.planner.plot import plot_surface

        plot_surface(axes, points, args.plot, workload.period)
    if args.json:
        _dump(doc)
    else:
        print(_sweep_text(doc, workload.period))
    return 0


def _point(p: sweep.Point) -> dict[str, Any]:
    return {"params": {k: format_usd(v) for k, v in p.params},
            "usd": format_usd(p.usd), "loss": format_usd(p.loss)}


def _point_or_none(p: sweep.Point | None) -> dict[str, Any] | None:
    return None if p is None else _point(p)


def _sweep_text(doc: dict[str, Any], period: str) -> str:
    lines = []
    for p in doc["points"]:
        params = "  ".join(f"{k}={v}" for k, v in p["params"].items())
        lines.append(f"{params}  ${Decimal(p['usd']):>14,.2f}/{period}  loss {p['loss']}")
    for key in ("cheapest", "target", "optimum"):
        if key in doc:
            p = doc[key]
            what = "none within the constraint" if p is None else (
                ", ".join(f"{k}={v}" for k, v in p["params"].items())
                + f": ${p['usd']}/{period}, quality loss {p['loss']}")
            lines.append(f"{key}: {what}")
    return "\n".join(lines)


def _dump(doc: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()
