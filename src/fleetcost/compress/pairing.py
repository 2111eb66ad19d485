"""The protocol invariants a compressed request must keep, checked.

Both providers reject a conversation in which a tool call has no result or a
result answers no call, so the compress stage checks its own output with
these functions before sending it, and sends the original request instead
if anything is wrong. They are also what the property tests assert.

- chat (OpenAI): the tool messages right after an assistant message answer
  exactly the ids of its `tool_calls`, and no tool message stands elsewhere.
- blocks (Anthropic): the first message is the user's; the user turn right
  after an assistant turn with `tool_use` blocks holds a `tool_result` for
  every one of them, and every `tool_result` answers a `tool_use` of the
  assistant turn just before it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

Message = Mapping[str, Any]


def _call_ids(message: Message) -> list[str]:
    return [str(c.get("id")) for c in message.get("tool_calls") or ()]


def chat_problems(messages: Sequence[Message]) -> list[str]:
    found: list[str] = []
    open_ids: set[str] = set()
    answering = False
    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            call_id = str(message.get("tool_call_id"))
            if not answering or call_id not in open_ids:
                found.append(f"message {index}: tool result {call_id} answers no open call")
            open_ids.discard(call_id)
            continue
        if open_ids:
            found.append(f"message {index}: calls {sorted(open_ids)} have no result")
        open_ids = set(_call_ids(message)) if role == "assistant" else set()
        answering = bool(open_ids)
    if open_ids:
        found.append(f"end: calls {sorted(open_ids)} have no result")
    return found


def _blocks(message: Message, kind: str) -> list[Mapping[str, Any]]:
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, Mapping) and b.get("type") == kind]


def blocks_problems(messages: Sequence[Message]) -> list[str]:
    found: list[str] = []
    if messages and messages[0].get("role") != "user":
        found.append("message 0: the first message must be the user's")
    uses: set[str] = set()
    for index, message in enumerate(messages):
        results = {str(b.get("tool_use_id")) for b in _blocks(message, "tool_result")}
        if message.get("role") == "user":
            if results - uses:
                found.append(f"message {index}: results {sorted(results - uses)} answer no call")
            if uses - results:
                found.append(f"message {index}: calls {sorted(uses - results)} have no result")
            uses = set()
            continue
        if uses:
            found.append(f"message {index}: calls {sorted(uses)} have no result")
        if results:
            found.append(f"message {index}: tool results in an assistant turn")
        uses = {str(b.get("id")) for b in _blocks(message, "tool_use")}
    if uses and messages and messages[-1].get("role") != "assistant":
        found.append(f"end: calls {sorted(uses)} have no result")
    return found


CHECKS: Mapping[str, Callable[[Sequence[Message]], list[str]]] = MappingProxyType({
    "openai": chat_problems,
    "anthropic": blocks_problems,
})


def problems(kind: str, messages: Sequence[Message]) -> list[str]:
    """What is wrong with `messages` for protocol `kind`; empty when all is well."""
    return CHECKS[kind](messages)
