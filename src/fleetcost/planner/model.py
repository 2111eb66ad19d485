"""The fleet cost model: expected cost per period, exact, after each lever.

Per task type, `volume x E[calls] x E[cost per call]`, where a call costs

    h x beta x c_base + (1 - h) x c_miss
    c_miss = c(cheap) + q x c(strong)    with a cascade, else c(strong)
    c(m)   = [t_in x (1 - r - w) x p_in + t_in x r x p_read + t_in x w x p_write
              + t_out x p_out] x (1 - b x d)

with `t_in` after compression where it applies to model `m`, `t_out` after
the output cap, `r`/`w` the prefix-cache read and write shares, `b` the batch
share and `d` the model's batch discount. A cache hit costs a fraction beta
of the call as it was before any lever (`c_base`): the lookup's cost does not
shrink when the model behind it gets cheaper. This is the seed's worked
example generalised; with its numbers it reproduces its figures to the cent.
All of it is `Decimal` arithmetic: no float touches money.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from fleetcost.errors import ConfigError
from fleetcost.planner import dists
from fleetcost.planner import workload as w
from fleetcost.planner.levers import ONE, LeverState
from fleetcost.pricing import load_catalog
from fleetcost.types import Price

MILLION = Decimal(1_000_000)


def resolve_prices(workload: w.Workload) -> dict[str, Price]:
    """Every model the workload names, from its `[prices]` or from the catalog."""
    names = {t.model for t in workload.tasks}
    names |= {lv.model for lv in workload.levers if isinstance(lv, w.CascadeLever)}
    if workload.breakeven is not None:
        names.add(workload.breakeven.model)
    catalog = load_catalog()
    out: dict[str, Price] = {}
    for name in sorted(names):
        spec = workload.prices.get(name)
        if spec is not None:
            out[name] = Price(
                model=name, provider="workload", input=spec.input, output=spec.output,
                cache_read=spec.cache_read, cache_write_5m=spec.cache_write,
                batch_discount=spec.batch_discount,
            )
            continue
        price = catalog.get(name)
        if price is None:
            raise ConfigError(
                f"model {name!r} is not in the price catalog; add [prices.{name}] "
                "with input and output USD per million tokens"
            )
        out[name] = price
    return out


def call_usd(price: Price, t_in: Decimal, t_out: Decimal, st: LeverState,
             batched: Decimal) -> Decimal:
    """USD of one call of `t_in`/`t_out` tokens, `batched` the share at the batch rate."""
    read_rate = price.input if price.cache_read is None else price.cache_read
    write_rate = price.input if price.cache_write_5m is None else price.cache_write_5m
    read, write = t_in * st.read_share, t_in * st.write_share
    micro = (t_in - read - write) * price.input + read * read_rate + write * write_rate
    micro += t_out * price.output
    discount = price.batch_discount if st.batch_discount is None else st.batch_discount
    return micro / MILLION * (ONE - batched * discount)


@dataclass(frozen=True, slots=True)
class TaskDists:
    spec: w.TaskSpec
    calls: dists.Dist
    input_tokens: dists.Dist
    output_tokens: dists.Dist


def task_dists(workload: w.Workload) -> list[TaskDists]:
    return [
        TaskDists(t, w.build_dist(t.calls), w.build_dist(t.input_tokens),
                  w.build_dist(t.output_tokens))
        for t in workload.tasks
    ]


def miss_usd(task: w.TaskSpec, prices: dict[str, Price], st: LeverState, t_in: Decimal,
             t_out: Decimal, batched: Decimal, escalated: Decimal) -> Decimal:
    """A call the response cache did not answer; `escalated` the strong model's share."""
    strong = task.model
    strong_cost = call_usd(prices[strong], t_in * st.compression_for(strong, strong),
                           t_out, st, batched)
    if st.cheap is None:
        return strong_cost
    cheap_in = t_in * st.compression_for(st.cheap, strong)
    return call_usd(prices[st.cheap], cheap_in, t_out, st, batched) + escalated * strong_cost


def expected_per_call(td: TaskDists, prices: dict[str, Price], st: LeverState) -> Decimal:
    t_in = td.input_tokens.mean()
    raw_out = td.output_tokens.mean()
    t_out = raw_out if st.output_cap is None else td.output_tokens.capped_mean(st.output_cap)
    base = call_usd(prices[td.spec.model], t_in, raw_out, LeverState(), Decimal(0))
    miss = miss_usd(td.spec, prices, st, t_in, t_out, st.batch_share, st.escalation)
    return st.hit_rate * st.hit_cost * base + (ONE - st.hit_rate) * miss


def expected_calls(td: TaskDists, st: LeverState) -> Decimal:
    return td.calls.mean() if st.step_cap is None else td.calls.capped_mean(st.step_cap)


def period_usd(tds: list[TaskDists], prices: dict[str, Price],
               sts: list[LeverState]) -> Decimal:
    """Expected USD per period of the whole fleet, task `k` in lever state `sts[k]`."""
    return sum(
        (td.spec.volume * expected_calls(td, st) * expected_per_call(td, prices, st)
         for td, st in zip(tds, sts, strict=True)),
        Decimal(0),
    )
