"""The official SDKs read what the adapters write, and send what they accept.

Each test serves adapter output from a canned loopback server and lets the
real `openai` / `anthropic` client parse it: error bodies must land in the
right exception class with type, param and code intact; filtered streams
must still decode; model lists must list. The SDKs' own request bodies must
pass `parse_request`.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import orjson
import pytest

from fleetcost.errors import (
    AuthError,
    BadRequest,
    BudgetExceeded,
    FleetcostError,
    LoopDetected,
    NotFound,
    UpstreamError,
)
from fleetcost.providers import registry
from fleetcost.providers.base import StreamTap

from .canned import CannedServer
from .recorded import payload

OPENAI = registry.get("openai")
ANTHROPIC = registry.get("anthropic")
SSE = "text/event-stream"


@pytest.fixture
def oai(canned: CannedServer) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(api_key="sk-test", base_url=f"{canned.url}/v1", max_retries=0)
    yield client
    client.close()


@pytest.fixture
def claude(canned: CannedServer) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(api_key="sk-test", base_url=canned.url, max_retries=0)
    yield client
    client.close()


ERRORS = [
    (BadRequest("'messages[0].role' must be one of user, assistant.", param="messages[0].role"),
     openai.BadRequestError, anthropic.BadRequestError, "invalid_request_error"),
    (AuthError("Unknown virtual key."), openai.AuthenticationError,
     anthropic.AuthenticationError, "authentication_error"),
    (NotFound("No model 'gpt-9'."), openai.NotFoundError, anthropic.NotFoundError,
     "not_found_error"),
    (BudgetExceeded("Budget 'team-a' ($50.00 per day) is spent."), openai.RateLimitError,
     anthropic.RateLimitError, "budget_exceeded"),
    (LoopDetected("Agent 'planner' repeated one call 8 times."), openai.RateLimitError,
     anthropic.RateLimitError, "loop_detected"),
    (UpstreamError("Upstream timed out."), openai.InternalServerError,
     anthropic.InternalServerError, "api_error"),
]


def _chat(client: openai.OpenAI, **extra: object) -> object:
    return client.chat.completions.create(
        model="gpt-4.1", messages=[{"role": "user", "content": "hi"}], **extra
    )


def _message(client: anthropic.Anthropic, **extra: object) -> object:
    return client.messages.create(
        model="fleet-smart", max_tokens=64,
        messages=[{"role": "user", "content": "hi"}], **extra
    )


@pytest.mark.parametrize(("error", "oai_class", "_", "kind"), ERRORS)
def test_openai_sdk_reads_error_bodies(
    canned: CannedServer, oai: openai.OpenAI, error: FleetcostError,
    oai_class: type[openai.APIStatusError], _: object, kind: str,
) -> None:
    canned.answer(error.status, OPENAI.error_body(error))
    with pytest.raises(oai_class) as caught:
        _chat(oai)
    assert caught.value.status_code == error.status
    assert caught.value.type == error.error_type
    assert caught.value.param == error.param
    assert error.message in caught.value.message
    if kind in ("budget_exceeded", "loop_detected"):
        assert caught.value.code == kind


@pytest.mark.parametrize(("error", "_", "claude_class", "kind"), ERRORS)
def test_anthropic_sdk_reads_error_bodies(
    canned: CannedServer, claude: anthropic.Anthropic, error: FleetcostError, _: object,
    claude_class: type[anthropic.APIStatusError], kind: str,
) -> None:
    canned.answer(error.status, ANTHROPIC.error_body(error))
    with pytest.raises(claude_class) as caught:
        _message(claude)
    assert caught.value.type == kind
    assert caught.value.api_message == error.message


def _tap_through(tap: StreamTap, upstream: bytes, size: int = 97) -> bytes:
    out = [tap.feed(upstream[i : i + size]) for i in range(0, len(upstream), size)]
    return b"".join([*out, tap.finish()])


@pytest.mark.parametrize("wants_usage", [False, True])
def test_openai_sdk_reads_the_filtered_stream(
    canned: CannedServer, oai: openai.OpenAI, wants_usage: bool
) -> None:
    extra = {"stream_options": {"include_usage": True}} if wants_usage else {}
    # What the SDK sends must pass our own validation.
    canned.answer(200, b"data: [DONE]\n\n", SSE)
    list(_chat(oai, stream=True, **extra))
    request = OPENAI.parse_request(canned.requests[-1])
    assert request.client_wants_usage is wants_usage

    canned.answer(200, _tap_through(OPENAI.stream_tap(request), payload("openai_stream.sse")), SSE)
    chunks = list(_chat(oai, stream=True, **extra))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("The refund policy")
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == wants_usage
    if wants_usage:
        assert usage_chunks[0].usage.prompt_tokens_details.cached_tokens == 1024


def test_openai_sdk_raises_on_our_stream_error_event(
    canned: CannedServer, oai: openai.OpenAI
) -> None:
    first = payload("openai_stream.sse").split(b"\n\n")[1] + b"\n\n"
    error = BudgetExceeded("Budget 'team-a' is spent.")
    canned.answer(200, first + OPENAI.stream_error_event(error), SSE)
    with pytest.raises(openai.APIError) as caught:
        list(_chat(oai, stream=True))
    assert caught.value.type == "budget_exceeded"
    assert caught.value.code == "budget_exceeded"


def test_anthropic_sdk_reads_the_tapped_stream(
    canned: CannedServer, claude: anthropic.Anthropic
) -> None:
    tap = ANTHROPIC.stream_tap(ANTHROPIC.parse_request(orjson.dumps(
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    )))
    canned.answer(200, _tap_through(tap, payload("anthropic_stream.sse")), SSE)
    with claude.messages.stream(
        model="fleet-smart", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_message()
    assert final.usage.cache_read_input_tokens == 9000
    assert final.usage.output_tokens == 89
    assert final.content[1].type == "tool_use"
    assert final.content[1].input == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert ANTHROPIC.parse_request(canned.requests[-1]).stream is True


@pytest.mark.parametrize("source", ["recorded", "ours"])
def test_anthropic_sdk_raises_on_stream_errors(
    canned: CannedServer, claude: anthropic.Anthropic, source: str
) -> None:
    recorded = payload("anthropic_stream_error.sse")
    if source == "ours":
        head = recorded[: recorded.index(b"event: error")]
        recorded = head + ANTHROPIC.stream_error_event(UpstreamError("Overloaded", status=529))
    canned.answer(200, recorded, SSE)
    with pytest.raises(anthropic.APIStatusError) as caught:
        list(_message(claude, stream=True))
    assert caught.value.type == "overloaded_error"


def test_sdks_list_our_models(
    canned: CannedServer, oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    canned.answer(200, OPENAI.models_body(["gpt-4.1", "cheap"]))
    assert [m.id for m in oai.models.list()] == ["gpt-4.1", "cheap"]
    canned.answer(200, ANTHROPIC.models_body(["claude-sonnet-4-5", "cheap"]))
    assert [m.id for m in claude.models.list()] == ["claude-sonnet-4-5", "cheap"]


def test_sdk_request_bodies_with_tools_and_metadata_parse(
    canned: CannedServer, oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    canned.answer(200, payload("openai_chat_completion_tools.json"))
    completion = _chat(oai, tools=[{"type": "function", "function": {
        "name": "get_weather", "parameters": {"type": "object", "properties": {}}}}],
        metadata={"tenant": "acme"}, store=True, max_completion_tokens=50)
    request = OPENAI.parse_request(canned.requests[-1])
    assert request.metadata == {"tenant": "acme"} and request.max_tokens == 50
    assert completion.choices[0].finish_reason == "tool_calls"

    canned.answer(200, payload("anthropic_message.json"))
    _message(claude, system=[{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
             tools=[{"name": "t", "input_schema": {"type": "object"}}],
             metadata={"user_id": "u-1"})
    request = ANTHROPIC.parse_request(canned.requests[-1])
    assert request.metadata == {"user_id": "u-1"} and request.tools is not None
