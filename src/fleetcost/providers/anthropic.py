"""The Anthropic Messages wire protocol.

Usage: Anthropic's `input_tokens` counts only the prompt tokens that were
neither read from nor written to the prompt cache. Those two parts arrive
separately (`cache_read_input_tokens`, `cache_creation_input_tokens`), so the
normalised input is their sum. Cache writes are split by TTL in
`cache_creation.ephemeral_5m_input_tokens` / `ephemeral_1h_input_tokens`
because the 1-hour write costs more; without that split every write is a
5-minute write, the only kind older API versions had.

Streams: `message_start` carries the input side of usage at once, so a stream
cut short still bills its prompt exactly; `message_delta` carries the
cumulative `output_tokens` (and, in newer API versions, the input side again,
taken when non-null). Events are dispatched on their `event:` name, so pings
and block boundaries are forwarded without decoding any JSON.

`chat_path` follows the Anthropic SDK convention that a base URL is the bare
host (`https://api.anthropic.com`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import orjson

from fleetcost.errors import BadRequest, FleetcostError, UpstreamError
from fleetcost.providers import anthropic_answer
from fleetcost.providers.base import Answer, ChatRequest, ParsedResponse
from fleetcost.providers.errors import (
    check_parts,
    count,
    load_object,
    lower_headers,
    object_list,
    optional_bool,
    optional_object,
    optional_positive_int,
    optional_string,
    required_string,
    string_metadata,
    sub,
    upstream_object,
    without_fleetcost_metadata,
    wrong_type,
)
from fleetcost.providers.sse import SSEDecoder, SSEEvent, encode_event, split_events
from fleetcost.types import Usage, WireKind

DEFAULT_VERSION = "2023-06-01"
_ROLES = ("user", "assistant")
# Error types Anthropic's SDKs know, plus fleetcost's own (ARCHITECTURE.md
# keeps `budget_exceeded` / `loop_detected` as the type in every protocol).
_KNOWN_TYPES = frozenset({
    "invalid_request_error", "authentication_error", "billing_error", "permission_error",
    "not_found_error", "request_too_large", "rate_limit_error", "timeout_error", "api_error",
    "overloaded_error", "budget_exceeded", "loop_detected",
})
_TYPE_BY_STATUS = {
    400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
    403: "permission_error", 404: "not_found_error", 413: "request_too_large",
    429: "rate_limit_error", 504: "timeout_error", 529: "overloaded_error",
}
# Which field of a content_block_delta holds generated text, by delta type.
# Signatures and citations are not generated text and count as nothing.
_DELTA_TEXT = {
    "text_delta": "text", "input_json_delta": "partial_json", "thinking_delta": "thinking",
}


class AnthropicAdapter:
    """Stateless: one instance serves every request (see `registry`)."""

    kind: WireKind = "anthropic"
    chat_path = "/v1/messages"
    # Request fields that make the provider return token log-probabilities.
    logprob_request: ClassVar[dict[str, Any] | None] = None

    def parse_request(self, body: bytes) -> ChatRequest:
        data = load_object(body)
        model = required_string(data, "model", "model")
        if data.get("messages") is None:
            raise BadRequest("'messages' is required.", param="messages")
        messages = object_list(data["messages"], "messages", non_empty=True)
        for i, message in enumerate(messages):
            _check_message(message, f"messages[{i}]")
        if data.get("max_tokens") is None:
            raise BadRequest("'max_tokens' is required.", param="max_tokens")
        max_tokens = optional_positive_int(data, "max_tokens", "max_tokens")
        system = _check_system(data.get("system"))
        stream = optional_bool(data, "stream", "stream") or False
        tools = _check_tools(data.get("tools"))
        metadata = optional_object(data, "metadata", "metadata")
        if metadata is not None:
            optional_string(metadata, "user_id", "metadata.user_id")
        return ChatRequest(
            body=data,
            model=model,
            stream=stream,
            messages=messages,
            system=system,
            tools=tools,
            max_tokens=max_tokens,
            metadata=string_metadata(metadata),
        )

    def upstream_body(self, request: ChatRequest, model: str) -> bytes:
        # Anthropic accepts only `user_id` in metadata and rejects other keys.
        body = without_fleetcost_metadata(request.body)
        body["model"] = model
        return orjson.dumps(body)

    def upstream_headers(
        self, api_key: str | None, client_headers: Mapping[str, str]
    ) -> dict[str, str]:
        client = lower_headers(client_headers)
        headers = {
            "content-type": "application/json",
            "anthropic-version": client.get("anthropic-version") or DEFAULT_VERSION,
        }
        if client.get("anthropic-beta"):
            headers["anthropic-beta"] = client["anthropic-beta"]
        if api_key:
            headers["x-api-key"] = api_key
        elif client.get("x-api-key"):
            headers["x-api-key"] = client["x-api-key"]
        elif client.get("authorization"):
            # OAuth-style bearer tokens are Anthropic credentials too.
            headers["authorization"] = client["authorization"]
        return headers

    def parse_response(self, body: bytes) -> ParsedResponse:
        data = upstream_object(body, "Anthropic")
        if data.get("type") == "error":
            error = data.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            raise UpstreamError(f"Anthropic returned an error: {message}", body=body)
        usage = data.get("usage")
        return ParsedResponse(
            usage=(normalised := _usage(usage if isinstance(usage, dict) else {})),
            model=_str_or_none(data.get("model")),
            finish_reason=_str_or_none(data.get("stop_reason")),
            # Missing, null, or all zeros (no answered prompt has zero tokens).
            usage_reported=normalised.total_tokens > 0,
        )

    def stream_tap(self, request: ChatRequest) -> AnthropicStreamTap:
        return AnthropicStreamTap()

    def error_body(self, error: FleetcostError) -> bytes:
        return orjson.dumps({"type": "error", "error": _error_object(error)})

    def stream_error_event(self, error: FleetcostError) -> bytes:
        return encode_event(self.error_body(error), "error")

    def usage_from_provider(self, usage: Mapping[str, Any]) -> Usage:
        return _usage(usage)

    def usage_to_provider(self, usage: Usage) -> dict[str, Any]:
        block: dict[str, Any] = {
            "input_tokens": usage.uncached_input_tokens,
            "cache_creation_input_tokens": usage.cache_write_tokens,
            "cache_read_input_tokens": usage.cached_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": usage.cache_write_5m_tokens,
                "ephemeral_1h_input_tokens": usage.cache_write_1h_tokens,
            },
            "output_tokens": usage.output_tokens,
            "service_tier": "standard",
        }
        if usage.reasoning_tokens:
            block["output_tokens_details"] = {"thinking_tokens": usage.reasoning_tokens}
        return block

    def answer(self, body: bytes, streamed: bool) -> Answer:
        if streamed:
            return anthropic_answer.answer_from_stream(body)
        return anthropic_answer.answer_from_json(body)

    def prompt_body(self, model: str, prompt: str, max_tokens: int,
                    schema: dict[str, Any] | None) -> bytes:
        # No JSON mode in this protocol: the prompt itself asks for the shape.
        if schema is not None:
            prompt += "\n\nAnswer with JSON only, matching this schema: " + orjson.dumps(
                schema).decode()
        return orjson.dumps({"model": model, "max_tokens": max_tokens, "temperature": 0,
                             "messages": [{"role": "user", "content": prompt}]})

    def models_body(self, model_ids: Sequence[str]) -> bytes:
        data = [{"type": "model", "id": m, "display_name": m,
                 "created_at": "1970-01-01T00:00:00Z"} for m in model_ids]
        return orjson.dumps({
            "data": data,
            "has_more": False,
            "first_id": model_ids[0] if model_ids else None,
            "last_id": model_ids[-1] if model_ids else None,
        })


class AnthropicStreamTap:
    """Reads a Messages stream as it passes; Anthropic taps never drop events.

    `partial_output_chars()` counts text, thinking and tool-input JSON from
    `content_block_delta` events; `first_token` turns true on the first such
    delta. Until `message_delta` arrives, `usage` holds the input side from
    `message_start` with its provisional `output_tokens` (usually 1).
    """

    __slots__ = (
        "_chars", "_decoder", "_fields", "_kind", "_overhead", "error", "finish_reason",
        "first_token", "model", "usage", "usage_final",
    )

    def __init__(self) -> None:
        self._decoder = SSEDecoder()
        self._fields: dict[str, Any] = {}
        self._chars = 0
        # Bytes around the text of one delta event, learnt from the first one.
        self._overhead: int | None = None
        self._kind = b""  # the delta type `_overhead` was learnt from
        self.usage: Usage | None = None
        self.usage_final = False
        self.model: str | None = None
        self.finish_reason: str | None = None
        self.first_token = False
        self.error: str | None = None

    def feed(self, chunk: bytes) -> bytes:
        block = self._decoder.take_complete(chunk)
        if not block:
            return b""
        n = block.count(b"\n\n")
        if (self._overhead is not None and block.count(b"event: content_block_delta") == n
                and block.count(self._kind) == n
                and b"message_" not in block and b"error" not in block):
            # Text deltas only: nothing to read but their size. A false alarm
            # (those words in generated text) only takes the exact path below.
            self._chars += max(len(block) - n * self._overhead, 0)
            return block
        for event in split_events(block):
            self._read(event)
        return block

    def finish(self) -> bytes:
        return self._forward(self._decoder.flush())

    def partial_output_chars(self) -> int:
        return self._chars

    def _forward(self, events: list[SSEEvent]) -> bytes:
        for event in events:
            self._read(event)
        if len(events) == 1:
            return events[0].raw
        return b"".join([event.raw for event in events])

    def _read(self, event: SSEEvent) -> None:
        name = event.event
        if name == "content_block_delta":
            self.first_token = True
            chars, kind = _delta_chars(event.data)
            self._chars += chars
            if chars and kind != self._kind:
                # Framing differs per delta type (text vs tool JSON): relearn it.
                self._overhead, self._kind = len(event.raw) - chars, kind

        elif name in ("message_start", "message_delta", "error") or (
            name is None and event.data
        ):
            self._read_json(event.data)

    def _read_json(self, data: bytes) -> None:
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(payload, dict):
            return
        kind = payload.get("type")
        if kind == "message_start":
            message = payload.get("message")
            if isinstance(message, dict):
                self.model = _str_or_none(message.get("model"))
                self._merge(message.get("usage"))
        elif kind == "message_delta":
            delta = payload.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
                self.finish_reason = delta["stop_reason"]
            if isinstance(payload.get("usage"), dict):
                self._merge(payload["usage"])
                self.usage_final = True
        elif kind == "error":
            error = payload.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            self.error = str(message or "error event in stream")
        elif kind == "content_block_delta":
            # Only reached for an event that arrived without its `event:` line.
            self.first_token = True
            self._chars += _delta_chars(data)[0]

    def _merge(self, usage: Any) -> None:
        """Later usage blocks are cumulative: non-null fields replace earlier ones."""
        if isinstance(usage, dict):
            self._fields.update((k, v) for k, v in usage.items() if v is not None)
            self.usage = _usage(self._fields)


def _usage(usage: Mapping[str, Any]) -> Usage:
    read = count(usage.get("cache_read_input_tokens"))
    split = sub(usage, "cache_creation")
    write_1h = count(split.get("ephemeral_1h_input_tokens"))
    split_total = count(split.get("ephemeral_5m_input_tokens")) + write_1h
    # The total wins over a split that does not add up to it (the surplus is
    # billed at the 5-minute rate); a split larger than the total wins over it.
    writes = max(count(usage.get("cache_creation_input_tokens")), split_total)
    reasoning = count(sub(usage, "output_tokens_details").get("thinking_tokens"))
    return Usage(
        input_tokens=count(usage.get("input_tokens")) + read + writes,
        output_tokens=max(count(usage.get("output_tokens")), reasoning),
        cached_tokens=read,
        cache_write_5m_tokens=writes - write_1h,
        cache_write_1h_tokens=write_1h,
        reasoning_tokens=reasoning,
    )


def _delta_chars(data: bytes) -> tuple[int, bytes]:
    """Characters a delta adds, and its type as it appears quoted in the bytes."""
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        return 0, b""
    delta = payload.get("delta") if isinstance(payload, dict) else None
    if not isinstance(delta, dict):
        return 0, b""
    kind = delta.get("type")
    field = _DELTA_TEXT.get(kind) if isinstance(kind, str) else None
    value = delta.get(field) if field else None
    quoted = b'"' + str(kind).encode() + b'"'
    return (len(value) if isinstance(value, str) else 0), quoted


def _check_message(message: dict[str, Any], path: str) -> None:
    role = required_string(message, "role", f"{path}.role")
    if role not in _ROLES:
        raise BadRequest(
            f"'{path}.role' must be one of {', '.join(_ROLES)}; got '{role}'.",
            param=f"{path}.role",
        )
    content = message.get("content")
    if content is None:
        raise BadRequest(f"'{path}.content' is required.", param=f"{path}.content")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise wrong_type(f"{path}.content", "a string or an array of content blocks", content)
    check_parts(content, f"{path}.content")
    for i, block in enumerate(content):
        inner = block.get("content")
        if block["type"] == "tool_result" and isinstance(inner, list):
            check_parts(inner, f"{path}.content[{i}].content")
        elif block["type"] == "tool_result" and inner is not None and not isinstance(inner, str):
            raise wrong_type(f"{path}.content[{i}].content", "a string or an array", inner)


def _check_system(system: Any) -> Any:
    if system is None or isinstance(system, str):
        return system
    if not isinstance(system, list):
        raise wrong_type("system", "a string or an array of text blocks", system)
    check_parts(system, "system")
    for i, block in enumerate(system):
        if block["type"] != "text":
            raise BadRequest(
                f"'system[{i}].type' must be 'text'; got '{block['type']}'.",
                param=f"system[{i}].type",
            )
    return system


def _check_tools(tools: Any) -> list[dict[str, Any]] | None:
    if tools is None:
        return None
    checked = object_list(tools, "tools")
    for i, tool in enumerate(checked):
        optional_string(tool, "name", f"tools[{i}].name")
        optional_object(tool, "input_schema", f"tools[{i}].input_schema")
        optional_object(tool, "cache_control", f"tools[{i}].cache_control")
    return checked


def _error_object(error: FleetcostError) -> dict[str, Any]:
    kind = error.error_type
    # A generic upstream failure says more through its status (429, 529).
    if kind not in _KNOWN_TYPES or kind == "api_error":
        kind = _TYPE_BY_STATUS.get(error.status, kind if kind in _KNOWN_TYPES else "api_error")
    return {"type": kind, "message": error.message}


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
