"""Value types shared by every layer.

They carry no behaviour beyond small derived properties, so that pricing,
providers, storage and the pipeline can exchange them without importing each
other. Money is always `Decimal` (USD); token counts are always `int`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

WireKind = Literal["openai", "anthropic"]
Tier = Literal["frontier", "mid", "small"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one call, normalised to OpenTelemetry GenAI semantics.

    `input_tokens` counts every prompt token however it was billed: the parts
    read from (`cached_tokens`) and written to (`cache_write_5m_tokens`,
    `cache_write_1h_tokens`) the provider's prefix cache are subsets of it.
    `reasoning_tokens` is a subset of `output_tokens`. Adapters convert each
    provider's own usage block into this shape; the cost function reads only it.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def cache_write_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    @property
    def uncached_input_tokens(self) -> int:
        """Prompt tokens billed at the plain input rate."""
        return self.input_tokens - self.cached_tokens - self.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            *(getattr(self, f.name) + getattr(other, f.name) for f in dataclasses.fields(self))
        )


@dataclass(frozen=True, slots=True)
class Price:
    """One catalog entry. Rates are USD per million tokens, exact decimals.

    A rate of `None` means the provider does not offer that kind of billing
    (for example no cache write price for OpenAI's automatic caching, where
    writes are free); the cost function then bills those tokens at the input
    rate. `batch_discount` is the fraction taken off a batched call (0.5 for
    the common 50% discount).
    """

    model: str
    provider: str
    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    cache_write_5m: Decimal | None = None
    cache_write_1h: Decimal | None = None
    batch_discount: Decimal = Decimal(0)
    context_window: int | None = None
    max_output_tokens: int | None = None
    min_cacheable_tokens: int | None = None
    tier: Tier = "mid"
    effective_from: str = "2024-01-01"


@dataclass(slots=True)
class Identity:
    """Who a call is for: read from `X-Fleetcost-*` headers or body metadata."""

    tenant: str = "default"
    agent_id: str | None = None
    session_id: str | None = None
    task_type: str | None = None
    parent_id: str | None = None
    # Budget scopes beyond the ledger columns: a team, and free-form tags.
    team: str | None = None
    tags: tuple[str, ...] = ()


CallOutcome = Literal[
    "success", "error", "escalated", "budget_exceeded", "loop_detected", "cancelled"
]


@dataclass(slots=True)
class CallRecord:
    """One row of the `calls` ledger (ARCHITECTURE.md section 2).

    `cost_usd` is `None` when the model has no price: an unpriced call is
    reported as such, never as $0.
    """

    call_id: str
    ts: str
    tenant: str = "default"
    agent_id: str | None = None
    session_id: str | None = None
    parent_id: str | None = None
    task_type: str | None = None
    requested_model: str | None = None
    model: str | None = None
    provider: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    cache_status: str = "none"
    response_cache: str = "bypass"
    cost_usd: Decimal | None = None
    saved_usd: Decimal = Decimal(0)
    latency_ms: float | None = None
    ttft_ms: float | None = None
    escalated: bool = False
    outcome: CallOutcome = "success"
    route_reason: str | None = None
    prefix_hash: str | None = None
    system_tokens: int | None = None
    batch: bool = False
    error: str | None = None
    # The max_tokens in force for the call (after caps and degrade), for the
    # report of answers that ran into their cap.
    output_cap: int | None = None
    # "provider": token counts are the provider's own usage fields;
    # "estimated": the provider reported none (or a stream ended without
    # them), so the gateway counted them offline and priced the estimate.
    usage_source: str = "provider"
    extra: dict[str, Any] = field(default_factory=dict)


LEDGER_FIELDS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(CallRecord) if f.name != "extra"
)


@dataclass(slots=True)
class PrefixEvidence:
    """How a call's prompt compared with the previous prompt of its session.

    Tokens are o200k counts of the gateway's block split (estimates for
    non-OpenAI models). `expected_cached_tokens` is what the provider's
    documented cache rules let it read of the prompt as sent;
    `stable_cached_tokens` what they would have let it read had the previous
    prompt been kept intact. A break names the first differing block, its
    region (tools, system, messages), what the changed span looks like and
    a redacted snippet of it, and its offset in tokens from the prompt's start.
    """

    previous_call_id: str
    shared_tokens: int
    previous_tokens: int
    expected_cached_tokens: int
    stable_cached_tokens: int
    break_block: int | None = None
    break_offset_tokens: int | None = None
    break_region: str | None = None
    span_kind: str | None = None
    span_snippet: str | None = None
    cache_write_1h_tokens: int = 0
