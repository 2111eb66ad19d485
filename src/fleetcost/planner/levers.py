"""The state of the levers, and how each lever of a workload file changes it.

A `LeverState` says how every call is billed: what share is answered by the
response cache (and at what fraction of a full call), which cheap model a
cascade tries first and how often it escalates, how much of each prompt is
left after compression, what shares of the prompt are read from and written
to the provider's prefix cache, what share of calls runs at the batch
discount, and the caps on output and on calls per task. All levers off is
the default state; stage k of a simulation is the state after the first k
levers of the file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from fleetcost.planner import workload as w

ZERO, ONE = Decimal(0), Decimal(1)


@dataclass(frozen=True, slots=True)
class LeverState:
    hit_rate: Decimal = ZERO
    hit_cost: Decimal = ZERO
    cheap: str | None = None
    escalation: Decimal = ONE
    ratio: Decimal = ONE
    applies_to: Literal["all", "cheap", "strong"] = "all"
    read_share: Decimal = ZERO
    write_share: Decimal = ZERO
    batch_share: Decimal = ZERO
    batch_discount: Decimal | None = None
    output_cap: int | None = None
    step_cap: int | None = None

    def compression_for(self, model: str, strong: str) -> Decimal:
        """The prompt ratio `model` sees as a task of strong model `strong`."""
        if self.applies_to == "all":
            return self.ratio
        if self.applies_to == "cheap":
            return self.ratio if self.cheap is not None and model == self.cheap else ONE
        return self.ratio if model == strong else ONE


def apply(state: LeverState, lever: w.Lever) -> LeverState:
    """`state` with `lever` switched on."""
    r = dataclasses.replace
    match lever:
        case w.CacheLever():
            return r(state, hit_rate=lever.hit_rate, hit_cost=lever.hit_cost)
        case w.CascadeLever():
            return r(state, cheap=lever.model, escalation=lever.escalation)
        case w.CompressionLever():
            return r(state, ratio=lever.ratio, applies_to=lever.applies_to)
        case w.PrefixCacheLever():
            if lever.read_share + lever.write_share > 1:
                raise ValueError("prefix_cache: read_share + write_share exceeds 1")
            return r(state, read_share=lever.read_share, write_share=lever.write_share)
        case w.BatchLever():
            return r(state, batch_share=lever.share, batch_discount=lever.discount)
        case w.OutputCapLever():
            return r(state, output_cap=lever.max_tokens)
        case w.StepCapLever():
            return r(state, step_cap=lever.max_calls)
    raise TypeError(f"unknown lever {lever!r}")


def label(lever: w.Lever) -> str:
    return lever.label or f"+ {lever.kind.replace('_', ' ')}"


def states(levers: list[w.Lever]) -> list[LeverState]:
    """The state before any lever, then after each lever in order."""
    out = [LeverState()]
    for lever in levers:
        out.append(apply(out[-1], lever))
    return out


def for_task(levers: list[w.Lever], task: w.TaskSpec) -> list[w.Lever]:
    """The levers with `task`'s own values (its `levers` table) in place."""
    for kind, fields in task.levers.items():
        for name, value in fields.items():
            try:
                levers = with_param(levers, f"{kind}.{name}", value)
            except ValueError as exc:
                raise ValueError(f"task {task.name!r}: {exc}") from exc
    return levers


def stage_states(levers: list[w.Lever], tasks: list[w.TaskSpec]) -> list[list[LeverState]]:
    """`result[stage][k]`: the lever state of task `k` after the first `stage` levers."""
    per_task = [states(for_task(levers, t)) for t in tasks]
    return [list(stage) for stage in zip(*per_task, strict=True)]


def with_param(levers: list[w.Lever], param: str, value: Decimal) -> list[w.Lever]:
    """The levers with `kind.field` set to `value` (for sweeps and the optimiser)."""
    kind, _, field = param.partition(".")
    found = False
    out: list[w.Lever] = []
    for lever in levers:
        if lever.kind == kind:
            if field not in type(lever).model_fields or field in ("kind", "label"):
                raise ValueError(f"{param}: lever {kind!r} has no numeric field {field!r}")
            lever = type(lever).model_validate({**lever.model_dump(), field: value})
            found = True
        out.append(lever)
    if not found:
        raise ValueError(f"{param}: the workload has no {kind!r} lever to vary")
    return out


def param_value(levers: list[w.Lever], param: str) -> Decimal:
    kind, _, field = param.partition(".")
    for lever in levers:
        if lever.kind == kind:
            return Decimal(getattr(lever, field))
    raise ValueError(f"{param}: the workload has no {kind!r} lever")
