"""Running the configured policies over one request's messages.

`compress` is pure apart from the summariser it is given: the same messages,
policies and knobs (and the same summaries) always give the same output,
which is what keeps a compressed prefix stable across turns. It checks its
own output against the protocol's invariants and returns the original
messages, with the problems listed, if the rewrite broke any.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from fleetcost.compress.conv import Conv, Env, Knobs, Summarise
from fleetcost.compress.dedupe import dedupe
from fleetcost.compress.pairing import problems
from fleetcost.compress.payback import CacheRates
from fleetcost.compress.prune import prune
from fleetcost.compress.rules import rules
from fleetcost.compress.summary import summary
from fleetcost.compress.trim import trim
from fleetcost.compress.units import DIALECTS, Message
from fleetcost.compress.window import window

Policy = Callable[[Conv, Env], Awaitable[Conv]]
POLICIES: Mapping[str, Policy] = MappingProxyType({
    "trim": trim,
    "dedupe": dedupe,
    "window": window,
    "summary": summary,
    "prune": prune,
})

__all__ = ["POLICIES", "CacheRates", "Knobs", "Outcome", "compress"]


@dataclass(frozen=True, slots=True)
class Outcome:
    messages: list[Message]
    changed: bool
    done: tuple[str, ...]
    tokens_before: int
    tokens_after: int
    # Invariants the rewrite broke (then `messages` is the original, unchanged).
    problems: tuple[str, ...] = ()

    @property
    def saved_tokens(self) -> int:
        return self.tokens_before - self.tokens_after


async def _no_summary(transcript: str) -> str | None:
    return None


async def compress(
    kind: str,
    messages: list[Message],
    model: str,
    policies: Sequence[str],
    knobs: Knobs | None = None,
    summarise: Summarise = _no_summary,
    min_tokens: int = 0,
    rates: CacheRates | None = None,
) -> Outcome:
    """`rates`: the model's cache prices over its input price (default: no cache)."""
    dialect = DIALECTS[kind]
    env = Env(dialect, knobs or Knobs(), model, rules(), summarise, rates or CacheRates())
    before = env.tokens(messages)
    if before < min_tokens:
        return Outcome(messages, False, ("small",), before, before)
    if problems(kind, messages):
        # Not ours to fix: the provider will say what is wrong with it.
        return Outcome(messages, False, ("skipped:invalid-input",), before, before)
    head, units = dialect.split(messages)
    conv = Conv(tuple(head), tuple(units))
    for name in policies:
        conv = await POLICIES[name](conv, env)
    if not conv.done:
        return Outcome(messages, False, (), before, before)
    out = env.messages(conv)
    broken = problems(kind, out)
    if broken:
        return Outcome(messages, False, ("skipped:pairing",), before, before, tuple(broken))
    after = env.tokens(out)
    if after >= before:
        # Markers and summaries can outweigh what they replace: then send the original.
        return Outcome(messages, False, ("no-gain",), before, before)
    return Outcome(out, True, conv.done, before, after)
