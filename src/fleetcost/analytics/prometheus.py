"""Live counters for `GET /metrics`, in the Prometheus text format.

Fed by the account stage's record sink, so every call the ledger sees is
counted here too. Cost is kept as an exact Decimal and converted to a float
only when rendered, because Prometheus samples are floats anyway.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from fleetcost.types import CallRecord

_TOKEN_TYPES = ("input", "output", "cached", "cache_write")


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str, str], int] = defaultdict(int)
        self.tokens: dict[tuple[str, str, str], int] = defaultdict(int)
        self.cost: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
        self.unpriced: dict[str, int] = defaultdict(int)
        self.latency_sum_ms: dict[str, float] = defaultdict(float)
        self.latency_count: dict[str, int] = defaultdict(int)

    def observe(self, rec: CallRecord) -> None:
        model = rec.model or "unknown"
        self.requests[(model, rec.provider or "unknown", rec.tenant, rec.outcome)] += 1
        counts = (rec.input_tokens, rec.output_tokens, rec.cached_tokens, rec.cache_write_tokens)
        for kind, n in zip(_TOKEN_TYPES, counts, strict=True):
            if n:
                self.tokens[(model, rec.tenant, kind)] += n
        if rec.cost_usd is None:
            self.unpriced[model] += 1
        else:
            self.cost[(model, rec.tenant, rec.outcome)] += rec.cost_usd
        if rec.latency_ms is not None:
            self.latency_sum_ms[model] += rec.latency_ms
            self.latency_count[model] += 1

    def render(self) -> bytes:
        lines = [
            "# HELP fleetcost_requests_total Calls through the gateway.",
            "# TYPE fleetcost_requests_total counter",
        ]
        for (model, provider, tenant, outcome), n in sorted(self.requests.items()):
            lines.append(
                f'fleetcost_requests_total{{model="{_esc(model)}",provider="{_esc(provider)}",'
                f'tenant="{_esc(tenant)}",outcome="{outcome}"}} {n}'
            )
        lines += ["# HELP fleetcost_tokens_total Tokens by model, tenant and type.",
                  "# TYPE fleetcost_tokens_total counter"]
        for (model, tenant, kind), n in sorted(self.tokens.items()):
            lines.append(f'fleetcost_tokens_total{{model="{_esc(model)}",tenant="{_esc(tenant)}",'
                         f'type="{kind}"}} {n}')
        lines += ["# HELP fleetcost_cost_usd_total Exact spend in USD by model, tenant, outcome.",
                  "# TYPE fleetcost_cost_usd_total counter"]
        for (model, tenant, outcome), usd in sorted(self.cost.items()):
            lines.append(f'fleetcost_cost_usd_total{{model="{_esc(model)}",'
                         f'tenant="{_esc(tenant)}",outcome="{outcome}"}} {usd}')
        lines += ["# HELP fleetcost_unpriced_calls_total Calls to models with no price.",
                  "# TYPE fleetcost_unpriced_calls_total counter"]
        for model, n in sorted(self.unpriced.items()):
            lines.append(f'fleetcost_unpriced_calls_total{{model="{_esc(model)}"}} {n}')
        lines += ["# HELP fleetcost_latency_ms Call latency through the gateway.",
                  "# TYPE fleetcost_latency_ms summary"]
        for model, total in sorted(self.latency_sum_ms.items()):
            lines.append(f'fleetcost_latency_ms_sum{{model="{_esc(model)}"}} {total:.3f}')
            lines.append(
                f'fleetcost_latency_ms_count{{model="{_esc(model)}"}} {self.latency_count[model]}'
            )
        return ("\n".join(lines) + "\n").encode()
