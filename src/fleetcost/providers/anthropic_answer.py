"""Reading what an Anthropic message said, for routing gates.

A whole answer's text is the concatenation of its `text` content blocks; a
streamed one arrives as `text_delta`s inside `content_block_delta` events.
Anthropic returns no token log-probabilities, so `logprobs` is always None.
"""

from __future__ import annotations

from typing import Any

import orjson

from fleetcost.providers.base import Answer
from fleetcost.providers.sse import split_events


def answer_from_json(body: bytes) -> Answer:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Answer("")
    if not isinstance(data, dict):
        return Answer("")
    parts: list[str] = []
    tools: list[str] = []
    for block in data.get("content") or ():
        if isinstance(block, dict):
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                parts.append(block["text"])
            if block.get("type") == "tool_use":
                tools.append(str(block.get("name") or "")
                             + orjson.dumps(block.get("input") or {}).decode())
    stop = data.get("stop_reason")
    return Answer("".join(parts), None, bool(tools), stop if isinstance(stop, str) else None,
                  "".join(tools))


def answer_from_stream(raw: bytes) -> Answer:
    parts: list[str] = []
    tool_call = False
    stop: str | None = None
    for event in split_events(raw if raw.endswith(b"\n\n") else raw + b"\n\n"):
        if event.event not in ("content_block_start", "content_block_delta", "message_delta"):
            continue
        try:
            data: Any = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        block = data.get("content_block") or data.get("delta") or {}
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text_delta" and isinstance(block.get("text"), str):
            parts.append(block["text"])
        tool_call = tool_call or block.get("type") == "tool_use"
        if isinstance(block.get("stop_reason"), str):
            stop = block["stop_reason"]
    return Answer("".join(parts), None, tool_call, stop)
