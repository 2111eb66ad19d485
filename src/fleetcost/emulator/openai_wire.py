"""The emulator's OpenAI Chat Completions dialect.

Requests are validated by the gateway's own adapter (`providers.openai`), so
the emulator rejects what the gateway would and answers 400s in OpenAI's
error shape. Usage blocks come from the same adapter's `usage_to_provider`.

Streams follow OpenAI's chunk sequence: a first chunk carrying the role, one
chunk per content token (or, for a tool call, one with the call's id and
name and then argument fragments), a chunk with `finish_reason`, then -- only
when `stream_options.include_usage` is set -- a chunk with empty `choices`
and the usage (every earlier chunk then carries `"usage": null`), and
`data: [DONE]`. Content chunks are assembled from pre-encoded byte templates
because they are the bulk of a stream and only their text differs.

Prompt caching is automatic (see `prefix_cache`); writes are free and not
reported, so they never appear in usage or stats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from fleetcost.emulator.openai_extras import structured_output, token_logprobs, wants_logprobs
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
from fleetcost.emulator.prefix_cache import CacheUsage, TTLStore, openai_cached
from fleetcost.emulator.prompt import OPENAI_CACHE_MIN, OPENAI_CACHE_STEP, openai_prefix_keys
from fleetcost.emulator.prompt import openai_sequence as sequence_of
from fleetcost.errors import BadRequest, FleetcostError
from fleetcost.providers.openai import OpenAIAdapter
from fleetcost.providers.sse import encode_event
from fleetcost.types import Usage

_DONE = encode_event(b"[DONE]")



@dataclass(frozen=True, slots=True)
class OpenAIPrefix:
    keys: tuple[bytes, ...]
    prompt_tokens: int
    ttl: float

    def bill(self, store: TTLStore, now: float) -> CacheUsage:
        if not self.keys:
            return CacheUsage()
        cached = openai_cached(store, self.keys, now, self.ttl)
        # Never more than the reported prompt, and always on the 128-token grid.
        if cached > self.prompt_tokens:
            steps = (self.prompt_tokens - OPENAI_CACHE_MIN) // OPENAI_CACHE_STEP
            cached = OPENAI_CACHE_MIN + OPENAI_CACHE_STEP * steps if steps >= 0 else 0
        return CacheUsage(read=cached)


class OpenAIDialect:
    protocol = "openai"
    request_id_header = b"x-request-id"

    def __init__(self) -> None:
        self._adapter = OpenAIAdapter()

    def prepare(self, ctx: Context, raw: bytes) -> Prepared:
        request = self._adapter.parse_request(raw)
        body = request.body
        if body.get("n") not in (None, 1):
            raise BadRequest("The emulator answers with one choice; 'n' must be 1.", param="n")
        digest = request_digest(body, ctx.settings.seed)
        rng = rng_for(digest)
        profile = ctx.models.profile(request.model)
        tools_part, messages_part = sequence_of(ctx.tokens, request.messages, request.tools)
        sequence = tools_part + messages_part
        prompt_tokens = len(messages_part) // 4
        if request.tools:
            prompt_tokens += ctx.tokens.openai_tools(request.model, request.tools)
        ttl = ctx.settings.openai_cache_ttl
        if body.get("prompt_cache_retention") == "24h":
            ttl = max(ttl, 86400.0)
        prefix = OpenAIPrefix(tuple(openai_prefix_keys(request.model, sequence)),
                              prompt_tokens, ttl)
        tool = _tool_to_call(body, request.messages, request.tools)
        chosen = choose_tool(rng, *tool) if tool else None
        name = chosen["function"]["name"] if chosen else ""
        output = answer(ctx, rng, digest, request.max_tokens, chosen, name, "call_",
                        profile.reasoning)
        if chosen is None:
            output = structured_output(ctx, rng, body) or output
        asked, top = wants_logprobs(body)
        plan = Plan(request.model, "chatcmpl-" + digest.hex()[:24], digest, prompt_tokens,
                    output, profile, prefix, top if asked else -1)
        return Prepared(plan, request.stream, request.client_wants_usage)

    def render_json(self, plan: Plan, usage: Usage, created: int) -> bytes:
        output = plan.output
        message: dict[str, Any] = {"role": "assistant", "content": output.text,
                                   "refusal": None, "annotations": []}
        if output.tool is not None:
            message["content"] = None
            message["tool_calls"] = [{
                "id": output.tool.call_id, "type": "function",
                "function": {"name": output.tool.name, "arguments": output.tool.arguments},
            }]
        return orjson.dumps({
            "id": plan.response_id,
            "object": "chat.completion",
            "created": created,
            "model": plan.model,
            "choices": [{"index": 0, "message": message, "logprobs": _logprobs(plan),
                         "finish_reason": _finish(plan)}],
            "usage": self._adapter.usage_to_provider(usage),
            "service_tier": "default",
            "system_fingerprint": "fp_emulator",
        })

    def render_stream(self, plan: Plan, usage: Usage, created: int,
                      include_usage: bool) -> Events:
        head_bytes = (b'data: {"id":"' + plan.response_id.encode()
                      + b'","object":"chat.completion.chunk","created":' + str(created).encode()
                      + b',"model":' + orjson.dumps(plan.model)
                      + b',"system_fingerprint":"fp_emulator","choices":[')
        usage_null = b',"usage":null' if include_usage else b""

        def chunk(delta: bytes, finish: bytes = b"null") -> bytes:
            return (head_bytes + b'{"index":0,"delta":' + delta
                    + b',"logprobs":null,"finish_reason":' + finish + b"}]" + usage_null + b"}\n\n")

        output = plan.output
        if output.tool is None:
            head = [chunk(b'{"role":"assistant","content":"","refusal":null}')]
            body = [chunk(b'{"content":' + orjson.dumps(p) + b"}") for p in output.pieces]
            if plan.logprobs >= 0:
                body = _with_logprobs(body, plan)
        else:
            call = orjson.dumps([{"index": 0, "id": output.tool.call_id, "type": "function",
                                  "function": {"name": output.tool.name, "arguments": ""}}])
            head = []
            body = [chunk(b'{"role":"assistant","content":null,"refusal":null,"tool_calls":'
                          + call + b"}")]
            body += [chunk(b'{"tool_calls":[{"index":0,"function":{"arguments":'
                           + orjson.dumps(f) + b"}}]}") for f in output.fragments()]
        tail = [chunk(b"{}", orjson.dumps(_finish(plan)))]
        if include_usage:
            tail.append(head_bytes + b"],\"usage\":"
                        + orjson.dumps(self._adapter.usage_to_provider(usage)) + b"}\n\n")
        tail.append(_DONE)
        return Events(head, body, tail)

    def error_body(self, error: FleetcostError) -> bytes:
        return self._adapter.error_body(error)

    def models_body(self, model_ids: list[str]) -> bytes:
        return self._adapter.models_body(model_ids)


def _logprobs(plan: Plan) -> dict[str, Any] | None:
    if plan.logprobs < 0 or plan.output.tool is not None:
        return None
    return {"content": token_logprobs(plan.digest, plan.output.pieces, plan.logprobs),
            "refusal": None}


def _with_logprobs(body: list[bytes], plan: Plan) -> list[bytes]:
    """Each content chunk carries its own token's entry, as OpenAI streams them."""
    entries = token_logprobs(plan.digest, plan.output.pieces, plan.logprobs)
    return [event.replace(b'"logprobs":null', b'"logprobs":' + orjson.dumps(
                {"content": [entry], "refusal": None}), 1)
            for event, entry in zip(body, entries, strict=True)]


def _finish(plan: Plan) -> str:
    if plan.output.tool is not None:
        return "tool_calls"
    return "length" if plan.output.truncated else "stop"


def _tool_to_call(
    body: dict[str, Any], messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
) -> tuple[list[dict[str, Any]], str | None, list[str]] | None:
    """(function tools, forced name, names) when this turn should call a tool, else None."""
    functions = [t for t in tools or () if isinstance(t.get("function"), dict)]
    choice = body.get("tool_choice")
    if not functions or choice == "none":
        return None
    names = [t["function"]["name"] for t in functions]
    if isinstance(choice, dict):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if name not in names:
            raise BadRequest(f"tool_choice names {name!r}, which is not in 'tools'.",
                             param="tool_choice")
        return functions, name, names
    if choice == "required" or messages[-1].get("role") == "user":
        return functions, None, names
    return None
