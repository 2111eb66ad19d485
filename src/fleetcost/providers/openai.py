"""The OpenAI Chat Completions wire protocol.

Usage: OpenAI's `prompt_tokens` already counts the cached prefix
(`prompt_tokens_details.cached_tokens` is a subset of it), so it maps straight
onto `Usage.input_tokens`. Writes to the automatic prefix cache are free and
unreported by OpenAI itself; OpenAI-compatible upstreams that bill them send
`prompt_tokens_details.cache_write_tokens`, read here as 5-minute writes.

Streams: OpenAI reports usage only in one extra chunk (empty `choices`,
non-null `usage`) and only when the request sets
`stream_options.include_usage`. The gateway always sets it, because without it
a streamed call cannot be billed; the tap then removes that chunk again for
clients that did not ask for it, so they see exactly the stream they
requested.

`chat_path` follows the OpenAI SDK convention that a base URL ends in `/v1`
(`https://api.openai.com/v1`), which every OpenAI-compatible provider copies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import orjson

from fleetcost.errors import BadRequest, FleetcostError, UpstreamError
from fleetcost.providers import openai_answer
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

_ROLES = ("developer", "system", "user", "assistant", "tool", "function")
# Our own error types travel as `code` too: OpenAI clients branch on `code`.
_CUSTOM_CODES = frozenset({"budget_exceeded", "loop_detected"})
# Delta fields that carry generated text (the last two: OpenAI-compatible
# upstreams that stream reasoning separately).
_TEXT_FIELDS = frozenset({"content", "refusal", "reasoning_content", "reasoning"})
# Request headers that only make sense with the client's own OpenAI key.
_PASSTHROUGH_HEADERS = ("openai-organization", "openai-project")


class OpenAIAdapter:
    """Stateless: one instance serves every request (see `registry`)."""

    kind: WireKind = "openai"
    chat_path = "/chat/completions"
    # Request fields that make the provider return token log-probabilities.
    logprob_request: ClassVar[dict[str, Any] | None] = {"logprobs": True}

    def parse_request(self, body: bytes) -> ChatRequest:
        data = load_object(body)
        model = required_string(data, "model", "model")
        if data.get("messages") is None:
            raise BadRequest("'messages' is required.", param="messages")
        messages = object_list(data["messages"], "messages", non_empty=True)
        for i, message in enumerate(messages):
            _check_message(message, f"messages[{i}]")
        stream = optional_bool(data, "stream", "stream") or False
        max_tokens = optional_positive_int(data, "max_completion_tokens", "max_completion_tokens")
        legacy_max = optional_positive_int(data, "max_tokens", "max_tokens")
        tools = _check_tools(data.get("tools"))
        options = optional_object(data, "stream_options", "stream_options") or {}
        include_usage = optional_bool(options, "include_usage", "stream_options.include_usage")
        metadata = optional_object(data, "metadata", "metadata")
        return ChatRequest(
            body=data,
            model=model,
            stream=stream,
            messages=messages,
            tools=tools,
            max_tokens=max_tokens or legacy_max,
            metadata=string_metadata(metadata),
            client_wants_usage=include_usage is True,
        )

    def upstream_body(self, request: ChatRequest, model: str) -> bytes:
        # One shallow copy and one serialisation: nested values are shared.
        body = without_fleetcost_metadata(request.body)
        body["model"] = model
        if request.stream:
            options = body.get("stream_options") or {}
            if options.get("include_usage") is not True:
                body["stream_options"] = {**options, "include_usage": True}
        return orjson.dumps(body)

    def upstream_headers(
        self, api_key: str | None, client_headers: Mapping[str, str]
    ) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
            return headers
        client = lower_headers(client_headers)
        for name in ("authorization", *_PASSTHROUGH_HEADERS):
            if client.get(name):
                headers[name] = client[name]
        return headers

    def parse_response(self, body: bytes) -> ParsedResponse:
        data = upstream_object(body, "OpenAI")
        if "choices" not in data and isinstance(data.get("error"), dict):
            message = data["error"].get("message")
            raise UpstreamError(f"OpenAI returned an error: {message}", body=body)
        usage = data.get("usage")
        finish_reason = None
        choices = data.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            finish_reason = _str_or_none(choices[0].get("finish_reason"))
        return ParsedResponse(
            usage=(normalised := _usage(usage if isinstance(usage, dict) else {})),
            model=_str_or_none(data.get("model")),
            finish_reason=finish_reason,
            # Missing, null, or all zeros (no answered prompt has zero tokens).
            usage_reported=normalised.total_tokens > 0,
        )

    def stream_tap(self, request: ChatRequest) -> OpenAIStreamTap:
        return OpenAIStreamTap(client_wants_usage=request.client_wants_usage)

    def error_body(self, error: FleetcostError) -> bytes:
        return orjson.dumps({"error": _error_object(error)})

    def stream_error_event(self, error: FleetcostError) -> bytes:
        # OpenAI signals a mid-stream failure as a data chunk holding `error`;
        # the SDKs raise APIError on it.
        return encode_event(self.error_body(error))

    def usage_from_provider(self, usage: Mapping[str, Any]) -> Usage:
        return _usage(usage)

    def usage_to_provider(self, usage: Usage) -> dict[str, Any]:
        """OpenAI's usage block; 1-hour writes have no OpenAI spelling and fold into
        `cache_write_tokens`."""
        prompt_details: dict[str, int] = {"cached_tokens": usage.cached_tokens, "audio_tokens": 0}
        if usage.cache_write_tokens:
            prompt_details["cache_write_tokens"] = usage.cache_write_tokens
        return {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
            "prompt_tokens_details": prompt_details,
            "completion_tokens_details": {
                "reasoning_tokens": usage.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def answer(self, body: bytes, streamed: bool) -> Answer:
        if streamed:
            return openai_answer.answer_from_stream(body)
        return openai_answer.answer_from_json(body)

    def prompt_body(self, model: str, prompt: str, max_tokens: int,
                    schema: dict[str, Any] | None) -> bytes:
        body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "temperature": 0,
                                "messages": [{"role": "user", "content": prompt}]}
        if schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "answer", "strict": True, "schema": schema}}
        return orjson.dumps(body)

    def models_body(self, model_ids: Sequence[str]) -> bytes:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fleetcost"}
                for m in model_ids]
        return orjson.dumps({"object": "list", "data": data})


class OpenAIStreamTap:
    """Reads a chat completion stream as it passes, event by event.

    Every chunk is decoded: whether a chunk carries the first generated token,
    and how many characters it adds, is inside `choices[].delta`, and orjson
    decodes a typical 300-byte chunk in about a microsecond, less than the
    SSE framing around it. `partial_output_chars()` counts the characters of
    content, refusal, reasoning and tool-call names and arguments.
    """

    __slots__ = (
        "_chars", "_decoder", "_drop_usage", "_overhead", "error", "finish_reason", "first_token",
        "model", "usage", "usage_final",
    )

    def __init__(self, *, client_wants_usage: bool) -> None:
        self._decoder = SSEDecoder()
        self._drop_usage = not client_wants_usage
        self._chars = 0
        # Bytes of JSON around the text in a content chunk, learnt from the
        # first decoded one; lets mid-stream chunks be counted without decoding.
        self._overhead: int | None = None
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
        if self._overhead is not None and _plain_block(block):
            # Only more generated text: forward as is, estimate its characters.
            n = block.count(b"\n\n")
            self._chars += max(len(block) - n * self._overhead, n)
            return block
        return self._forward(split_events(block))

    def finish(self) -> bytes:
        return self._forward(self._decoder.flush())

    def partial_output_chars(self) -> int:
        return self._chars

    def _forward(self, events: list[SSEEvent]) -> bytes:
        if len(events) == 1:
            return events[0].raw if self._keep(events[0]) else b""
        return b"".join([event.raw for event in events if self._keep(event)])

    def _keep(self, event: SSEEvent) -> bool:
        data = event.data
        # Comments, keep-alives and the `[DONE]` sentinel pass untouched.
        if not data or data == b"[DONE]":
            return True
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return True
        if not isinstance(chunk, dict):
            return True
        if self.model is None:
            self.model = _str_or_none(chunk.get("model"))
        choices = chunk.get("choices")
        if choices and isinstance(choices, list):
            before = self._chars
            self._read_choices(choices)
            added = self._chars - before
            # Learn the framing size from a plain fragment, not from a first
            # chunk that also carries a role, an id or a tool's name.
            if (self._overhead is None and added and len(choices) == 1
                    and b'"role"' not in data and b'"name"' not in data):
                self._overhead = len(event.raw) - added
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = _usage(usage)
            self.usage_final = True
            if self._drop_usage and not choices:
                return False
        error = chunk.get("error")
        if isinstance(error, dict):
            self.error = str(error.get("message") or "error event in stream")
        return True

    def _read_choices(self, choices: list[Any]) -> None:
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict) and delta:
                chars = _delta_chars(delta)
                if chars:
                    self._chars += chars
                    self.first_token = True
            reason = choice.get("finish_reason")
            if isinstance(reason, str):
                self.finish_reason = reason


def _plain_block(block: bytes) -> bool:
    """Every event in the block is a data chunk still generating (no finish, usage, error)."""
    return (
        block.count(b'"finish_reason":null') == block.count(b"\n\n")
        and b'"usage":{' not in block
        and b'"usage": {' not in block
        and b'"error"' not in block
    )


def _usage(usage: Mapping[str, Any]) -> Usage:
    prompt = sub(usage, "prompt_tokens_details")
    cached = count(prompt.get("cached_tokens"))
    writes = count(prompt.get("cache_write_tokens"))
    reasoning = count(sub(usage, "completion_tokens_details").get("reasoning_tokens"))
    # max(): a provider that reports its parts larger than the whole must not
    # produce a negative uncached remainder downstream.
    return Usage(
        input_tokens=max(count(usage.get("prompt_tokens")), cached + writes),
        output_tokens=max(count(usage.get("completion_tokens")), reasoning),
        cached_tokens=cached,
        cache_write_5m_tokens=writes,
        reasoning_tokens=reasoning,
    )


def _delta_chars(delta: dict[str, Any]) -> int:
    chars = 0
    for key, value in delta.items():
        if isinstance(value, str):
            if key in _TEXT_FIELDS:
                chars += len(value)
        elif key == "tool_calls" and isinstance(value, list):
            for call in value:
                if isinstance(call, dict):
                    chars += _function_chars(call.get("function"))
        elif key == "function_call":
            chars += _function_chars(value)
    return chars


def _function_chars(function: Any) -> int:
    if not isinstance(function, dict):
        return 0
    name, arguments = function.get("name"), function.get("arguments")
    return (len(name) if isinstance(name, str) else 0) + (
        len(arguments) if isinstance(arguments, str) else 0
    )


def _check_message(message: dict[str, Any], path: str) -> None:
    role = required_string(message, "role", f"{path}.role")
    if role not in _ROLES:
        raise BadRequest(
            f"'{path}.role' must be one of {', '.join(_ROLES)}; got '{role}'.",
            param=f"{path}.role",
        )
    content = message.get("content")
    if isinstance(content, list):
        check_parts(content, f"{path}.content")
    elif content is not None and not isinstance(content, str):
        raise wrong_type(f"{path}.content", "a string, an array of content parts or null", content)
    optional_string(message, "name", f"{path}.name")
    optional_string(message, "tool_call_id", f"{path}.tool_call_id")
    calls = message.get("tool_calls")
    if calls is not None:
        for i, call in enumerate(object_list(calls, f"{path}.tool_calls")):
            where = f"{path}.tool_calls[{i}].function"
            if not isinstance(call.get("function"), dict):
                raise wrong_type(where, "an object", call.get("function"))
            required_string(call["function"], "name", f"{where}.name")
            optional_string(call["function"], "arguments", f"{where}.arguments")


def _check_tools(tools: Any) -> list[dict[str, Any]] | None:
    if tools is None:
        return None
    checked = object_list(tools, "tools")
    for i, tool in enumerate(checked):
        function = optional_object(tool, "function", f"tools[{i}].function")
        if function is not None:
            required_string(function, "name", f"tools[{i}].function.name")
            optional_object(function, "parameters", f"tools[{i}].function.parameters")
    return checked


def _error_object(error: FleetcostError) -> dict[str, Any]:
    code = error.error_type if error.error_type in _CUSTOM_CODES else None
    return {"message": error.message, "type": error.error_type, "param": error.param, "code": code}


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None

