"""Turning a recorded conversation into the requests an agent would send.

Call k of a session is the request the agent made before its k-th reply: the
conversation up to (not including) that assistant message, with the tools.
Consecutive calls therefore share everything but their tail, the shape that
provider prefix caches and context policies act on.

The recordings are in OpenAI format. For Anthropic models the same prefix is
converted to the Messages API: the system prompt moves to `system`;
assistant `tool_calls` become `tool_use` blocks; each `tool` message becomes a
`tool_result` block in a user turn; consecutive turns of one role merge
(Anthropic requires user and assistant to alternate). Two `cache_control`
breakpoints mark the system prompt (with the tools before it) and the last
message, the way an agent that uses Anthropic's prefix cache would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import orjson

from fleetcost.fleet import tools
from fleetcost.types import WireKind

Message = dict[str, Any]
EPHEMERAL: dict[str, str] = {"type": "ephemeral"}
# Anthropic requires a ceiling on output; an agent turn rarely needs more.
ANTHROPIC_MAX_TOKENS = 1024


def call_prefixes(messages: Sequence[Message]) -> Iterator[list[Message]]:
    """Yield the prompt of every assistant turn: all messages before it."""
    for index, message in enumerate(messages):
        if message.get("role") == "assistant":
            yield list(messages[:index])


def openai_body(model: str, prefix: Sequence[Message], *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [_openai_message(m) for m in prefix],
        "tools": tools.openai_tools(),
    }
    if stream:
        body["stream"] = True
    return body


def anthropic_body(model: str, prefix: Sequence[Message], *, stream: bool) -> dict[str, Any]:
    system, messages = to_anthropic(prefix)
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": ANTHROPIC_MAX_TOKENS,
        "system": system,
        "messages": messages,
        "tools": tools.anthropic_tools(),
    }
    if stream:
        body["stream"] = True
    return body


@dataclass(frozen=True, slots=True)
class Wire:
    """How to reach one provider protocol through the gateway."""

    kind: WireKind
    path: str
    build: Callable[..., dict[str, Any]]
    auth: Callable[[str], dict[str, str]]


def _bearer(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def _x_api_key(api_key: str) -> dict[str, str]:
    return {"x-api-key": api_key, "anthropic-version": "2023-06-01"}


WIRES: Mapping[WireKind, Wire] = MappingProxyType({
    "openai": Wire("openai", "/v1/chat/completions", openai_body, _bearer),
    "anthropic": Wire("anthropic", "/v1/messages", anthropic_body, _x_api_key),
})


def to_anthropic(prefix: Sequence[Message]) -> tuple[list[Message], list[Message]]:
    """Convert OpenAI-format messages to Anthropic's `(system, messages)`."""
    system: list[Message] = []
    turns: list[Message] = []
    for message in prefix:
        role = message.get("role")
        if role == "system":
            if message.get("content"):
                system.append({"type": "text", "text": message["content"]})
            continue
        blocks = _anthropic_blocks(message)
        if not blocks:
            continue
        turn_role = "assistant" if role == "assistant" else "user"
        if turns and turns[-1]["role"] == turn_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": turn_role, "content": blocks})
    for turn in turns:
        if turn["role"] == "user":
            # A tool result must open the turn that answers the tool use.
            turn["content"].sort(key=lambda b: b["type"] != "tool_result")
    if system:
        system[-1]["cache_control"] = dict(EPHEMERAL)
    if turns:
        turns[-1]["content"][-1]["cache_control"] = dict(EPHEMERAL)
    return system, turns


def _anthropic_blocks(message: Message) -> list[Message]:
    role = message.get("role")
    content = message.get("content")
    if role == "tool":
        block: Message = {"type": "tool_result", "tool_use_id": message["tool_call_id"]}
        if content:
            block["content"] = content
        return [block]
    blocks: list[Message] = []
    if isinstance(content, str) and content.strip():
        blocks.append({"type": "text", "text": content})
    for call in message.get("tool_calls") or ():
        function = call["function"]
        blocks.append({
            "type": "tool_use",
            "id": call["id"],
            "name": function["name"],
            "input": _arguments(function.get("arguments")),
        })
    return blocks


def _arguments(raw: Any) -> dict[str, Any]:
    """Tool arguments as an object; OpenAI carries them as a JSON string."""
    if isinstance(raw, dict):
        return raw
    try:
        parsed = orjson.loads(raw or "{}")
    except orjson.JSONDecodeError:
        return {"raw": raw}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def _openai_message(message: Message) -> Message:
    """The message as the API defines it (the recordings add a `name` to tool results)."""
    if message.get("role") == "tool":
        return {
            "role": "tool",
            "tool_call_id": message["tool_call_id"],
            "content": message.get("content") or "",
        }
    return dict(message)
