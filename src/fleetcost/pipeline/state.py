"""Per-call state and the replies the pipeline hands back to the server.

One `CallState` is created per request and passed through the stages; it is
the only place a call's facts accumulate, so the account stage can build the
ledger record from it alone, whichever stage ended the call.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from fleetcost.pipeline.budget_hold import BudgetHold
from fleetcost.pricing.tokens import TokenCount
from fleetcost.providers.base import ChatRequest, WireAdapter
from fleetcost.types import CallOutcome, Identity, PrefixEvidence, Price, Usage

if TYPE_CHECKING:
    from fleetcost.pipeline.semantic import SemanticPlan


def new_call_id() -> str:
    """Sortable by time (millisecond hex prefix), unique by 64 random bits.

    Python's PRNG rather than os.urandom: ids need uniqueness, not secrecy,
    and the syscall showed up in the gateway's profile.
    """
    return f"call_{time.time_ns() // 1_000_000:011x}{random.getrandbits(64):016x}"


@dataclass(slots=True)
class CallState:
    adapter: WireAdapter
    headers: dict[str, str]
    call_id: str = field(default_factory=new_call_id)
    ts: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="microseconds"))
    started: float = field(default_factory=time.perf_counter)
    request: ChatRequest | None = None
    identity: Identity = field(default_factory=Identity)
    # Set by route:
    deployment: str | None = None
    upstream_model: str | None = None
    price: Price | None = None
    route_reason: str | None = None
    # What the call would have cost on the strong model (routing's saving); None: no lever.
    reference_price: Price | None = None
    escalated: bool = False
    # Set by call:
    usage: Usage | None = None
    answered_model: str | None = None
    ttft_ms: float | None = None
    outcome: CallOutcome = "success"
    # Set by cache: exact | semantic | miss | bypass, and what a hit saved.
    response_cache: str = "bypass"
    saved_usd: Decimal = Decimal(0)
    semantic: SemanticPlan | None = None
    error: str | None = None
    attempts: int = 0
    # Compression: policies forced for this call (a budget's degrade plan sets
    # it; () forces compression off; None lets header and config decide), and
    # what the compress stage did (lands in route_reason).
    compress_policy: tuple[str, ...] | None = None
    compress_note: str | None = None
    # Set by guard and budget: the prompt's token count (counted once), the
    # live reservation, response headers they add, and the degrade plan's
    # asks to later stages (`compress` is read by the compress stage).
    prompt_count: TokenCount | None = None
    budget: BudgetHold | None = None
    reply_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    compress: bool = False
    summarize: bool = False
    requested_model: str | None = None
    cache_marked: bool = False  # the body asks for provider cache writes (cache_control)
    # Set by the prefix hook (pipeline/prefix_hook.py):
    prefix_hash: str | None = None
    system_tokens: int | None = None
    prefix_evidence: PrefixEvidence | None = None
    # Set when the provider reported no usage and it was counted offline.
    usage_estimated: bool = False


@dataclass(slots=True)
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass(slots=True)
class StreamReply:
    """A streamed answer: the server sends `chunks` and closes the iterator.

    Closing it early (client gone) runs the iterator's cleanup, which is where
    the call is accounted as `cancelled` with the tokens streamed so far.
    """

    status: int
    headers: list[tuple[bytes, bytes]]
    chunks: AsyncIterator[bytes]
