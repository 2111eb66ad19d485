"""Cache stage, second half: the semantic cache, asked after an exact miss.

A scope is everything that must be identical before two questions may share
an answer: the tenant, the wire protocol, the model family (the requested
model without a date suffix), the prompt version, a hash of the system
prompt, a hash of the tools (with `tool_choice`), every other request field
that shapes the output (temperature, top_p, seed, response_format,
max_tokens, stream and stream_options...), and the conversation older than
the context window. Only within one scope is similarity considered at all.

What is embedded is the last user turn, then (optionally) up to
`context_turns` preceding turns, most recent first and bounded by
`context_chars`, so MiniLM's 256-token truncation cuts old context before
the question. A call whose last turn is not plain user text (a tool result,
an image, an assistant prefill) is never answered semantically: such turns
are data, where "similar" is not "same".

Lookups and writes run in worker threads (`asyncio.to_thread`); the query
vector of a miss is kept and stored with the answer, so a miss embeds once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from fleetcost.config import SemanticCacheConfig
from fleetcost.pipeline.cache import UNKEYED, CachePlan
from fleetcost.pipeline.state import CallState
from fleetcost.storage.base import CacheEntry, SemanticEntry

if TYPE_CHECKING:
    from fleetcost.cache.semcache import SemanticCache
    from fleetcost.pipeline.context import GatewayContext

log = logging.getLogger("fleetcost.pipeline")

# Fields that are the conversation itself or do not change the answer; the
# rest of the body is part of the scope as it is.
CONVERSATION = frozenset({"messages", "system", "tools", "tool_choice", "model"}) | UNKEYED
INSTRUCTION_ROLES = frozenset({"system", "developer"})
DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")


@dataclass(slots=True)
class SemanticPlan:
    scope: str
    text: str
    threshold: float
    read: bool
    write: bool
    tags: tuple[str, ...]
    vector: Any = None  # the query's embedding, once computed


def _digest(*parts: object) -> str:
    return hashlib.blake2b(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS),
                           digest_size=16).hexdigest()


def turn_text(message: Any) -> str | None:
    """Plain text of a message, or None when it carries anything but text."""
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        return None
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text":
            return None
        text = part.get("text")
        if not isinstance(text, str):
            return None
        texts.append(text)
    return "\n".join(texts)


def model_family(model: str) -> str:
    return DATE_SUFFIX.sub("", model)


def embed_text(turns: list[dict[str, Any]], cfg: SemanticCacheConfig) -> tuple[str, int] | None:
    """The text to embed and how many turns it covers; None when the last turn
    is not plain user text."""
    if not turns or turns[-1].get("role") != "user":
        return None
    question = turn_text(turns[-1])
    if question is None or not question.strip():
        return None
    parts, budget, used = [question], cfg.context_chars, 1
    for message in reversed(turns[:-1][-cfg.context_turns:] if cfg.context_turns else []):
        text = turn_text(message) or orjson.dumps(message.get("content")).decode()
        if budget <= 0:
            break
        parts.append(text[-budget:])
        budget -= len(text)
        used += 1
    return "\n".join(parts), used


def scope_key(state: CallState, turns_older: list[dict[str, Any]], version: str) -> str:
    req = state.request
    assert req is not None
    body = req.body
    system = [req.system, [m for m in req.messages if m.get("role") in INSTRUCTION_ROLES]]
    tools = [body.get("tools"), body.get("tool_choice")]
    params = {k: v for k, v in body.items() if k not in CONVERSATION}
    return _digest(state.identity.tenant, state.adapter.kind, model_family(req.model), version,
                   _digest(system), _digest(tools), params, _digest(turns_older))


def plan_semantic(state: CallState, cfg: SemanticCacheConfig, cache: CachePlan,
                  version: str) -> SemanticPlan | None:
    """None when the semantic cache has no part in this call."""
    req = state.request
    if not cfg.enabled or cache.key is None or req is None:
        return None
    turns = [m for m in req.messages if isinstance(m, dict)
             and m.get("role") not in INSTRUCTION_ROLES]
    found = embed_text(turns, cfg)
    if found is None:
        return None
    text, used = found
    task = state.identity.task_type
    threshold = cfg.thresholds.get(task, cfg.threshold) if task else cfg.threshold
    if threshold is None:  # one default, the one `eval cache` measures
        from fleetcost.cache.verify import default_threshold

        threshold = default_threshold()
    return SemanticPlan(scope=scope_key(state, turns[:-used], version), text=text,
                        threshold=threshold, read=cache.read, write=cache.write, tags=cache.tags)


async def lookup_semantic(semantic: SemanticCache, sp: SemanticPlan) -> CacheEntry | None:
    """Embedding and search in a worker thread; the hit comes back as a replayable entry."""
    if not sp.read:
        return None
    try:
        entry, sp.vector = await asyncio.to_thread(semantic.lookup, sp.scope, sp.text,
                                                   sp.threshold, time.time())
    except Exception:
        # A cache is an optimisation: its failure costs a miss, never the call.
        log.exception("semantic cache lookup failed; answering from upstream")
        return None
    if entry is None:
        return None
    return CacheEntry(key=entry.entry_id, tenant=entry.tenant, created=entry.created,
                      expires=entry.expires, model=entry.model, stream=entry.stream,
                      body=entry.body, cost_usd=entry.cost_usd, tags=entry.tags)


def store_semantic(state: CallState, ctx: GatewayContext, body: bytes,
                   cost_usd: str | None) -> None:
    """Store a miss's answer off the response path (embedding it first if needed)."""
    sp, semantic = state.semantic, ctx.semantic
    if sp is None or semantic is None or not sp.write or state.outcome != "success":
        return
    assert state.request is not None
    now = time.time()
    entry = SemanticEntry(
        entry_id=_digest(sp.scope, sp.text), scope=sp.scope, tenant=state.identity.tenant,
        text=sp.text, created=now, expires=now + ctx.settings.cache.semantic.ttl_s,
        model=state.answered_model or state.upstream_model or "", stream=state.request.stream,
        cost_usd=cost_usd, tags=sp.tags, body=body)
    vector = sp.vector

    def write() -> None:
        semantic.add(entry, semantic.embed(entry.text) if vector is None else vector, now)

    future = asyncio.get_running_loop().run_in_executor(None, write)

    def written(done: asyncio.Future[None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            log.error("semantic cache write failed: %s", done.exception())

    future.add_done_callback(written)
