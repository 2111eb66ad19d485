"""The OpenAI side of the emulator, through the official SDK and raw HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import orjson
import pytest

from fleetcost.emulator.prompt import Tokens, openai_sequence
from fleetcost.pricing.encodings import get_encoding
from fleetcost.pricing.tokens import count_messages
from tests.emulator.conftest import long_text

ENCODING = get_encoding("o200k_base")

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "strict": True,
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "unit", "days"],
            "additionalProperties": False,
        },
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                       "required": ["query"]},
    },
}


def sse_chunks(response: httpx.Response) -> list[Any]:
    """Data payloads of a finished SSE body, `[DONE]` kept as a string."""
    out: list[Any] = []
    for event in response.text.split("\n\n"):
        if event.startswith("data: "):
            data = event[6:]
            out.append(data if data == "[DONE]" else orjson.loads(data))
    return out


def test_stream_and_json_agree(http: httpx.Client, tag: str) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"{tag} hi"}]}
    plain = http.post("/v1/chat/completions", json=body).json()
    streamed = http.post("/v1/chat/completions", json={
        **body, "stream": True, "stream_options": {"include_usage": True}})
    assert streamed.headers["content-type"].startswith("text/event-stream")
    chunks = sse_chunks(streamed)
    assert chunks[-1] == "[DONE]"
    events = chunks[:-1]
    assert {c["object"] for c in events} == {"chat.completion.chunk"}
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in events if c["choices"])
    assert text == plain["choices"][0]["message"]["content"]
    assert events[-2]["choices"][0]["finish_reason"] == plain["choices"][0]["finish_reason"]
    assert events[-1]["choices"] == [] and events[-1]["usage"] == plain["usage"]
    assert all(c["usage"] is None for c in events[:-1])
    assert {c["id"] for c in events} == {plain["id"]}


def test_usage_is_counted_with_the_reported_tokenizer(oai: openai.OpenAI, tag: str) -> None:
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": f"{tag} what is a token?"}]
    done = oai.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
    usage = done.usage
    assert usage is not None
    content = done.choices[0].message.content or ""
    assert usage.completion_tokens == len(ENCODING.encode(content))
    assert usage.prompt_tokens == count_messages(messages, "gpt-4o-mini").tokens
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details
    assert usage.completion_tokens_details.reasoning_tokens == 0
    assert done.choices[0].finish_reason == "stop"
    with_tools = oai.chat.completions.create(model="gpt-4o-mini", messages=messages,  # type: ignore[arg-type]
                                             tools=[WEATHER, SEARCH], tool_choice="none")  # type: ignore[list-item]
    assert with_tools.usage is not None
    assert with_tools.usage.prompt_tokens == count_messages(
        messages, "gpt-4o-mini", tools=[WEATHER, SEARCH]).tokens


def test_stream_without_include_usage_has_no_usage_chunk(http: httpx.Client, tag: str) -> None:
    response = http.post("/v1/chat/completions", json={
        "model": "gpt-4o-mini", "stream": True,
        "messages": [{"role": "user", "content": f"{tag} hello"}]})
    events = sse_chunks(response)[:-1]
    assert all("usage" not in c for c in events)
    assert all(c["choices"] for c in events)


def test_tool_call_parses_in_sdk_and_follows_schema(oai: openai.OpenAI, tag: str) -> None:
    done = oai.chat.completions.create(
        model="gpt-4o-mini", tools=[WEATHER],  # type: ignore[list-item]
        messages=[{"role": "user", "content": f"{tag} weather in Paris?"}])
    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.id.startswith("call_") and call.function.name == "get_weather"  # type: ignore[union-attr]
    args = orjson.loads(call.function.arguments)  # type: ignore[union-attr]
    assert set(args) == {"city", "unit", "days"}
    assert isinstance(args["city"], str) and args["unit"] in ("celsius", "fahrenheit")
    assert 1 <= args["days"] <= 7
    assert done.usage is not None
    expected = len(ENCODING.encode("get_weather")) + len(ENCODING.encode(call.function.arguments))  # type: ignore[union-attr]
    assert done.usage.completion_tokens == expected


def test_stream_helper_accumulates_the_same_tool_call(oai: openai.OpenAI, tag: str) -> None:
    kwargs: dict[str, Any] = {
        "model": "gpt-4o-mini", "tools": [WEATHER, SEARCH],
        "messages": [{"role": "user", "content": f"{tag} plan my trip"}],
        "stream_options": {"include_usage": True},
    }
    with oai.chat.completions.stream(**kwargs) as stream:
        final = stream.get_final_completion()
    plain = oai.chat.completions.create(**{k: v for k, v in kwargs.items()
                                           if k != "stream_options"})
    got = final.choices[0].message.tool_calls[0]  # type: ignore[index]
    want = plain.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert (got.id, got.function.name, got.function.arguments) == (  # type: ignore[union-attr]
        want.id, want.function.name, want.function.arguments)  # type: ignore[union-attr]
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage == plain.usage


def test_turns_after_a_tool_result_or_with_tool_choice_none_are_text(
    oai: openai.OpenAI, tag: str,
) -> None:
    after_tool = oai.chat.completions.create(model="gpt-4o-mini", tools=[SEARCH], messages=[
        {"role": "user", "content": f"{tag} find it"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "search", "arguments": '{"query": "x"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "found"},
    ])  # type: ignore[list-item]
    assert after_tool.choices[0].message.tool_calls is None
    refused = oai.chat.completions.create(
        model="gpt-4o-mini", tools=[SEARCH], tool_choice="none",  # type: ignore[list-item]
        messages=[{"role": "user", "content": f"{tag} find it"}])
    assert refused.choices[0].finish_reason == "stop"


def test_forced_tool_choice_calls_that_tool(oai: openai.OpenAI, tag: str) -> None:
    for name in ("search", "get_weather"):
        done = oai.chat.completions.create(
            model="gpt-4o-mini", tools=[WEATHER, SEARCH],  # type: ignore[list-item]
            tool_choice={"type": "function", "function": {"name": name}},
            messages=[{"role": "user", "content": f"{tag} go"}])
        assert done.choices[0].message.tool_calls[0].function.name == name  # type: ignore[index,union-attr]


def test_max_tokens_truncates_with_finish_reason_length(oai: openai.OpenAI, tag: str) -> None:
    done = oai.chat.completions.create(model="gpt-4o-mini", max_completion_tokens=5,
                                       messages=[{"role": "user", "content": f"{tag} long"}])
    assert done.choices[0].finish_reason == "length"
    assert done.usage is not None and done.usage.completion_tokens == 5
    assert len(ENCODING.encode(done.choices[0].message.content or "")) == 5


def test_reasoning_models_report_hidden_tokens(oai: openai.OpenAI, tag: str) -> None:
    done = oai.chat.completions.create(model="o4-mini",
                                       messages=[{"role": "user", "content": f"{tag} think"}])
    usage = done.usage
    assert usage is not None and usage.completion_tokens_details is not None
    reasoning = usage.completion_tokens_details.reasoning_tokens or 0
    assert reasoning > 0
    visible = len(ENCODING.encode(done.choices[0].message.content or ""))
    assert usage.completion_tokens == reasoning + visible


def _grid(tokens: int) -> int:
    return 0 if tokens < 1024 else 1024 + 128 * ((tokens - 1024) // 128)


def _common_prefix(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> int:
    tokens = Tokens()
    sa, sb = openai_sequence(tokens, a, None)[1], openai_sequence(tokens, b, None)[1]
    n = 0
    while n < min(len(sa), len(sb)) // 4 and sa[n * 4 : n * 4 + 4] == sb[n * 4 : n * 4 + 4]:
        n += 1
    return n


def test_prefix_cache_reads_in_128_token_steps(oai: openai.OpenAI, tag: str) -> None:
    system = {"role": "system", "content": long_text(tag, 1100)}
    first = [system, {"role": "user", "content": "first question"}]
    second = [system, {"role": "user", "content": "a different second question"}]
    calls = [oai.chat.completions.create(model="gpt-4o-mini", messages=m)  # type: ignore[arg-type]
             for m in (first, second, second)]
    cached = [c.usage.prompt_tokens_details.cached_tokens for c in calls]  # type: ignore[union-attr]
    assert cached[0] == 0
    shared = _common_prefix(first, second)
    assert shared > 1500
    assert cached[1] == _grid(shared)
    assert cached[2] == _grid(calls[2].usage.prompt_tokens)  # type: ignore[union-attr]
    assert all((c - 1024) % 128 == 0 for c in cached[1:])
    assert all(c <= call.usage.prompt_tokens for c, call in zip(cached, calls, strict=True))  # type: ignore[union-attr]


def test_short_prompts_are_never_cached(oai: openai.OpenAI, tag: str) -> None:
    messages = [{"role": "user", "content": long_text(tag, 600)}]
    for _ in range(3):
        done = oai.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
        assert done.usage is not None and done.usage.prompt_tokens < 1024
        assert done.usage.prompt_tokens_details.cached_tokens == 0  # type: ignore[union-attr]


def test_prefix_cache_is_per_model(oai: openai.OpenAI, tag: str) -> None:
    messages = [{"role": "user", "content": long_text(tag, 1000)}]
    oai.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
    other = oai.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
    assert other.usage.prompt_tokens_details.cached_tokens == 0  # type: ignore[union-attr]


def test_answers_ignore_key_order_and_delivery_fields(http: httpx.Client, tag: str) -> None:
    one = http.post("/v1/chat/completions", content=orjson.dumps(
        {"model": "gpt-4o", "messages": [{"role": "user", "content": tag}], "temperature": 0.2}))
    two = http.post("/v1/chat/completions", content=orjson.dumps(
        {"temperature": 0.2, "stream": False, "messages": [{"content": tag, "role": "user"}],
         "model": "gpt-4o"}))
    assert one.json()["choices"] == two.json()["choices"]


def test_bad_requests_answer_in_openai_shape(http: httpx.Client, oai: openai.OpenAI) -> None:
    response = http.post("/v1/chat/completions", json={"model": "gpt-4o-mini"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "messages"
    assert http.post("/v1/chat/completions", content=b"{not json").status_code == 400
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "wizard",  # type: ignore[misc,list-item]
                                                                    "content": "x"}])


def test_models_and_health(oai: openai.OpenAI, http: httpx.Client) -> None:
    ids = [m.id for m in oai.models.list()]
    assert "gpt-4o-mini" in ids and not any(i.startswith("claude") for i in ids)
    assert http.get("/healthz").json() == {"status": "ok"}
    missing = http.get("/v1/nothing")
    assert missing.status_code == 404 and "error" in missing.json()
