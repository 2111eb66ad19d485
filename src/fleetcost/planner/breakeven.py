"""Self-hosting versus the API, and what a prompt-cache write must earn.

A node that costs `H` USD per hour and serves `kappa` calls per hour costs
`H / kappa` per call at full load, so it beats an API call of price `c_api`
once its utilisation `u` exceeds `(H / kappa) / c_api`. The API price per call
is the model's own price per call in the workload's final lever state (the
seed compares the node with the cheap model's compressed call), averaged over
task types by call volume.

A prompt-cache write costs `p_write - p_in` more per token than a plain
prompt token and each later read saves `p_in - p_read`: the write pays for
itself after `(p_write - p_in) / (p_in - p_read)` reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from fleetcost.planner import workload as w
from fleetcost.planner.levers import LeverState
from fleetcost.planner.model import TaskDists, call_usd, expected_calls
from fleetcost.types import Price

SECONDS_PER_HOUR = 3600


@dataclass(frozen=True, slots=True)
class Case:
    kind: str  # "spot" | "on_demand"
    hourly: Decimal
    selfhost_per_call: Decimal
    utilisation: Decimal


def selfhost_per_call(hourly: Decimal, calls_per_hour: Decimal) -> Decimal:
    return hourly / calls_per_hour


def utilisation_threshold(selfhost: Decimal, api_per_call: Decimal) -> Decimal:
    """u > (H / kappa) / c_api; above 1 the node never pays for itself."""
    return selfhost / api_per_call


def api_per_call(spec: w.BreakevenSpec, tds: list[TaskDists], prices: dict[str, Price],
                 sts: list[LeverState]) -> Decimal:
    total_calls, total_usd = Decimal(0), Decimal(0)
    for td, st in zip(tds, sts, strict=True):
        calls = td.spec.volume * expected_calls(td, st)
        out = td.output_tokens.mean()
        if st.output_cap is not None:
            out = td.output_tokens.capped_mean(st.output_cap)
        t_in = td.input_tokens.mean() * st.compression_for(spec.model, td.spec.model)
        total_usd += calls * call_usd(prices[spec.model], t_in, out, st, st.batch_share)
        total_calls += calls
    return total_usd / total_calls


def cases(spec: w.BreakevenSpec, c_api: Decimal) -> list[Case]:
    kappa = spec.calls_per_second * SECONDS_PER_HOUR
    out = []
    for kind, hourly in (("spot", spec.spot_hourly), ("on_demand", spec.on_demand_hourly)):
        if hourly is not None:
            per_call = selfhost_per_call(hourly, kappa)
            out.append(Case(kind, hourly, per_call, utilisation_threshold(per_call, c_api)))
    return out


@dataclass(frozen=True, slots=True)
class CacheRoi:
    model: str
    write_premium: Decimal  # USD per million tokens above the input rate
    read_saving: Decimal  # USD per million tokens below the input rate
    reads_per_write: Decimal | None  # None: reads save nothing, a write never pays


def prompt_cache_roi(price: Price) -> CacheRoi:
    read = price.input if price.cache_read is None else price.cache_read
    write = price.input if price.cache_write_5m is None else price.cache_write_5m
    premium, saving = write - price.input, price.input - read
    reads = None if saving <= 0 else max(premium, Decimal(0)) / saving
    return CacheRoi(price.model, premium, saving, reads)
