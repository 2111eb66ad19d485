"""`/emulator/stats` equals the sum of the usages the emulator returned."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import orjson

from tests.emulator.conftest import long_text, run_emulator

ANTHROPIC = {"anthropic-version": "2023-06-01"}
FIELDS = ("input_tokens", "cached_tokens", "cache_write_tokens", "output_tokens")


def openai_usage(usage: dict[str, Any]) -> Counter[str]:
    return Counter({
        "input_tokens": usage["prompt_tokens"],
        "cached_tokens": usage["prompt_tokens_details"]["cached_tokens"],
        "cache_write_tokens": 0,
        "output_tokens": usage["completion_tokens"],
    })


def anthropic_usage(usage: dict[str, Any]) -> Counter[str]:
    read, write = usage["cache_read_input_tokens"], usage["cache_creation_input_tokens"]
    return Counter({
        "input_tokens": usage["input_tokens"] + read + write,
        "cached_tokens": read,
        "cache_write_tokens": write,
        "output_tokens": usage["output_tokens"],
    })


def streamed_usage(response: httpx.Response) -> dict[str, Any]:
    """The usage a client can assemble from a stream, in the non-streamed shape."""
    usage: dict[str, Any] = {}
    for block in response.text.split("\n\n"):
        data = block.rsplit("data: ", 1)[-1]
        if not data.startswith("{"):
            continue
        event = orjson.loads(data)
        if event.get("object") == "chat.completion.chunk" and event.get("usage"):
            usage = event["usage"]
        elif event.get("type") == "message_start":
            usage = dict(event["message"]["usage"])
        elif event.get("type") == "message_delta":
            usage["output_tokens"] = event["usage"]["output_tokens"]
    return usage


def calls(tag: str) -> list[tuple[str, dict[str, Any]]]:
    system = long_text(tag, 1200)
    cached = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
    out: list[tuple[str, dict[str, Any]]] = []
    for i in range(3):
        out.append(("openai", {"model": "gpt-4o-mini", "messages": [
            {"role": "system", "content": system}, {"role": "user", "content": f"q{i}"}]}))
        out.append(("anthropic", {"model": "claude-sonnet-4-6", "max_tokens": 60 + i,
                                  "system": cached,
                                  "messages": [{"role": "user", "content": f"q{i}"}]}))
    out.append(("openai", {"model": "o4-mini", "messages": [{"role": "user", "content": tag}]}))
    out.append(("anthropic", {"model": "claude-haiku-4-5", "max_tokens": 30,
                              "messages": [{"role": "user", "content": tag}]}))
    return out


def test_stats_equal_the_sum_of_returned_usage(tag: str) -> None:
    with run_emulator() as url, httpx.Client(base_url=url, timeout=30) as client:
        per_model: dict[str, Counter[str]] = {}
        for i, (protocol, body) in enumerate(calls(tag)):
            stream = i % 2 == 1
            if protocol == "openai":
                extra = {"stream": True, "stream_options": {"include_usage": True}}
                response = client.post("/v1/chat/completions",
                                       json={**body, **(extra if stream else {})})
                usage = streamed_usage(response) if stream else response.json()["usage"]
                counted = openai_usage(usage)
            else:
                response = client.post("/v1/messages", headers=ANTHROPIC,
                                       json={**body, "stream": stream})
                usage = streamed_usage(response) if stream else response.json()["usage"]
                counted = anthropic_usage(usage)
            per_model.setdefault(body["model"], Counter()).update(counted)
        assert client.post("/v1/messages", headers=ANTHROPIC, json={}).status_code == 400
        stats = client.get("/emulator/stats").json()
        total: Counter[str] = sum(per_model.values(), Counter())
        assert total["cached_tokens"] > 0 and total["cache_write_tokens"] > 0
        assert {f: stats["totals"][f] for f in FIELDS} == {f: total[f] for f in FIELDS}
        for model, counted in per_model.items():
            assert {f: stats["models"][model][f] for f in FIELDS} == {f: counted[f] for f in FIELDS}
        assert stats["requests"] == len(calls(tag)) and stats["errors"] == 1
        assert stats["models"]["o4-mini"]["reasoning_tokens"] > 0

        client.post("/emulator/reset")
        cleared = client.get("/emulator/stats").json()
        assert cleared["requests"] == 0 and cleared["models"] == {}
        # Reset also forgets cached prefixes: the first call writes again.
        again = client.post("/v1/messages", headers=ANTHROPIC, json=calls(tag)[1][1]).json()
        assert again["usage"]["cache_creation_input_tokens"] > 0
