"""Reading what an OpenAI chat completion said, for routing gates.

A whole answer is `choices[0].message`; a streamed one is the concatenation
of `choices[0].delta.content` over the chunks. Token log-probabilities sit in
`choices[0].logprobs.content[].logprob` in both shapes (one entry per token
in a JSON answer, the entries of each chunk in a stream).
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
    choice = _first_choice(data)
    raw_message = choice.get("message")
    message: dict[str, Any] = raw_message if isinstance(raw_message, dict) else {}
    content = message.get("content")
    found: list[float] = []
    _add_logprobs(choice, found)
    logprobs = found if found or _has_logprobs(choice) else None
    return Answer(
        text=content if isinstance(content, str) else "",
        logprobs=logprobs,
        tool_call=bool(message.get("tool_calls")),
        finish_reason=choice.get("finish_reason") if isinstance(
            choice.get("finish_reason"), str) else None,
        tool_text=_tool_text(message.get("tool_calls")),
    )


def _tool_text(calls: Any) -> str:
    parts: list[str] = []
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            parts += [v for k in ("name", "arguments")
                      if isinstance(v := function.get(k), str)]
    return "".join(parts)


def answer_from_stream(raw: bytes) -> Answer:
    parts: list[str] = []
    logprobs: list[float] = []
    seen_logprobs = tool_call = False
    finish: str | None = None
    for event in split_events(raw if raw.endswith(b"\n\n") else raw + b"\n\n"):
        if not event.data or event.data == b"[DONE]":
            continue
        try:
            chunk = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            continue
        choice = _first_choice(chunk)
        delta = choice.get("delta")
        if isinstance(delta, dict):
            if isinstance(delta.get("content"), str):
                parts.append(delta["content"])
            tool_call = tool_call or bool(delta.get("tool_calls"))
        seen_logprobs = _has_logprobs(choice) or seen_logprobs
        _add_logprobs(choice, logprobs)
        if isinstance(choice.get("finish_reason"), str):
            finish = choice["finish_reason"]
    return Answer("".join(parts), logprobs if seen_logprobs else None, tool_call, finish)


def _first_choice(data: Any) -> dict[str, Any]:
    choices = data.get("choices") if isinstance(data, dict) else None
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return {}


def _has_logprobs(choice: dict[str, Any]) -> bool:
    block = choice.get("logprobs")
    return isinstance(block, dict) and isinstance(block.get("content"), list)


def _add_logprobs(choice: dict[str, Any], out: list[float]) -> None:
    block = choice.get("logprobs")
    if not isinstance(block, dict) or not isinstance(block.get("content"), list):
        return
    for item in block["content"]:
        if isinstance(item, dict) and isinstance(item.get("logprob"), int | float):
            out.append(float(item["logprob"]))
