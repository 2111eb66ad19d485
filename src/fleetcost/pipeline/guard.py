"""Guard stage: stop runaway agents before they cost money.

Checked in this order, per session (calls without a session id are not
guarded: a stateless agent serving many users legitimately repeats tool
calls), with limits from `[guards]` and `[guards.tasks.NAME]`:

* step cap: at most `max_steps` calls per session;
* wall clock: no call later than `max_session_s` after the session's first;
* loops: the same request body, or the same latest tool call (name and
  arguments), seen `loop_repeats` times within `loop_window_s`. An agent
  loop resends its history with one more identical tool call each turn, so
  the newest assistant tool call is what repeats; a client retrying one
  request repeats the body;
* growth: `growth_steps` consecutive steps whose prompt grew while no new
  tool result arrived (the agent talks to itself at a rising price).

A refused call is answered 429 `loop_detected` and recorded in the ledger
with that outcome at $0; it does not count as a step, but a loop stays
detected while its repeats are within the window.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from fleetcost.config import GuardLimits
from fleetcost.errors import LoopDetected
from fleetcost.pipeline.caps import apply_caps, prompt_count
from fleetcost.pipeline.context import GatewayContext
from fleetcost.pipeline.guard_state import SessionTrack
from fleetcost.pipeline.state import CallState


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=12).digest()


def last_tool_calls(messages: Sequence[Mapping[str, Any]]) -> bytes | None:
    """Fingerprint of the newest assistant turn's tool calls, in either protocol's shape."""
    for message in reversed(messages):
        if message.get("role") != "assistant":
            continue
        calls: list[Any] = []
        for call in message.get("tool_calls") or ():
            fn = call.get("function") or {} if isinstance(call, dict) else {}
            calls.append((fn.get("name"), fn.get("arguments")))
        content = message.get("content")
        if isinstance(content, list):
            calls += [(b.get("name"), b.get("input")) for b in content
                      if isinstance(b, dict) and b.get("type") == "tool_use"]
        if not calls:
            return None
        return b"t" + _digest(orjson.dumps(calls, option=orjson.OPT_SORT_KEYS))
    return None


def tool_results(messages: Sequence[Mapping[str, Any]]) -> int:
    count = 0
    for message in messages:
        if message.get("role") == "tool":
            count += 1
        content = message.get("content")
        if isinstance(content, list):
            count += sum(1 for b in content if isinstance(b, dict)
                         and b.get("type") == "tool_result")
    return count


def guard(state: CallState, ctx: GatewayContext, body: bytes) -> None:
    guards = ctx.settings.guards
    if not guards.enabled or state.request is None:
        return
    limits = ctx.guard_limits(state.identity.task_type)
    apply_caps(state, limits, ctx.token_memo)
    ident = state.identity
    if ident.session_id is None:
        return
    now = time.monotonic()
    track = ctx.guard_book.track(f"{ident.tenant}\x00{ident.session_id}", now)
    _check(state, ctx, track, limits, body, now)
    track.steps += 1


def _check(state: CallState, ctx: GatewayContext, track: SessionTrack, limits: GuardLimits,
           body: bytes, now: float) -> None:
    assert state.request is not None
    if limits.max_steps is not None and track.steps >= limits.max_steps:
        raise LoopDetected(f"session reached its step cap of {limits.max_steps} calls")
    if limits.max_session_s is not None and now - track.started > limits.max_session_s:
        raise LoopDetected(f"session ran past its wall-clock cap of {limits.max_session_s:g} s")
    if limits.loop_repeats is not None:
        since = now - (limits.loop_window_s or float("inf"))
        for fp, what in ((b"r" + _digest(body), "the same request"),
                         (last_tool_calls(state.request.messages), "the same tool call")):
            if fp is None:
                continue
            track.events.append((now, fp))
            seen = track.repeats(fp, since)
            if seen >= limits.loop_repeats:
                raise LoopDetected(
                    f"loop detected: {what} {seen} times within {limits.loop_window_s:g} s "
                    f"(limit {limits.loop_repeats})")
    if limits.growth_steps is not None:
        _growth(state, ctx, track, limits.growth_steps)


def _growth(state: CallState, ctx: GatewayContext, track: SessionTrack, steps: int) -> None:
    assert state.request is not None
    prompt = prompt_count(state, ctx.token_memo).tokens
    results = tool_results(state.request.messages)
    grew = prompt > track.last_prompt and results <= track.last_tool_results
    track.growth = track.growth + 1 if grew and track.last_prompt else 0
    track.last_prompt, track.last_tool_results = prompt, results
    if track.growth >= steps:
        raise LoopDetected(f"loop detected: the prompt grew for {track.growth} steps in a row "
                           "without a new tool result")
