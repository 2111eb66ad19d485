"""Hypothesis strategies: agent conversations in OpenAI shape, valid by construction.

A conversation is a system prompt, the user's task, then turns: an assistant
message (text, or one to three tool calls answered by tool messages), and
sometimes a user message after it (now and then a correction). Tool outputs
are drawn from a small pool so some repeat, and some are long, so every
policy has something to do. The Anthropic form is the same conversation
converted by the fleet's wire module, with `cache_control` on the system
prompt and the last block as an agent would send it.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import strategies as st

WORDS = ("flight", "booking", "refund", "cabin", "economy", "JFK", "LAX", "seat", "bag",
         "insurance", "passenger", "card", "date", "cancel", "reservation", "total")
CORRECTIONS = ("No, I meant the other flight.", "Actually, make it business class.",
               "Wait, that is not my reservation.")

text = st.lists(st.sampled_from(WORDS), min_size=1, max_size=30).map(" ".join)
long_text = st.lists(st.sampled_from(WORDS), min_size=80, max_size=300).map(" ".join)
tool_output = st.one_of(text, long_text, st.sampled_from(("x" * 300, "same record " * 40)))


@st.composite
def turn(draw: Any, number: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    calls = draw(st.integers(0, 3))
    if calls:
        ids = [f"call_{number}_{i}" for i in range(calls)]
        out.append({"role": "assistant", "content": draw(st.one_of(st.none(), text)),
                    "tool_calls": [{"id": i, "type": "function", "function": {
                        "name": draw(st.sampled_from(("get_user", "search", "book"))),
                        "arguments": orjson.dumps({"q": draw(text)}).decode()}}
                        for i in ids]})
        out += [{"role": "tool", "tool_call_id": i, "content": draw(tool_output)} for i in ids]
    else:
        out.append({"role": "assistant", "content": draw(text)})
    if not calls or draw(st.booleans()):
        out.append({"role": "user",
                    "content": draw(st.one_of(text, st.sampled_from(CORRECTIONS)))})
    return out


@st.composite
def conversation(draw: Any, min_turns: int = 0, max_turns: int = 24) -> list[dict[str, Any]]:
    messages = [{"role": "system", "content": "You are an airline agent. " + draw(text)},
                {"role": "user", "content": draw(text)}]
    for number in range(draw(st.integers(min_turns, max_turns))):
        messages += draw(turn(number))
    return messages
