"""`--latency realistic`: first tokens arrive about when the model table says.

Bounds are loose on purpose: the machine is shared and noisy, so these tests
check the order of magnitude (a 0.35 s TTFT is not 0 and not 5 s), never a
tight timing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.emulator.conftest import run_emulator


@pytest.fixture(scope="module")
def realistic() -> Iterator[str]:
    with run_emulator("--latency", "realistic") as url:
        yield url


def first_token_and_total(url: str, body: dict[str, object], path: str) -> tuple[float, float]:
    started = time.monotonic()
    first = None
    headers = {"anthropic-version": "2023-06-01"}
    with httpx.stream("POST", url + path, json={**body, "stream": True}, headers=headers,
                      timeout=60) as response:
        for chunk in response.iter_bytes():
            if first is None and (b'"content":"' in chunk.replace(b'"content":""', b"")
                                  or b"text_delta" in chunk):
                first = time.monotonic() - started
    assert first is not None
    return first, time.monotonic() - started


def test_openai_stream_ttft_and_pace(realistic: str) -> None:
    body = {"model": "gpt-4o-mini", "max_tokens": 45,
            "messages": [{"role": "user", "content": "pace me"}]}
    ttft, total = first_token_and_total(realistic, body, "/v1/chat/completions")
    assert 0.25 <= ttft <= 3.0  # table: 0.35 s
    assert total - ttft >= 0.5 * 44 / 90  # table: 90 tokens/s


def test_anthropic_stream_ttft(realistic: str) -> None:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 20,
            "messages": [{"role": "user", "content": "pace me"}]}
    ttft, _ = first_token_and_total(realistic, body, "/v1/messages")
    assert 0.45 <= ttft <= 3.5  # table: 0.6 s


def test_non_streamed_answer_waits_for_the_whole_output(realistic: str) -> None:
    started = time.monotonic()
    response = httpx.post(realistic + "/v1/chat/completions", timeout=60, json={
        "model": "gpt-4o", "max_tokens": 30, "messages": [{"role": "user", "content": "x"}]})
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed >= 0.45 + 0.5 * 30 / 60  # ttft 0.45 s, then 60 tokens/s


def test_client_leaving_mid_stream_counts_only_what_was_sent(realistic: str) -> None:
    httpx.post(realistic + "/emulator/reset")
    body = {"model": "gpt-4o-mini", "max_tokens": 400, "stream": True,
            "messages": [{"role": "user", "content": "a long one"}]}
    with httpx.stream("POST", realistic + "/v1/chat/completions", json=body,
                      timeout=60) as response:
        for chunk in response.iter_bytes():
            if b'"content":"' in chunk.replace(b'"content":""', b""):
                break
    deadline = time.monotonic() + 10
    stats = httpx.get(realistic + "/emulator/stats").json()
    while stats["client_disconnects"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
        stats = httpx.get(realistic + "/emulator/stats").json()
    assert stats["client_disconnects"] == 1 and stats["requests"] == 1
    assert 0 < stats["totals"]["output_tokens"] < 400
