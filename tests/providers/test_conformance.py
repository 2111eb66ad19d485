"""Behaviour every wire adapter shares, run against each of them.

A case describes one protocol: its adapter, a minimal valid request, and how
to break it. Whatever breaks a request must come back as `BadRequest` whose
`param` is the field's path and whose message names it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from fleetcost.errors import BadRequest, ConfigError, FleetcostError
from fleetcost.providers import registry
from fleetcost.providers.base import WireAdapter

Body = dict[str, Any]
Mutation = Callable[[Body], None]


def set_(path: str, value: Any) -> Mutation:
    """A mutation that sets a dotted path (`messages.0.role`) to `value`."""

    def apply(body: Body) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return apply


def drop(key: str) -> Mutation:
    def apply(body: Body) -> None:
        body.pop(key, None)

    return apply


def drop_in_first_message(key: str) -> Mutation:
    def apply(body: Body) -> None:
        del body["messages"][0][key]

    return apply


SHARED_BAD: list[tuple[str, Mutation, str]] = [
    ("model missing", drop("model"), "model"),
    ("model empty", set_("model", ""), "model"),
    ("model not a string", set_("model", 5), "model"),
    ("messages missing", drop("messages"), "messages"),
    ("messages an object", set_("messages", {"role": "user"}), "messages"),
    ("messages empty", set_("messages", []), "messages"),
    ("message not an object", set_("messages.0", "hi"), "messages[0]"),
    ("role missing", drop_in_first_message("role"), "messages[0].role"),
    ("role unknown", set_("messages.0.role", "robot"), "messages[0].role"),
    ("role not a string", set_("messages.0.role", 1), "messages[0].role"),
    ("later role bad", set_("messages.1.role", "narrator"), "messages[1].role"),
    ("content a number", set_("messages.0.content", 7), "messages[0].content"),
    ("content part not object", set_("messages.0.content", ["hi"]), "messages[0].content[0]"),
    ("content part without type", set_("messages.0.content", [{"text": "hi"}]),
     "messages[0].content[0].type"),
    ("text part text not string", set_("messages.0.content", [{"type": "text", "text": 3}]),
     "messages[0].content[0].text"),
    ("cache_control not object",
     set_("messages.0.content", [{"type": "text", "text": "x", "cache_control": "yes"}]),
     "messages[0].content[0].cache_control"),
    ("stream not bool", set_("stream", "true"), "stream"),
    ("max_tokens zero", set_("max_tokens", 0), "max_tokens"),
    ("max_tokens negative", set_("max_tokens", -5), "max_tokens"),
    ("max_tokens string", set_("max_tokens", "100"), "max_tokens"),
    ("max_tokens bool", set_("max_tokens", True), "max_tokens"),
    ("max_tokens float", set_("max_tokens", 1.5), "max_tokens"),
    ("tools an object", set_("tools", {"name": "x"}), "tools"),
    ("tool not an object", set_("tools", ["get_weather"]), "tools[0]"),
    ("metadata a list", set_("metadata", ["tenant"]), "metadata"),
    ("metadata a string", set_("metadata", "tenant=a"), "metadata"),
]


@dataclass
class Case:
    adapter: WireAdapter
    valid: Body
    bad: list[tuple[str, Mutation, str]] = field(default_factory=list)

    def body(self, mutation: Mutation | None = None) -> bytes:
        body = copy.deepcopy(self.valid)
        if mutation:
            mutation(body)
        return orjson.dumps(body)


OPENAI = Case(
    adapter=registry.get("openai"),
    valid={
        "model": "gpt-4.1-mini",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        ],
        "max_tokens": 100,
    },
    bad=[
        ("max_completion_tokens zero", set_("max_completion_tokens", 0), "max_completion_tokens"),
        ("stream_options not object", set_("stream_options", True), "stream_options"),
        ("include_usage not bool", set_("stream_options", {"include_usage": "yes"}),
         "stream_options.include_usage"),
        ("tool_calls not a list", set_("messages.1", {"role": "assistant", "tool_calls": {}}),
         "messages[1].tool_calls"),
        ("tool_call without function",
         set_("messages.1", {"role": "assistant", "tool_calls": [{"id": "c", "type": "x"}]}),
         "messages[1].tool_calls[0].function"),
        ("tool function without name", set_("tools", [{"type": "function", "function": {}}]),
         "tools[0].function.name"),
        ("message name not string", set_("messages.0.name", 1), "messages[0].name"),
    ],
)

ANTHROPIC = Case(
    adapter=registry.get("anthropic"),
    valid={
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [{"type": "text", "text": "Checking."}]},
        ],
    },
    bad=[
        ("max_tokens missing", drop("max_tokens"), "max_tokens"),
        ("system a number", set_("system", 3), "system"),
        ("system block not text", set_("system", [{"type": "image", "source": {}}]),
         "system[0].type"),
        ("system text not string", set_("system", [{"type": "text", "text": None}]),
         "system[0].text"),
        ("system role in messages", set_("messages.0.role", "system"), "messages[0].role"),
        ("content missing", drop_in_first_message("content"), "messages[0].content"),
        ("user_id not string", set_("metadata", {"user_id": 42}), "metadata.user_id"),
        ("tool_result content a number",
         set_("messages.0.content", [{"type": "tool_result", "tool_use_id": "t", "content": 1}]),
         "messages[0].content[0].content"),
        ("tool name not string", set_("tools", [{"name": 1, "input_schema": {}}]),
         "tools[0].name"),
    ],
)

CASES = [pytest.param(OPENAI, id="openai"), pytest.param(ANTHROPIC, id="anthropic")]
BAD = [
    pytest.param(case, mutation, param, id=f"{case.adapter.kind}: {name}")
    for case in (OPENAI, ANTHROPIC)
    for name, mutation, param in [*SHARED_BAD, *case.bad]
]


@pytest.mark.parametrize(("case", "mutation", "param"), BAD)
def test_bad_field_is_named(case: Case, mutation: Mutation, param: str) -> None:
    with pytest.raises(BadRequest) as caught:
        case.adapter.parse_request(case.body(mutation))
    assert caught.value.param == param
    assert f"'{param}'" in caught.value.message
    assert caught.value.status == 400


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("body", [b"", b"not json", b"{", b"[1, 2]", b'"text"', b"null", b"\xff"])
def test_body_must_be_a_json_object(case: Case, body: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        case.adapter.parse_request(body)
    assert caught.value.param is None


@pytest.mark.parametrize("case", CASES)
def test_valid_request_is_read(case: Case) -> None:
    request = case.adapter.parse_request(case.body())
    assert request.model == case.valid["model"]
    assert request.messages == case.valid["messages"]
    assert request.stream is False
    assert request.max_tokens in (100, 1024)
    assert request.body == case.valid


@pytest.mark.parametrize("case", CASES)
def test_metadata_strings_are_kept_for_attribution(case: Case) -> None:
    meta = {"tenant": "acme", "agent": "planner", "session": "s1", "task": "triage",
            "parent": "call_9", "user_id": "u-1", "retries": 3}
    request = case.adapter.parse_request(case.body(set_("metadata", meta)))
    assert request.metadata == {k: v for k, v in meta.items() if isinstance(v, str)}


@pytest.mark.parametrize("case", CASES)
def test_upstream_body_swaps_model_and_strips_fleetcost_metadata(case: Case) -> None:
    meta = {"tenant": "acme", "agent": "planner", "user_id": "u-1"}
    request = case.adapter.parse_request(case.body(set_("metadata", meta)))
    sent = orjson.loads(case.adapter.upstream_body(request, "upstream-model"))
    assert sent["model"] == "upstream-model"
    assert sent["metadata"] == {"user_id": "u-1"}
    assert sent["messages"] == case.valid["messages"]
    # The client's body is left as it was: a retry on a fallback model reuses it.
    assert request.body["model"] == case.valid["model"]
    assert request.body["metadata"] == meta


@pytest.mark.parametrize("case", CASES)
def test_metadata_with_only_fleetcost_keys_is_dropped(case: Case) -> None:
    request = case.adapter.parse_request(case.body(set_("metadata", {"tenant": "acme"})))
    assert "metadata" not in orjson.loads(case.adapter.upstream_body(request, "m"))


@pytest.mark.parametrize("case", CASES)
def test_upstream_body_keeps_everything_else_byte_for_byte(case: Case) -> None:
    body = {**case.valid, "temperature": 0.25, "tool_choice": {"type": "auto"},
            "x_unknown": [1, {"é": "ü"}]}
    request = case.adapter.parse_request(orjson.dumps(body))
    assert orjson.loads(case.adapter.upstream_body(request, "m")) == {**body, "model": "m"}


@pytest.mark.parametrize("case", CASES)
def test_gateway_key_replaces_client_credentials(case: Case) -> None:
    client = {"Authorization": "Bearer client", "X-Api-Key": "client", "Content-Length": "9"}
    headers = case.adapter.upstream_headers("sk-gateway", client)
    assert "sk-gateway" in " ".join(headers.values())
    assert "client" not in " ".join(headers.values())
    assert headers["content-type"] == "application/json"
    assert "content-length" not in headers


@pytest.mark.parametrize("case", CASES)
def test_without_a_gateway_key_the_client_credential_passes(case: Case) -> None:
    key_header = "x-api-key" if case.adapter.kind == "anthropic" else "authorization"
    value = "sk-client" if case.adapter.kind == "anthropic" else "Bearer sk-client"
    headers = case.adapter.upstream_headers(None, {key_header.title(): value})
    assert headers[key_header] == value


def test_anthropic_version_and_beta_pass_through() -> None:
    adapter = ANTHROPIC.adapter
    assert adapter.upstream_headers("k", {})["anthropic-version"] == "2023-06-01"
    headers = adapter.upstream_headers(
        "k", {"anthropic-version": "2024-01-01", "anthropic-beta": "prompt-caching-2024-07-31"}
    )
    assert headers["anthropic-version"] == "2024-01-01"
    assert headers["anthropic-beta"] == "prompt-caching-2024-07-31"


def test_openai_stream_always_asks_for_usage() -> None:
    for options in (None, {"include_usage": False}, {"include_usage": True}, {}):
        body = {**OPENAI.valid, "stream": True}
        if options is not None:
            body["stream_options"] = options
        request = OPENAI.adapter.parse_request(orjson.dumps(body))
        assert request.client_wants_usage is (options == {"include_usage": True})
        sent = orjson.loads(OPENAI.adapter.upstream_body(request, "m"))
        assert sent["stream_options"]["include_usage"] is True


def test_openai_non_stream_body_gets_no_stream_options() -> None:
    request = OPENAI.adapter.parse_request(OPENAI.body())
    assert "stream_options" not in orjson.loads(OPENAI.adapter.upstream_body(request, "m"))


def test_openai_max_completion_tokens_wins() -> None:
    request = OPENAI.adapter.parse_request(OPENAI.body(set_("max_completion_tokens", 7)))
    assert request.max_tokens == 7


@pytest.mark.parametrize("case", CASES)
def test_error_body_has_the_protocols_shape(case: Case) -> None:
    body = orjson.loads(case.adapter.error_body(BadRequest("bad role", param="messages[0].role")))
    if case.adapter.kind == "openai":
        assert body == {"error": {"message": "bad role", "type": "invalid_request_error",
                                  "param": "messages[0].role", "code": None}}
    else:
        assert body == {"type": "error",
                        "error": {"type": "invalid_request_error", "message": "bad role"}}


@pytest.mark.parametrize(("status", "error_type", "expected"), [
    (429, "api_error", "rate_limit_error"),
    (529, "api_error", "overloaded_error"),
    (502, "api_error", "api_error"),
    (404, "some_new_type", "not_found_error"),
    (500, "some_new_type", "api_error"),
    (429, "budget_exceeded", "budget_exceeded"),
])
def test_anthropic_error_types_follow_its_vocabulary(
    status: int, error_type: str, expected: str
) -> None:
    error = FleetcostError("upstream said no")
    error.status, error.error_type = status, error_type
    assert orjson.loads(ANTHROPIC.adapter.error_body(error))["error"]["type"] == expected


@pytest.mark.parametrize("case", CASES)
def test_models_body_lists_every_model(case: Case) -> None:
    body = orjson.loads(case.adapter.models_body(["a", "b"]))
    assert [m["id"] for m in body["data"]] == ["a", "b"]
    empty = orjson.loads(case.adapter.models_body([]))
    assert empty["data"] == []


def test_registry_knows_both_kinds_and_rejects_others() -> None:
    assert registry.kinds() == ("openai", "anthropic")
    assert registry.get("anthropic").kind == "anthropic"
    with pytest.raises(ConfigError, match="openai, anthropic"):
        registry.get("gemini")
