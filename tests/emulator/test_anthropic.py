"""The Anthropic side of the emulator, through the official SDK and raw HTTP."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import orjson
import pytest

from fleetcost.pricing.encodings import get_encoding
from tests.emulator.conftest import long_text

ENCODING = get_encoding("o200k_base")
HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-test"}
SONNET = "claude-sonnet-4-6"
LOOKUP = {
    "name": "lookup_order",
    "description": "Find an order.",
    "input_schema": {
        "type": "object",
        "properties": {"order_id": {"type": "string"},
                       "include": {"type": "array", "items": {"type": "string",
                                                              "enum": ["items", "status"]}}},
        "required": ["order_id", "include"],
    },
}


def events_of(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in response.text.strip().split("\n\n"):
        name, data = block.split("\n", 1)
        out.append((name.removeprefix("event: "), orjson.loads(data.removeprefix("data: "))))
    return out


def cached_system(tag: str, words: int, ttl: str | None = None) -> list[dict[str, Any]]:
    control: dict[str, Any] = {"type": "ephemeral"}
    if ttl:
        control["ttl"] = ttl
    return [{"type": "text", "text": long_text(tag, words), "cache_control": control}]


def test_stream_and_json_agree(http: httpx.Client, tag: str) -> None:
    body = {"model": SONNET, "max_tokens": 300,
            "messages": [{"role": "user", "content": f"{tag} hello"}]}
    plain = http.post("/v1/messages", json=body, headers=HEADERS).json()
    streamed = http.post("/v1/messages", json={**body, "stream": True}, headers=HEADERS)
    events = events_of(streamed)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    start = events[0][1]["message"]
    assert start["id"] == plain["id"] and start["usage"]["output_tokens"] == 1
    for field in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
        assert start["usage"][field] == plain["usage"][field]
    text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
    assert text == plain["content"][0]["text"]
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == plain["stop_reason"]
    assert delta["usage"]["output_tokens"] == plain["usage"]["output_tokens"]
    assert plain["usage"]["output_tokens"] == len(ENCODING.encode(text))


def test_sdk_stream_helper_matches_create(claude: anthropic.Anthropic, tag: str) -> None:
    kwargs: dict[str, Any] = {"model": SONNET, "max_tokens": 4096,
                              "messages": [{"role": "user", "content": f"{tag} hi"}]}
    with claude.messages.stream(**kwargs) as stream:
        final = stream.get_final_message()
    plain = claude.messages.create(**kwargs)
    assert [b.model_dump(include={"type", "text"}) for b in final.content] == [
        b.model_dump(include={"type", "text"}) for b in plain.content]
    assert final.usage.output_tokens == plain.usage.output_tokens
    assert final.usage.input_tokens == plain.usage.input_tokens
    assert final.stop_reason == plain.stop_reason == "end_turn"


def test_tool_use_parses_and_streams(claude: anthropic.Anthropic, tag: str) -> None:
    kwargs: dict[str, Any] = {"model": SONNET, "max_tokens": 500, "tools": [LOOKUP],
                              "messages": [{"role": "user", "content": f"{tag} where is it?"}]}
    plain = claude.messages.create(**kwargs)
    assert plain.stop_reason == "tool_use"
    block = plain.content[0]
    assert block.type == "tool_use" and block.name == "lookup_order"
    assert block.id.startswith("toolu_")
    assert isinstance(block.input, dict) and isinstance(block.input["order_id"], str)
    assert set(block.input["include"]) <= {"items", "status"}
    with claude.messages.stream(**kwargs) as stream:
        final = stream.get_final_message()
    assert final.content == plain.content
    assert final.usage.output_tokens == plain.usage.output_tokens


def test_tool_results_get_a_text_answer(claude: anthropic.Anthropic, tag: str) -> None:
    done = claude.messages.create(model=SONNET, max_tokens=300, tools=[LOOKUP], messages=[
        {"role": "user", "content": f"{tag} where is it?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1",
                                           "name": "lookup_order", "input": {"order_id": "1"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                      "content": "shipped"}]},
    ])  # type: ignore[arg-type]
    assert done.content[0].type == "text" and done.stop_reason in ("end_turn", "max_tokens")


def test_max_tokens_truncates(claude: anthropic.Anthropic, tag: str) -> None:
    done = claude.messages.create(model=SONNET, max_tokens=4,
                                  messages=[{"role": "user", "content": tag}])
    assert done.stop_reason == "max_tokens" and done.usage.output_tokens == 4


@pytest.mark.parametrize("ttl", [None, "5m", "1h"])
def test_breakpoint_writes_then_reads(claude: anthropic.Anthropic, tag: str,
                                      ttl: str | None) -> None:
    system = cached_system(tag, 1200, ttl)
    first = claude.messages.create(model=SONNET, max_tokens=50, system=system,  # type: ignore[arg-type]
                                   messages=[{"role": "user", "content": "question one"}])
    second = claude.messages.create(model=SONNET, max_tokens=50, system=system,  # type: ignore[arg-type]
                                    messages=[{"role": "user", "content": "question two"}])
    written = first.usage.cache_creation_input_tokens or 0
    assert written >= 1024 and first.usage.cache_read_input_tokens == 0
    split = first.usage.cache_creation
    assert split is not None
    long_ttl = ttl == "1h"
    assert split.ephemeral_1h_input_tokens == (written if long_ttl else 0)
    assert split.ephemeral_5m_input_tokens == (0 if long_ttl else written)
    assert second.usage.cache_read_input_tokens == written
    assert second.usage.cache_creation_input_tokens == 0
    # input_tokens is only what was neither read nor written: the question.
    assert first.usage.input_tokens == second.usage.input_tokens < 20


def test_below_minimum_is_not_cached(claude: anthropic.Anthropic, tag: str) -> None:
    system = cached_system(tag, 300)
    for _ in range(2):
        done = claude.messages.create(model=SONNET, max_tokens=20, system=system,  # type: ignore[arg-type]
                                      messages=[{"role": "user", "content": "q"}])
        assert done.usage.cache_creation_input_tokens == 0
        assert done.usage.cache_read_input_tokens == 0
        assert done.usage.input_tokens > 300


def test_minimum_depends_on_model(claude: anthropic.Anthropic, tag: str) -> None:
    # ~2,800 tokens: enough for Sonnet 4.6 (1,024), not for Haiku 4.5 (4,096).
    system = cached_system(tag, 2000)
    sonnet = claude.messages.create(model=SONNET, max_tokens=20, system=system,  # type: ignore[arg-type]
                                    messages=[{"role": "user", "content": "q"}])
    haiku = claude.messages.create(model="claude-haiku-4-5", max_tokens=20, system=system,  # type: ignore[arg-type]
                                   messages=[{"role": "user", "content": "q"}])
    assert (sonnet.usage.cache_creation_input_tokens or 0) > 2048
    assert haiku.usage.cache_creation_input_tokens == 0


def test_small_breakpoint_falls_to_the_next_one(claude: anthropic.Anthropic, tag: str) -> None:
    tool = {**LOOKUP, "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    done = claude.messages.create(model=SONNET, max_tokens=20, tools=[tool],  # type: ignore[list-item]
                                  system=cached_system(tag, 1200, "5m"),  # type: ignore[arg-type]
                                  messages=[{"role": "user", "content": "q"}])
    split = done.usage.cache_creation
    assert split is not None
    # The tool alone is below the minimum, so its tokens are written with the system's 5m.
    assert split.ephemeral_1h_input_tokens == 0
    assert split.ephemeral_5m_input_tokens == done.usage.cache_creation_input_tokens


def test_mixed_ttls_split_the_write(claude: anthropic.Anthropic, tag: str) -> None:
    system = [*cached_system(tag, 1200, "1h"), *cached_system(tag + "b", 400, "5m")]
    done = claude.messages.create(model=SONNET, max_tokens=20, system=system,  # type: ignore[arg-type]
                                  messages=[{"role": "user", "content": "q"}])
    split = done.usage.cache_creation
    assert split is not None
    assert split.ephemeral_1h_input_tokens >= 1024
    assert 400 < split.ephemeral_5m_input_tokens < 1024


def test_moving_breakpoint_reads_last_turn_through_lookback(
    claude: anthropic.Anthropic, tag: str,
) -> None:
    def turn(text: str) -> dict[str, Any]:
        return {"role": "user", "content": [
            {"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]}

    first_turn = turn(long_text(tag, 1200))
    one = claude.messages.create(model=SONNET, max_tokens=30, messages=[first_turn])
    text = first_turn["content"][0]["text"]
    plain_first = {"role": "user", "content": [{"type": "text", "text": text}]}
    reply = {"role": "assistant", "content": [{"type": "text", "text": one.content[0].text}]}  # type: ignore[union-attr]
    two = claude.messages.create(model=SONNET, max_tokens=30,
                                 messages=[plain_first, reply, turn("and then?")])
    assert two.usage.cache_read_input_tokens == one.usage.cache_creation_input_tokens
    assert (two.usage.cache_creation_input_tokens or 0) > 0  # the new turn is written


def test_cache_control_rules_are_validated(http: httpx.Client, tag: str) -> None:
    def post(system: list[dict[str, Any]]) -> httpx.Response:
        return http.post("/v1/messages", headers=HEADERS, json={
            "model": SONNET, "max_tokens": 10, "system": system,
            "messages": [{"role": "user", "content": "q"}]})

    five = post(cached_system(tag, 5) * 5)
    assert five.status_code == 400
    assert five.json()["type"] == "error"
    assert five.json()["error"]["type"] == "invalid_request_error"
    wrong_order = post([*cached_system(tag, 5, "5m"), *cached_system(tag, 5, "1h")])
    assert wrong_order.status_code == 400
    bad_ttl = post(cached_system(tag, 5, "2h"))
    assert bad_ttl.status_code == 400


def test_missing_max_tokens_is_an_anthropic_400(http: httpx.Client) -> None:
    response = http.post("/v1/messages", headers=HEADERS, json={
        "model": SONNET, "messages": [{"role": "user", "content": "q"}]})
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"]


def test_sdk_raises_on_bad_request_and_lists_models(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(model=SONNET, max_tokens=10,
                               messages=[{"role": "system", "content": "q"}])  # type: ignore[list-item,typeddict-item]
    ids = [m.id for m in claude.models.list()]
    assert SONNET in ids and not any(i.startswith("gpt") for i in ids)
