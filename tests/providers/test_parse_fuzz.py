"""Fuzzing `parse_request`: whatever a client sends, the answer is a request
the rest of the gateway can use, or `BadRequest` — never another exception.

Random JSON alone rarely gets past the first check, so most examples start
from a valid request and replace (or delete) one value somewhere inside it.
An accepted request is then pushed through the adapter's other entry points
to show that acceptance really means "safe to use".
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetcost.errors import BadRequest
from fleetcost.providers import registry
from fleetcost.providers.base import ChatRequest, WireAdapter

OPENAI = registry.get("openai")
ANTHROPIC = registry.get("anthropic")

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "user", "assistant", "system", "text", "tool_result", "x"]),
    st.text(max_size=8),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["type", "text", "role", "content", "name", "k"]), inner,
                      max_size=4),
    max_leaves=12,
)

VALID = {
    "openai": {
        "model": "gpt-4.1", "stream": True, "max_completion_tokens": 10,
        "stream_options": {"include_usage": True}, "metadata": {"tenant": "t"},
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": [{"type": "text", "text": "hi"},
                                         {"type": "image_url", "image_url": {"url": "u"}}]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
    },
    "anthropic": {
        "model": "claude", "max_tokens": 10, "stream": False, "metadata": {"user_id": "u"},
        "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1",
                 "content": [{"type": "text", "text": "42"}]}]},
        ],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
    },
}
ADAPTERS = [pytest.param(OPENAI, id="openai"), pytest.param(ANTHROPIC, id="anthropic")]


def _use(adapter: WireAdapter, request: ChatRequest) -> None:
    """What the pipeline does with an accepted request must not fail either."""
    assert isinstance(request.model, str) and request.model
    assert request.messages and all(isinstance(m.get("role"), str) for m in request.messages)
    assert request.max_tokens is None or request.max_tokens > 0
    assert all(isinstance(v, str) for v in request.metadata.values())
    orjson.loads(adapter.upstream_body(request, "other-model"))
    tap = adapter.stream_tap(request)
    tap.feed(b"data: [DONE]\n\n")
    tap.finish()


def _parse(adapter: WireAdapter, body: bytes) -> None:
    try:
        request = adapter.parse_request(body)
    except BadRequest as exc:
        assert exc.status == 400 and exc.message
        return
    _use(adapter, request)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


def _replace(body: Any, path: tuple[Any, ...], value: Any, delete: bool) -> None:
    *parents, last = path
    for key in parents:
        body = body[key]
    if delete and isinstance(body, dict):
        del body[last]
    else:
        body[last] = value


@pytest.mark.parametrize("adapter", ADAPTERS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_one_value_replaced_anywhere(adapter: WireAdapter, data: st.DataObject) -> None:
    body = copy.deepcopy(VALID[adapter.kind])
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(body)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        _replace(body, path, data.draw(JSON), data.draw(st.booleans()))
    _parse(adapter, orjson.dumps(body))


@pytest.mark.parametrize("adapter", ADAPTERS)
@settings(max_examples=200, deadline=None)
@given(value=JSON)
def test_any_json_value(adapter: WireAdapter, value: Any) -> None:
    _parse(adapter, orjson.dumps(value))


@pytest.mark.parametrize("adapter", ADAPTERS)
@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=64))
def test_any_bytes(adapter: WireAdapter, raw: bytes) -> None:
    _parse(adapter, raw)


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("body", [
    b"[" * 5000 + b"]" * 5000,  # deeper than any JSON decoder's recursion limit
    b'{"model": "m", "max_tokens": 99999999999999999999999}',  # beyond 64-bit
    b'{"model": "m", "max_tokens": 1e400}',
    b'{"model": "m", "messages": [{"role": "user", "content": "\\ud800"}]}',  # lone surrogate
    b'{"model": "m", "model": 5}',  # duplicate key: the last one wins
])
def test_pathological_bodies(adapter: WireAdapter, body: bytes) -> None:
    _parse(adapter, body)


def test_valid_fuzz_seeds_are_accepted() -> None:
    for adapter in (OPENAI, ANTHROPIC):
        _use(adapter, adapter.parse_request(orjson.dumps(VALID[adapter.kind])))
