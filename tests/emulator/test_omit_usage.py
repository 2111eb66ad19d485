"""Answers without usage (`--omit-usage`, or `X-Emulator-Usage: omit` on one request).

Some OpenAI-compatible hosts leave `usage` out and ignore
`stream_options.include_usage`. The emulator can answer that way while the
answer itself, and what `/emulator/stats` counts as served, stay the same.
"""

from __future__ import annotations

import httpx
import pytest

from tests.emulator.conftest import anthropic_client, openai_client, run_emulator

OMIT = {"X-Emulator-Usage": "omit"}


def test_openai_answers_without_usage(emulator: str, tag: str) -> None:
    with openai_client(emulator) as oai:
        args = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": tag + " hi"}]}
        full = oai.chat.completions.create(**args)
        bare = oai.chat.completions.create(**args, extra_headers=OMIT)
        chunks = list(oai.chat.completions.create(
            **args, stream=True, stream_options={"include_usage": True}, extra_headers=OMIT))
    assert full.usage is not None and bare.usage is None
    assert bare.choices[0].message.content == full.choices[0].message.content
    assert chunks[-1].choices and chunks[-1].choices[0].finish_reason == "stop"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == full.choices[0].message.content


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_answers_without_usage(emulator: str, tag: str, stream: bool) -> None:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 200, "stream": stream,
            "messages": [{"role": "user", "content": tag + " where is my bag?"}]}
    headers = {"anthropic-version": "2023-06-01", "x-api-key": "k", **OMIT}
    r = httpx.post(emulator + "/v1/messages", json=body, headers=headers, timeout=30)
    assert r.status_code == 200
    assert '"usage"' not in r.text
    assert ("message_stop" in r.text) if stream else r.json()["stop_reason"]
    with anthropic_client(emulator) as claude:
        full = claude.messages.create(**{k: v for k, v in body.items() if k != "stream"})
    assert full.usage.output_tokens > 0


def test_run_flag_omits_usage_and_stats_still_count() -> None:
    with run_emulator("--omit-usage") as url, openai_client(url) as oai:
        resp = oai.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello there"}])
        stats = httpx.get(url + "/emulator/stats").json()["totals"]
    assert resp.usage is None
    assert stats["requests"] == 1 and stats["input_tokens"] > 0 and stats["output_tokens"] > 0
