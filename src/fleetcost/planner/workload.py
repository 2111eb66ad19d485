"""The workload file of `fleetcost simulate`: task types, prices, levers.

Strict like the gateway's config (an unknown key is an error, not a silent
no-op). Money and rates are exact decimals: a TOML float such as `0.35` is
read through its shortest text form, so it means 0.35 and not the binary
number nearest to it. Levers are an ordered array of tables because the
report gives the cost after each one, in the order the file lists them.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from fleetcost.errors import ConfigError
from fleetcost.planner import dists


def _exact(value: object) -> object:
    return str(value) if isinstance(value, float | int) and not isinstance(value, bool) else value


Num = Annotated[Decimal, BeforeValidator(_exact)]
Share = Annotated[Decimal, BeforeValidator(_exact), Field(ge=0, le=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DistSpec(_Strict):
    """A distribution: `lognormal` (mean, sigma), `poisson` (mean), or a sample
    (`values`, or `path` + `column` of a CSV, JSONL or ledger file)."""

    dist: Literal["lognormal", "poisson", "empirical"]
    mean: Num | None = None
    sigma: float = Field(default=0.5, ge=0)
    values: list[int] | None = None
    path: str | None = None
    column: str | None = None
    where: dict[str, str] | None = None
    # The workload file's folder, for relative `path`s (set by `load_workload`).
    base: str | None = None

    def build(self) -> dists.Dist:
        if self.dist == "empirical":
            if self.values:
                return dists.Empirical(tuple(self.values))
            if not (self.path and self.column):
                raise ConfigError("an empirical distribution needs `values` or `path` + `column`")
            base = Path(self.base) if self.base else None
            return dists.Empirical(dists.load_sample(self.path, self.column, self.where,
                                                     base=base))
        if self.mean is None or self.mean <= 0:
            raise ConfigError(f"a {self.dist} distribution needs a positive `mean`")
        if self.dist == "poisson":
            return dists.Poisson(self.mean)
        return dists.LogNormal(self.mean, self.sigma)


Quantity = Num | DistSpec


def build_dist(q: Quantity) -> dists.Dist:
    return dists.Constant(q) if isinstance(q, Decimal) else q.build()


class PriceSpec(_Strict):
    """USD per million tokens; unset cache rates bill at the input rate."""

    input: Num
    output: Num
    cache_read: Num | None = None
    cache_write: Num | None = None
    batch_discount: Share = Decimal(0)


class TaskSpec(_Strict):
    name: str
    volume: Num = Field(gt=0)  # tasks per period
    calls: Quantity = Decimal(1)  # model calls per task
    input_tokens: Quantity
    output_tokens: Quantity
    model: str
    # This task type's own lever values, over the workload's: `{ cache = { hit_rate = "0.6" } }`.
    levers: dict[str, dict[str, Num]] = Field(default_factory=dict)


class CacheLever(_Strict):
    kind: Literal["cache"]
    label: str | None = None
    hit_rate: Share
    hit_cost: Share = Decimal(0)


class CascadeLever(_Strict):
    kind: Literal["cascade"]
    label: str | None = None
    model: str
    escalation: Share


class CompressionLever(_Strict):
    kind: Literal["compression"]
    label: str | None = None
    ratio: Share
    # Which prompts are compressed: every call, or only the cascade's cheap
    # (or strong) model's.
    applies_to: Literal["all", "cheap", "strong"] = "all"


class PrefixCacheLever(_Strict):
    kind: Literal["prefix_cache"]
    label: str | None = None
    read_share: Share
    write_share: Share = Decimal(0)


class BatchLever(_Strict):
    kind: Literal["batch"]
    label: str | None = None
    share: Share
    # Overrides every model's catalog discount when set.
    discount: Share | None = None


class OutputCapLever(_Strict):
    kind: Literal["output_cap"]
    label: str | None = None
    max_tokens: int = Field(ge=1)


class StepCapLever(_Strict):
    kind: Literal["step_cap"]
    label: str | None = None
    max_calls: int = Field(ge=1)


Lever = Annotated[
    CacheLever | CascadeLever | CompressionLever | PrefixCacheLever | BatchLever
    | OutputCapLever | StepCapLever,
    Field(discriminator="kind"),
]


class BreakevenSpec(_Strict):
    """Self-hosting `model` on nodes serving `calls_per_second` each."""

    model: str
    calls_per_second: Num = Field(gt=0)
    spot_hourly: Num | None = None
    on_demand_hourly: Num | None = None


class Penalty(_Strict):
    """Quality points lost per point (0.01) a lever parameter moves past `baseline`."""

    param: str  # "<lever kind>.<field>", e.g. "cascade.escalation"
    baseline: Num
    per_point: Num = Decimal(1)
    direction: Literal["below", "above"] = "below"


class Constraint(_Strict):
    max_loss: Num  # quality points
    penalties: list[Penalty]


class ReportSpec(_Strict):
    # Display rounding (half to even, the decimal default); JSON also carries exact values.
    usd_per_period: Num = Decimal(1)
    usd_per_call: Num = Decimal("0.000001")
    share: Num = Decimal("0.001")
    baseline_label: str = "baseline"


class Workload(_Strict):
    name: str = "workload"
    period: str = "day"
    seed: int = 7
    samples: int = Field(default=10_000, ge=1, le=1_000_000)
    prices: dict[str, PriceSpec] = Field(default_factory=dict)
    tasks: list[TaskSpec] = Field(min_length=1)
    levers: list[Lever] = Field(default_factory=list)
    breakeven: BreakevenSpec | None = None
    constraint: Constraint | None = None
    report: ReportSpec = ReportSpec()


def load_workload(path: str | Path) -> Workload:
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"workload file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"workload file {path} is not valid TOML: {exc}") from exc
    base = str(Path(path).resolve().parent)
    for task in data.get("tasks") or ():
        for key in ("calls", "input_tokens", "output_tokens"):
            spec = task.get(key) if isinstance(task, dict) else None
            if isinstance(spec, dict) and "path" in spec:
                spec.setdefault("base", base)
    return parse_workload(data, str(path))


def parse_workload(data: dict[str, object], where: str = "workload") -> Workload:
    try:
        return Workload.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{where}: {loc}: {err['msg']}") from exc
