"""Malformed bodies, fuzzed: the gateway answers 4xx in the client's protocol, never 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gateway.conftest import Stack

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12,
)
roles = st.sampled_from(["user", "assistant", "system", "tool", "bogus", 3, None])
messages = st.lists(
    st.fixed_dictionaries({"role": roles}, optional={"content": json_values,
                                                     "tool_calls": json_values}),
    max_size=3,
) | json_values
bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["gpt-4o-mini", "claude-haiku-4-5", "", 7, None]),
        "messages": messages,
        "max_tokens": st.integers(-5, 50) | json_values,
        "stream": st.booleans() | json_values,
        "tools": json_values,
        "metadata": json_values,
        "system": json_values,
        "stream_options": json_values,
    },
)


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway, timeout=30) as c:
        yield c


def _check(resp: httpx.Response, anthropic_shape: bool) -> None:
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        err = resp.json()
        if anthropic_shape:
            assert err["type"] == "error" and err["error"]["message"]
        else:
            assert err["error"]["message"]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_openai_fuzz(client: httpx.Client, body: dict) -> None:
    _check(client.post("/v1/chat/completions", content=orjson.dumps(body)), False)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_anthropic_fuzz(client: httpx.Client, body: dict) -> None:
    _check(client.post("/v1/messages", content=orjson.dumps(body)), True)


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"null", b"\xff\xfe", b'{"model": "x"}'])
def test_garbage(client: httpx.Client, raw: bytes) -> None:
    _check(client.post("/v1/chat/completions", content=raw), False)
    _check(client.post("/v1/messages", content=raw), True)
