"""Turn groups, and the two wire protocols' ways of writing a conversation.

A `Dialect` knows one protocol's message shapes: how to cut a message list
into a head and turn groups, where tool results live and how to rewrite
their text, how to insert summary notes, and how to ask a model for a
summary. Policies work on `Unit`s and call the dialect for anything that
depends on the shape, so each policy is written once for both protocols.

`chat` is OpenAI's: system messages inside `messages`, assistant
`tool_calls`, one `tool` message per result. `blocks` is Anthropic's: the
system prompt outside `messages`, content blocks, `tool_use` in an assistant
turn answered by `tool_result` blocks in the next user turn, user and
assistant alternating. Blocks a policy does not rewrite keep every key they
had (`cache_control` included).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

import orjson

Message = dict[str, Any]
NOTE_HEADER = "[fleetcost: summary of earlier turns]"


@dataclass(frozen=True, slots=True)
class Unit:
    """Messages that are kept, dropped or replaced together."""

    messages: tuple[Message, ...]
    # A system message in mid-conversation: instructions, never dropped.
    pinned: bool = False


@dataclass(frozen=True, slots=True)
class ToolResult:
    """One tool output: which message (index in a unit) and which part of it."""

    message: int
    part: int  # -1: the message's own content (chat); else the block index
    call_id: str
    text: str


class Dialect(Protocol):
    def split(self, messages: list[Message]) -> tuple[list[Message], list[Unit]]: ...

    def tool_results(self, unit: Unit) -> Iterator[ToolResult]: ...

    def with_result_text(self, unit: Unit, result: ToolResult, text: str) -> Unit: ...

    def user_text(self, message: Message) -> str: ...

    def add_notes(self, head: list[Message], notes: list[str]) -> list[Message]: ...

    def summary_body(self, model: str, prompt: str, transcript: str,
                     max_tokens: int) -> dict[str, Any]: ...

    def answer_text(self, payload: bytes) -> str: ...


def text_of(content: Any) -> str:
    """The readable text of a content field: a string, or text parts/blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, Mapping):
                if isinstance(part.get("text"), str):
                    out.append(part["text"])
                elif part.get("type") == "tool_result":
                    out.append(text_of(part.get("content")))
        return "\n".join(out)
    return ""


def render(message: Message) -> str:
    """One line per message, for summaries and relevance scores."""
    role = str(message.get("role"))
    parts = [text_of(message.get("content"))]
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        parts.append(f"called {fn.get('name')}({fn.get('arguments')})")
    content = message.get("content")
    if isinstance(content, list):
        for block in content:
            if isinstance(block, Mapping) and block.get("type") == "tool_use":
                args = orjson.dumps(block.get("input")).decode()
                parts.append(f"called {block.get('name')}({args})")
    text = " ".join(p for p in parts if p)
    return f"{role}: {text}"


def _first_user(messages: list[Message], start: int) -> int:
    """Index just past the head: through the first user message, if it comes first."""
    if start < len(messages) and messages[start].get("role") == "user":
        return start + 1
    return start


class Chat:
    """OpenAI chat completions."""

    def split(self, messages: list[Message]) -> tuple[list[Message], list[Unit]]:
        start = 0
        while start < len(messages) and messages[start].get("role") in ("system", "developer"):
            start += 1
        cut = _first_user(messages, start)
        units: list[Unit] = []
        for message in messages[cut:]:
            role = message.get("role")
            pinned = role in ("system", "developer")
            # A turn: an assistant message and what the world said after it
            # (its tool results, then the user), as in the blocks protocol.
            if role != "assistant" and not pinned and units and not units[-1].pinned:
                units[-1] = Unit((*units[-1].messages, message))
            else:
                units.append(Unit((message,), pinned=pinned))
        return list(messages[:cut]), units

    def tool_results(self, unit: Unit) -> Iterator[ToolResult]:
        for index, message in enumerate(unit.messages):
            if message.get("role") == "tool":
                yield ToolResult(index, -1, str(message.get("tool_call_id")),
                                 text_of(message.get("content")))

    def with_result_text(self, unit: Unit, result: ToolResult, text: str) -> Unit:
        messages = list(unit.messages)
        messages[result.message] = {**messages[result.message], "content": text}
        return Unit(tuple(messages), unit.pinned)

    def user_text(self, message: Message) -> str:
        return text_of(message.get("content")) if message.get("role") == "user" else ""

    def add_notes(self, head: list[Message], notes: list[str]) -> list[Message]:
        if not notes:
            return head
        return [*head, {"role": "user", "content": "\n\n".join([NOTE_HEADER, *notes])}]

    def summary_body(self, model: str, prompt: str, transcript: str,
                     max_tokens: int) -> dict[str, Any]:
        return {"model": model, "max_tokens": max_tokens, "temperature": 0,
                "messages": [{"role": "system", "content": prompt},
                             {"role": "user", "content": transcript}]}

    def answer_text(self, payload: bytes) -> str:
        choices = orjson.loads(payload).get("choices") or [{}]
        return text_of((choices[0].get("message") or {}).get("content"))


class Blocks:
    """Anthropic messages."""

    def split(self, messages: list[Message]) -> tuple[list[Message], list[Unit]]:
        cut = _first_user(messages, 0)
        units: list[Unit] = []
        for message in messages[cut:]:
            # A user turn closes the assistant turn before it (its tool results answer it).
            if message.get("role") == "user" and units and len(units[-1].messages) == 1 \
                    and units[-1].messages[0].get("role") == "assistant":
                units[-1] = Unit((*units[-1].messages, message))
            else:
                units.append(Unit((message,)))
        return list(messages[:cut]), units

    def tool_results(self, unit: Unit) -> Iterator[ToolResult]:
        for index, message in enumerate(unit.messages):
            content = message.get("content")
            if not isinstance(content, list):
                continue
            for part, block in enumerate(content):
                if isinstance(block, Mapping) and block.get("type") == "tool_result":
                    yield ToolResult(index, part, str(block.get("tool_use_id")),
                                     text_of(block.get("content")))

    def with_result_text(self, unit: Unit, result: ToolResult, text: str) -> Unit:
        messages = list(unit.messages)
        message = messages[result.message]
        content = list(message["content"])
        content[result.part] = {**content[result.part], "content": text}
        messages[result.message] = {**message, "content": content}
        return Unit(tuple(messages), unit.pinned)

    def user_text(self, message: Message) -> str:
        if message.get("role") != "user":
            return ""
        content = message.get("content")
        if isinstance(content, list):
            content = [b for b in content if isinstance(b, Mapping) and b.get("type") == "text"]
        return text_of(content)

    def add_notes(self, head: list[Message], notes: list[str]) -> list[Message]:
        if not notes or not head:
            return head
        first = head[0]
        content = first.get("content")
        blocks = list(content) if isinstance(content, list) else [{"type": "text", "text": content}]
        blocks.append({"type": "text", "text": "\n\n".join([NOTE_HEADER, *notes])})
        return [{**first, "content": blocks}, *head[1:]]

    def summary_body(self, model: str, prompt: str, transcript: str,
                     max_tokens: int) -> dict[str, Any]:
        return {"model": model, "max_tokens": max_tokens, "temperature": 0, "system": prompt,
                "messages": [{"role": "user", "content": transcript}]}

    def answer_text(self, payload: bytes) -> str:
        return text_of(orjson.loads(payload).get("content"))


DIALECTS: Mapping[str, Dialect] = MappingProxyType({"openai": Chat(), "anthropic": Blocks()})


def join(head: list[Message], units: list[Unit]) -> list[Message]:
    return [*head, *(m for u in units for m in u.messages)]
