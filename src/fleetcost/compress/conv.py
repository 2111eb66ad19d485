"""The conversation as policies see it, and what they share.

`Conv` is immutable: each policy returns a new one, so a policy that fails
half way leaves nothing half rewritten. `Env` carries what a policy may
consult: the protocol's dialect, the knobs, the model (for token counts),
the word lists and the summariser.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from fleetcost.compress.payback import CacheRates
from fleetcost.compress.rules import Rules
from fleetcost.compress.units import Dialect, Message, Unit, join
from fleetcost.pricing.tokens import REPLY_PRIMING, count_messages

# transcript of a block -> its summary, or None when none could be had.
Summarise = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class Knobs:
    """Policy settings; `[compress]` in the config maps onto these one to one."""

    keep_last_turns: int = 6
    block_turns: int = 8
    keep_tool_results: bool = True
    keep_corrections: bool = True
    trim_tool_tokens: int = 1500
    dedupe_min_chars: int = 200
    prune_budget_tokens: int = 6000
    # window and summary cut a block only if it pays back within this many turns
    # (see `payback`); 0 cuts regardless of the provider cache.
    payback_turns: int = 4
    summary_max_tokens: int = 400


@dataclass(frozen=True, slots=True)
class Conv:
    head: tuple[Message, ...]
    units: tuple[Unit, ...]
    notes: tuple[str, ...] = ()
    # What each policy did, for the ledger note ("trim:3", "summary:2"...).
    done: tuple[str, ...] = field(default=())

    def did(self, what: str, **changes: object) -> Conv:
        return replace(self, done=(*self.done, what), **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Env:
    dialect: Dialect
    knobs: Knobs
    model: str
    rules: Rules
    summarise: Summarise
    rates: CacheRates = field(default_factory=CacheRates)

    def messages(self, conv: Conv) -> list[Message]:
        head = self.dialect.add_notes(list(conv.head), list(conv.notes))
        return join(head, list(conv.units))

    def tokens(self, messages: list[Message]) -> int:
        return count_messages(messages, self.model).tokens

    def sizes(self, conv: Conv) -> list[int]:
        """Tokens of each turn group (without the reply priming counted once per prompt)."""
        return [self.tokens(list(u.messages)) - REPLY_PRIMING for u in conv.units]

    def older(self, conv: Conv) -> int:
        """How many groups lie before the verbatim window of the last turns."""
        return max(0, len(conv.units) - self.knobs.keep_last_turns)
