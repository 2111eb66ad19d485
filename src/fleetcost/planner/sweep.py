"""Cost surfaces over two levers, and the cheapest point under a quality constraint.

A sweep varies lever parameters (`cache.hit_rate`, `cascade.escalation`...)
over a grid and evaluates the exact expected cost with every lever of the
workload on. The optimiser searches the same grid for the cheapest point
whose quality loss stays within the workload's `[constraint]`: each penalty
says how many quality points one point (0.01) of a parameter costs once it
moves past its baseline in the stated direction, as in the seed's exercise
(each point of escalation rate below 0.30 costs a point of accuracy).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal

from fleetcost.errors import ConfigError
from fleetcost.planner import workload as w
from fleetcost.planner.levers import stage_states, with_param
from fleetcost.planner.model import period_usd, resolve_prices, task_dists

POINT = Decimal("0.01")
MAX_GRID = 100_000


@dataclass(frozen=True, slots=True)
class Axis:
    param: str
    values: tuple[Decimal, ...]


def parse_axis(text: str) -> Axis:
    """`cache.hit_rate=0.1:0.6:0.05` (start:stop:step, stop included) or `=0.1,0.2,0.4`."""
    param, sep, spec = text.partition("=")
    if not sep or "." not in param:
        raise ConfigError(f"--sweep {text}: write PARAM=START:STOP:STEP, e.g. "
                          "cache.hit_rate=0.1:0.6:0.05")
    try:
        if ":" in spec:
            start, stop, step = (Decimal(p) for p in spec.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            count = int((stop - start) / step) + 1
            values = tuple(start + i * step for i in range(count))
        else:
            values = tuple(Decimal(p) for p in spec.split(","))
    except (ArithmeticError, ValueError) as exc:
        raise ConfigError(f"--sweep {text}: START:STOP:STEP must be numbers, step > 0, "
                          "stop >= start") from exc
    return Axis(param, values)


@dataclass(frozen=True, slots=True)
class Point:
    params: tuple[tuple[str, Decimal], ...]
    usd: Decimal
    loss: Decimal


def loss(workload: w.Workload, params: dict[str, Decimal]) -> Decimal:
    """Quality points lost at `params` (parameters not swept keep the workload's value)."""
    if workload.constraint is None:
        return Decimal(0)
    total = Decimal(0)
    for pen in workload.constraint.penalties:
        if pen.param not in params:
            continue
        gap = params[pen.param] - pen.baseline
        moved = -gap if pen.direction == "below" else gap
        if moved > 0:
            total += moved / POINT * pen.per_point
    return total


def grid(workload: w.Workload, axes: list[Axis]) -> list[Point]:
    """Every combination of the axes' values, evaluated with all levers on."""
    size = 1
    for axis in axes:
        size *= len(axis.values)
    if size > MAX_GRID:
        raise ConfigError(f"the sweep has {size:,} points; keep it under {MAX_GRID:,}")
    prices = resolve_prices(workload)
    tds = task_dists(workload)
    points = []
    for combo in itertools.product(*(axis.values for axis in axes)):
        levers = list(workload.levers)
        params = {}
        for axis, value in zip(axes, combo, strict=True):
            try:
                levers = with_param(levers, axis.param, value)
            except ValueError as exc:
                raise ConfigError(f"--sweep {axis.param}: {exc}") from exc
            params[axis.param] = value
        try:
            final = stage_states(levers, list(workload.tasks))[-1]
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        usd = period_usd(tds, prices, final)
        points.append(Point(tuple(params.items()), usd, loss(workload, params)))
    return points


def surface(axes: list[Axis], points: list[Point]) -> list[list[Decimal]]:
    """Costs as rows over the second axis, columns over the first (one row for one axis)."""
    if len(axes) == 1:
        return [[p.usd for p in points]]
    width = len(axes[1].values)
    return [[points[i * width + j].usd for i in range(len(axes[0].values))]
            for j in range(width)]


def meeting_target(points: list[Point], target: Decimal) -> Point | None:
    """The point under `target` that loses the least quality (then the cheapest)."""
    ok = [p for p in points if p.usd < target]
    return min(ok, key=lambda p: (p.loss, p.usd)) if ok else None


def cheapest(points: list[Point], max_loss: Decimal | None) -> Point | None:
    """The cheapest point within `max_loss` (ties: the smaller loss, then grid order)."""
    ok = [p for p in points if max_loss is None or p.loss <= max_loss]
    return min(ok, key=lambda p: (p.usd, p.loss)) if ok else None
