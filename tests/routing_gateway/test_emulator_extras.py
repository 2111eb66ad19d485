"""The emulator's OpenAI logprobs and structured outputs, as the cascade relies on them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.procs import fleetcost_process, free_port


@pytest.fixture(scope="module")
def emu() -> Iterator[str]:
    port = free_port()
    with fleetcost_process(["emulate", "--port", str(port), "--seed", "5"], port) as url:
        yield url


def post(emu: str, **body: object) -> httpx.Response:
    return httpx.post(emu + "/v1/chat/completions", json={
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Where is it?"}],
        "max_tokens": 12, **body})


def test_logprobs_shape_and_stream_agree(emu: str) -> None:
    whole = post(emu, logprobs=True, top_logprobs=2).json()["choices"][0]
    entries = whole["logprobs"]["content"]
    assert "".join(e["token"] for e in entries) == whole["message"]["content"]
    for e in entries:
        assert e["logprob"] <= 0 and bytes(e["bytes"]).decode() == e["token"]
        assert len(e["top_logprobs"]) == 2 and e["top_logprobs"][0]["token"] == e["token"]
    streamed = post(emu, logprobs=True, top_logprobs=2, stream=True).text
    chunks = [json.loads(line[6:]) for line in streamed.splitlines()
              if line.startswith("data: {")]
    from_stream = [e for c in chunks if c["choices"] and c["choices"][0]["logprobs"]
                   for e in c["choices"][0]["logprobs"]["content"]]
    assert from_stream == entries
    assert post(emu).json()["choices"][0]["logprobs"] is None


def test_json_schema_answers_conform(emu: str) -> None:
    schema = {"type": "object", "required": ["tier", "score"], "properties": {
        "tier": {"type": "string", "enum": ["weak", "strong"]},
        "score": {"type": "integer", "minimum": 1, "maximum": 5}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "t", "strict": True, "schema": schema}}
    for i in range(5):
        out = httpx.post(emu + "/v1/chat/completions", json={
            "model": "gpt-4o-mini", "response_format": fmt, "max_tokens": 50,
            "messages": [{"role": "user", "content": f"item {i}"}]}).json()
        value = json.loads(out["choices"][0]["message"]["content"])
        assert value["tier"] in ("weak", "strong") and 1 <= value["score"] <= 5
        assert out["usage"]["completion_tokens"] > 0
