"""The emulator's Anthropic Messages dialect.

Validation starts with the gateway's adapter (`providers.anthropic`:
`max_tokens` required, roles, block shapes) and adds what only the cache
needs: `cache_control` must be `{"type": "ephemeral"}` with `ttl` "5m" or
"1h", at most 4 breakpoints per request, and a 1-hour breakpoint may not
follow a 5-minute one (Anthropic requires longer TTLs first). A top-level
`cache_control` is Anthropic's automatic mode: a breakpoint on the last block.

Usage: `input_tokens` excludes cache reads and writes, which are reported
as `cache_read_input_tokens` and `cache_creation_input_tokens` (split by TTL
in `cache_creation`); the adapter's `usage_to_provider` writes that block.

Streams: message_start (usage with the whole input side and output_tokens
1), content_block_start, ping, one content_block_delta per token (text_delta,
or input_json_delta fragments for a tool_use block), content_block_stop,
message_delta (stop_reason and cumulative usage), message_stop.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import orjson

from fleetcost.emulator.plan import (
    Context,
    Events,
    Plan,
    Prepared,
    answer,
    choose_tool,
    request_digest,
    rng_for,
)
from fleetcost.emulator.prefix_cache import Breakpoint, CacheUsage, TTLStore, anthropic_cache
from fleetcost.emulator.prompt import Block, anthropic_blocks, chain_keys
from fleetcost.errors import BadRequest, FleetcostError
from fleetcost.providers.anthropic import AnthropicAdapter
from fleetcost.providers.sse import encode_event
from fleetcost.types import Usage

MAX_BREAKPOINTS = 4
# Reply priming after the last block: never cacheable, so input_tokens >= 3.
_PRIMING = 3
_PING = encode_event(b'{"type":"ping"}', "ping")
_STOP = encode_event(b'{"type":"message_stop"}', "message_stop")


@dataclass(frozen=True, slots=True)
class AnthropicPrefix:
    ends: tuple[int, ...]
    keys: tuple[bytes, ...]
    breakpoints: tuple[Breakpoint, ...]
    minimum: int

    def bill(self, store: TTLStore, now: float) -> CacheUsage:
        if not self.breakpoints:
            return CacheUsage()
        return anthropic_cache(store, self.ends, self.keys, self.breakpoints, self.minimum, now)


class AnthropicDialect:
    protocol = "anthropic"
    request_id_header = b"request-id"

    def __init__(self) -> None:
        self._adapter = AnthropicAdapter()

    def prepare(self, ctx: Context, raw: bytes) -> Prepared:
        request = self._adapter.parse_request(raw)
        body = request.body
        digest = request_digest(body, ctx.settings.seed)
        rng = rng_for(digest)
        profile = ctx.models.profile(request.model)
        blocks = anthropic_blocks(ctx.tokens, body)
        breakpoints = _breakpoints(blocks, body, ctx)
        ends, keys = chain_keys(request.model, blocks)
        prefix = AnthropicPrefix(tuple(ends), tuple(keys), breakpoints,
                                 ctx.min_cacheable(request.model))
        tool = _tool_to_call(body, request.messages, request.tools)
        chosen = choose_tool(rng, *tool) if tool else None
        name = str(chosen.get("name", "")) if chosen else ""
        output = answer(ctx, rng, digest, request.max_tokens, chosen, name, "toolu_", False)
        total = (ends[-1] if ends else 0) + _PRIMING
        plan = Plan(request.model, "msg_" + digest.hex()[:24], digest, total, output,
                    profile, prefix)
        return Prepared(plan, request.stream)

    def render_json(self, plan: Plan, usage: Usage, created: int) -> bytes:
        return orjson.dumps({
            "id": plan.response_id,
            "type": "message",
            "role": "assistant",
            "model": plan.model,
            "content": [_content_block(plan, full=True)],
            "stop_reason": _stop_reason(plan),
            "stop_sequence": None,
            "usage": self._adapter.usage_to_provider(usage),
        })

    def render_stream(self, plan: Plan, usage: Usage, created: int,
                      include_usage: bool) -> Events:
        start_usage = dataclasses.replace(usage, output_tokens=1, reasoning_tokens=0)
        start = {"type": "message_start", "message": {
            "id": plan.response_id, "type": "message", "role": "assistant",
            "model": plan.model, "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": self._adapter.usage_to_provider(start_usage)}}
        head = [_event("message_start", start)]
        block_start = _event("content_block_start", {
            "type": "content_block_start", "index": 0,
            "content_block": _content_block(plan, full=False)})
        output = plan.output
        if output.tool is None:
            head += [block_start, _PING]
            body = [_delta({"type": "text_delta", "text": p}) for p in output.pieces]
        else:
            head.append(_PING)
            body = [block_start]
            body += [_delta({"type": "input_json_delta", "partial_json": f})
                     for f in output.fragments()]
        final = self._adapter.usage_to_provider(usage)
        tail = [
            _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
            _event("message_delta", {
                "type": "message_delta",
                "delta": {"stop_reason": _stop_reason(plan), "stop_sequence": None},
                "usage": {k: final[k] for k in ("input_tokens", "cache_creation_input_tokens",
                                                "cache_read_input_tokens", "output_tokens")},
            }),
            _STOP,
        ]
        return Events(head, body, tail)

    def error_body(self, error: FleetcostError) -> bytes:
        return self._adapter.error_body(error)

    def models_body(self, model_ids: list[str]) -> bytes:
        return self._adapter.models_body(model_ids)


def _event(name: str, data: dict[str, Any]) -> bytes:
    return encode_event(orjson.dumps(data), name)


def _delta(delta: dict[str, Any]) -> bytes:
    return _event("content_block_delta",
                  {"type": "content_block_delta", "index": 0, "delta": delta})


def _content_block(plan: Plan, *, full: bool) -> dict[str, Any]:
    tool = plan.output.tool
    if tool is None:
        return {"type": "text", "text": plan.output.text if full else ""}
    return {"type": "tool_use", "id": tool.call_id, "name": tool.name,
            "input": orjson.loads(tool.arguments) if full else {}}


def _stop_reason(plan: Plan) -> str:
    if plan.output.tool is not None:
        return "tool_use"
    return "max_tokens" if plan.output.truncated else "end_turn"


def _breakpoints(blocks: list[Block], body: dict[str, Any], ctx: Context,
                 ) -> tuple[Breakpoint, ...]:
    automatic = body.get("cache_control")
    marked = [(i, b.ttl) for i, b in enumerate(blocks) if b.ttl is not None]
    if isinstance(automatic, dict) and blocks and blocks[-1].ttl is None:
        marked.append((len(blocks) - 1, str(automatic.get("ttl") or "5m")))
    if marked:
        _check_control_types(body)
    if len(marked) > MAX_BREAKPOINTS:
        raise BadRequest(f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be "
                         f"provided. Found {len(marked)}.", param="cache_control")
    seconds = {"5m": ctx.settings.anthropic_ttl_5m, "1h": ctx.settings.anthropic_ttl_1h}
    seen_5m = False
    result = []
    for index, ttl in marked:
        if ttl not in seconds:
            raise BadRequest(f"cache_control.ttl must be '5m' or '1h', not {ttl!r}.",
                             param="cache_control.ttl")
        if ttl == "1h" and seen_5m:
            raise BadRequest("A cache_control block with ttl '1h' must not come after one "
                             "with ttl '5m'.", param="cache_control.ttl")
        seen_5m = seen_5m or ttl == "5m"
        result.append(Breakpoint(index, ttl, seconds[ttl]))
    return tuple(result)


def _check_control_types(body: dict[str, Any]) -> None:
    system = body.get("system")
    places = [*(body.get("tools") or ()), *(system if isinstance(system, list) else ())]
    for message in body["messages"]:
        if isinstance(message.get("content"), list):
            places += message["content"]
    for place in places:
        control = place.get("cache_control")
        if isinstance(control, dict) and control.get("type") != "ephemeral":
            raise BadRequest("cache_control.type must be 'ephemeral'.",
                             param="cache_control.type")


def _tool_to_call(
    body: dict[str, Any], messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
) -> tuple[list[dict[str, Any]], str | None, list[str]] | None:
    """(tools, forced name, names) when this turn should call a tool, else None."""
    usable = [t for t in tools or () if isinstance(t.get("name"), str)]
    choice: dict[str, Any] = body.get("tool_choice") or {}
    if not isinstance(choice, dict):
        raise BadRequest("tool_choice must be an object.", param="tool_choice")
    kind = choice.get("type", "auto")
    if not usable or kind == "none":
        return None
    names = [t["name"] for t in usable]
    if kind == "tool":
        if choice.get("name") not in names:
            raise BadRequest(f"tool_choice names {choice.get('name')!r}, which is not in "
                             "'tools'.", param="tool_choice.name")
        return usable, choice["name"], names
    if kind == "any" or _user_turn(messages[-1]):
        return usable, None, names
    return None


def _user_turn(message: dict[str, Any]) -> bool:
    """A user message that asks something (not only returns tool results)."""
    if message.get("role") != "user":
        return False
    content = message.get("content")
    if isinstance(content, str):
        return True
    return any(b.get("type") != "tool_result" for b in content or ())
