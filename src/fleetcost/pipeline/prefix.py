"""Per-session prefix tracking: how each prompt compares with the session's last one.

An agent resends its whole history on every turn, so each prompt of a
session should extend the previous one, and the provider should read all of
the previous prompt from its prefix cache. The tracker keeps, per session,
only the block digests, token offsets and cache markers of the last prompt
(plus the text of its stable blocks, tools and system, to explain a break),
in a bounded map owned by the app's context. Comparing a new prompt is a
walk over a few dozen digests; the tokenizer runs only on blocks it has not
seen, and on the rare broken block.

The result, a `PrefixEvidence`, says how many tokens the two prompts share,
where and why they part (see `span`), and how many tokens the provider's
documented rules let it read: with the prompt as sent (`expected`) and had
the previous prompt been kept intact (`stable`). The doctor prices the gap.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fleetcost.pipeline.prompt_blocks import ENCODING, Prompt, prompt_of
from fleetcost.pipeline.span import differing_span
from fleetcost.pricing.encodings import encoded_length
from fleetcost.pricing.prefix_rules import (
    CacheRule,
    TrackerBounds,
    automatic_read,
    breakpoint_read,
    tracker_bounds,
)
from fleetcost.types import PrefixEvidence

FALLBACK = {"tools": "changed tools", "system": "changed system prompt",
            "messages": "edited history"}


@dataclass(frozen=True, slots=True)
class _Seen:
    call_id: str
    at: float
    prompt: Prompt


class PrefixTracker:
    def __init__(self, bounds: TrackerBounds | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bounds = bounds or tracker_bounds()
        self._clock = clock
        self._sessions: OrderedDict[tuple[str, str], _Seen] = OrderedDict()
        self._tokens: dict[bytes, Any] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def warm(self) -> None:
        """Load the tokenizer now (about a second), not on the first call."""
        encoded_length("warm", ENCODING)

    def prompt(self, request: Any, rule: CacheRule | None = None,
               session: tuple[str, str] | None = None) -> Prompt:
        """The request's blocks; a session's resent history is taken from its last prompt."""
        schema = rule is not None and rule.tool_tokens == "schema"
        seen = self._sessions.get(session) if session is not None else None
        return prompt_of(request, self._tokens, self.bounds.token_memo,
                         self.bounds.stable_text_chars, schema,
                         seen.prompt if seen is not None else None)

    def compare(self, session: tuple[str, str], call_id: str, prompt: Prompt,
                rule: CacheRule, minimum: int | None) -> PrefixEvidence | None:
        """Evidence against the session's previous prompt; remembers this one."""
        now = self._clock()
        prev = self._sessions.pop(session, None)
        self._sessions[session] = _Seen(call_id, now, prompt)
        if len(self._sessions) > self.bounds.sessions:
            self._sessions.popitem(last=False)
        if prev is None or not prev.prompt.blocks:
            return None
        evidence = _evidence(prev.prompt, prompt, rule, minimum)
        evidence.previous_call_id = prev.call_id
        if now - prev.at > _ttl(rule, prev.prompt):
            evidence.expected_cached_tokens = evidence.stable_cached_tokens = 0
        return evidence


def _ttl(rule: CacheRule, prompt: Prompt) -> float:
    one_hour = any(b.ttl == "1h" for b in prompt.blocks)
    return rule.ttl_1h_s if one_hour else rule.ttl_s


def _shared_blocks(old: Prompt, new: Prompt) -> int:
    count = 0
    for a, b in zip(old.blocks, new.blocks, strict=False):
        if a.digest != b.digest:
            break
        count += 1
    return count


def _read(rule: CacheRule, old: Prompt, new: Prompt, blocks: int, tokens: int,
          minimum: int | None) -> int:
    if rule.explicit:
        return breakpoint_read(rule, old.ends, blocks, old.breakpoints, new.breakpoints, minimum)
    return automatic_read(rule, tokens, minimum)


def _evidence(old: Prompt, new: Prompt, rule: CacheRule, minimum: int | None) -> PrefixEvidence:
    shared = _shared_blocks(old, new)
    stable_tokens = min(old.tokens, new.tokens)
    stable = _read(rule, old, new, len(old.blocks), stable_tokens, minimum)
    if shared == len(old.blocks) or shared == len(new.blocks):
        tokens = old.ends[shared - 1] if shared else 0
        expected = _read(rule, old, new, shared, tokens, minimum)
        return PrefixEvidence("", tokens, old.tokens, expected, stable)
    tokens = old.ends[shared - 1] if shared else 0
    kind, snippet, partial = _why(old, new, shared)
    tokens += partial
    expected = _read(rule, old, new, shared, tokens, minimum)
    return PrefixEvidence("", tokens, old.tokens, expected, stable, break_block=shared,
                          break_offset_tokens=tokens,
                          break_region=new.blocks[shared].region, span_kind=kind,
                          span_snippet=snippet)


def _why(old: Prompt, new: Prompt, at: int) -> tuple[str, str | None, int]:
    """(what the differing span looks like, its redacted snippet, tokens shared inside it)."""
    was, now = old.blocks[at], new.blocks[at]
    if now.region == "tools" and was.region == "tools":
        before = sorted(b.digest for b in old.blocks if b.region == "tools")
        after = sorted(b.digest for b in new.blocks if b.region == "tools")
        if before == after:
            return "reordered tools", None, 0
    if was.text is None or now.text is None or was.region != now.region:
        return FALLBACK[now.region], None, 0
    span = differing_span(was.text, now.text, FALLBACK[now.region])
    return span.kind, span.snippet, encoded_length(now.text[: span.start], ENCODING)
