"""Totals of what the emulator served, for tests that audit the gateway's ledger.

Counts use the ledger's semantics (OpenTelemetry's): `input_tokens` is every
prompt token including cache reads and writes, whichever protocol answered,
so a test can compare `GET /emulator/stats` with the sum of the ledger rows
without converting Anthropic's split.

What counts as served: a request counts once the emulator starts to answer
it. Its input side counts in full (the prompt was processed and the cache
touched); its output counts the tokens actually sent -- all of them for a
completed answer, the ones before the cut for a `cut-stream` fault or a
client that went away mid-stream. Requests answered with a fault status
(429, 500, ...) or a 4xx validation error served no tokens and count only
under `faults` / `errors`; a `timeout` fault counts under `faults` and, if
the client waited it out, as served too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from fleetcost.types import Usage


@dataclass(slots=True)
class Totals:
    requests: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0

    def add(self, usage: Usage) -> None:
        self.requests += 1
        self.input_tokens += usage.input_tokens
        self.cached_tokens += usage.cached_tokens
        self.cache_write_tokens += usage.cache_write_tokens
        self.cache_write_5m_tokens += usage.cache_write_5m_tokens
        self.cache_write_1h_tokens += usage.cache_write_1h_tokens
        self.output_tokens += usage.output_tokens
        self.reasoning_tokens += usage.reasoning_tokens


class Stats:
    def __init__(self) -> None:
        self.totals = Totals()
        self.models: dict[str, Totals] = {}
        self.faults: Counter[str] = Counter()
        self.errors = 0
        self.client_disconnects = 0

    def served(self, model: str, usage: Usage) -> None:
        self.totals.add(usage)
        per_model = self.models.get(model)
        if per_model is None:
            per_model = self.models[model] = Totals()
        per_model.add(usage)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.totals.requests,
            "errors": self.errors,
            "faults": dict(self.faults),
            "client_disconnects": self.client_disconnects,
            "totals": asdict(self.totals),
            "models": {name: asdict(t) for name, t in sorted(self.models.items())},
        }
