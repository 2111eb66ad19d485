"""Automatic cache breakpoints for explicit-cache protocols (`[cache.anthropic_breakpoints]`).

A breakpoint cache stores nothing unless the request marks where to cut.
Many clients never mark anything and pay full price for a system prompt and
history they resend on every turn. With `auto = true` the gateway adds
`cache_control` markers at the end of the stable prefix: after the tools and
system prompt, and after the earlier turns of the conversation (everything
but the newest message, which the next turn resends). A marker is added only
where the prefix through it reaches the model's minimum cacheable length,
never on a block the client already marked, and never beyond the protocol's
limit of markers per request, counting the client's own. Markers change how
the prompt is billed, not what the model reads: the blocks keep their text,
a plain string content becomes the equivalent single text block.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from fleetcost.pipeline.prompt_blocks import Path, Prompt
from fleetcost.pricing.prefix_rules import CacheRule
from fleetcost.providers.base import ChatRequest

MARKER = {"type": "ephemeral"}


def targets(prompt: Prompt, rule: CacheRule, minimum: int | None, existing: int) -> list[int]:
    """Block indices to mark, in order of value (stable prefix first).

    `existing` counts the client's markers (a block is one message here, which
    may hold several). A 5-minute marker may not precede a 1-hour one, so no
    target is chosen before the client's last 1-hour marker.
    """
    budget = rule.max_breakpoints - existing
    last_1h = max((i for i, b in enumerate(prompt.blocks) if b.ttl == "1h"), default=-1)
    floor = minimum or rule.min_tokens
    blocks = prompt.blocks
    wanted = [prompt.stable_end - 1]
    turns = [b.path[1] for b in blocks if b.region == "messages"]
    if turns:
        newest = turns[-1]
        earlier = [i for i, b in enumerate(blocks)
                   if b.region == "messages" and b.path[1] != newest]
        if earlier:
            wanted.append(earlier[-1])
    chosen: list[int] = []
    for index in wanted:
        if budget <= 0:
            break
        if index <= last_1h or blocks[index].ttl is not None or prompt.ends[index] < floor:
            continue
        chosen.append(index)
        budget -= 1
    return chosen


def add_breakpoints(request: ChatRequest, prompt: Prompt, rule: CacheRule,
                    minimum: int | None) -> tuple[ChatRequest, Prompt]:
    """The request with markers added (a new body; the client's is untouched)."""
    existing = orjson.dumps(request.body).count(b'"cache_control"')
    chosen = targets(prompt, rule, minimum, existing)
    if not chosen:
        return request, prompt
    body = dict(request.body)
    for index in chosen:
        _mark(body, prompt.blocks[index].path)
    blocks = list(prompt.blocks)
    for index in chosen:
        blocks[index] = dataclasses.replace(blocks[index], ttl="5m", auto=True)
    new = dataclasses.replace(request, body=body, messages=body["messages"],
                              system=body.get("system"), tools=body.get("tools"))
    marked = tuple(sorted({*prompt.breakpoints, *chosen}))
    return new, dataclasses.replace(prompt, blocks=tuple(blocks), breakpoints=marked)


def _marked(part: Any) -> dict[str, Any]:
    if isinstance(part, str):
        return {"type": "text", "text": part, "cache_control": dict(MARKER)}
    return {**part, "cache_control": dict(MARKER)}


def _mark(body: dict[str, Any], path: Path) -> None:
    """Copy-on-write down `path` and mark the block it ends at (a message: its last part)."""
    key = str(path[0])
    if len(path) == 1:  # a plain string system prompt
        body[key] = [_marked(body[key])]
        return
    items = list(body[key])
    body[key] = items
    index = int(path[1])
    if key != "messages":
        items[index] = _marked(items[index])
        return
    message = dict(items[index])
    content = message.get("content")
    if isinstance(content, list) and content:
        message["content"] = [*content[:-1], _marked(content[-1])]
    else:
        message["content"] = [_marked(content if isinstance(content, str) else "")]
    items[index] = message
