"""Injected faults: their rates, their shapes, and that a seed replays them."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.emulator.conftest import openai_client, run_emulator

SPEC = "429:0.1,500:0.05"
N = 300


def request(i: int) -> dict[str, object]:
    return {"model": "gpt-4o-mini", "max_tokens": 5,
            "messages": [{"role": "user", "content": f"request number {i}"}]}


def statuses_in_order(url: str) -> dict[int, int]:
    with httpx.Client(base_url=url, timeout=30) as client:
        return {i: client.post("/v1/chat/completions", json=request(i)).status_code
                for i in range(N)}


async def statuses_concurrently(url: str) -> dict[int, int]:
    order = list(range(N))
    random.Random(1).shuffle(order)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        async def one(i: int) -> tuple[int, int]:
            return i, (await client.post("/v1/chat/completions", json=request(i))).status_code
        return dict(await asyncio.gather(*(one(i) for i in order)))


@pytest.fixture(scope="module")
def faulty() -> Iterator[str]:
    with run_emulator("--faults", SPEC, "--seed", "7") as url:
        yield url


def test_faults_come_at_the_configured_rates(faulty: str) -> None:
    httpx.post(faulty + "/emulator/reset")
    seen = statuses_in_order(faulty)
    counts = {code: sum(1 for s in seen.values() if s == code) for code in (200, 429, 500)}
    assert sum(counts.values()) == N
    # Binomial(300, 0.1): mean 30, sd 5.2; (300, 0.05): mean 15, sd 3.8.
    assert 10 <= counts[429] <= 55 and 3 <= counts[500] <= 35
    stats = httpx.get(faulty + "/emulator/stats").json()
    assert stats["faults"] == {"429": counts[429], "500": counts[500]}
    assert stats["requests"] == counts[200]


def test_a_seed_replays_the_same_faults_in_any_order(faulty: str) -> None:
    httpx.post(faulty + "/emulator/reset")
    first = statuses_in_order(faulty)
    httpx.post(faulty + "/emulator/reset")
    second = asyncio.run(statuses_concurrently(faulty))
    assert second == first
    with run_emulator("--faults", SPEC, "--seed", "8") as other:
        assert statuses_in_order(other) != first


def test_fault_shapes_and_retry_after(faulty: str) -> None:
    httpx.post(faulty + "/emulator/reset")
    seen = statuses_in_order(faulty)
    rate_limited = next(i for i, s in seen.items() if s == 429)
    httpx.post(faulty + "/emulator/reset")
    with httpx.Client(base_url=faulty) as client:
        for i in range(rate_limited):
            client.post("/v1/chat/completions", json=request(i))
        response = client.post("/v1/chat/completions", json=request(rate_limited))
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        assert "message" in response.json()["error"]
        # A retry of the same request is a new draw: it gets through soon.
        for _ in range(10):
            if client.post("/v1/chat/completions", json=request(rate_limited)).status_code == 200:
                break
        else:
            pytest.fail("ten retries all faulted")


def test_anthropic_faults_speak_anthropic() -> None:
    with run_emulator("--faults", "429:1.0") as url, pytest.raises(httpx.HTTPStatusError) as exc:
        httpx.post(url + "/v1/messages", headers={"anthropic-version": "2023-06-01"}, json={
            "model": "claude-haiku-4-5", "max_tokens": 5,
            "messages": [{"role": "user", "content": "q"}]}).raise_for_status()
    body = exc.value.response.json()
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"


def test_timeout_hangs_then_answers_those_who_wait() -> None:
    with run_emulator("--faults", "timeout:1.0", "--timeout-seconds", "1.0") as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url + "/v1/chat/completions", json=request(1), timeout=0.3)
        started = time.monotonic()
        response = httpx.post(url + "/v1/chat/completions", json=request(2), timeout=30)
        assert response.status_code == 200
        assert time.monotonic() - started >= 0.9
        time.sleep(1.0)  # the abandoned request's hang ends; it must not count as served
        stats = httpx.get(url + "/emulator/stats").json()
        assert stats["faults"] == {"timeout": 2} and stats["requests"] == 1


def test_cut_stream_breaks_streams_and_counts_what_was_sent() -> None:
    body = {**request(3), "max_tokens": 200, "stream": True}
    with run_emulator("--faults", "cut-stream:1.0") as url:
        received = b""
        with pytest.raises(httpx.RemoteProtocolError), httpx.stream(
                "POST", url + "/v1/chat/completions", json=body) as response:
            for chunk in response.iter_raw():
                received += chunk
        assert b"[DONE]" not in received
        deltas = received.count(b'"content":"') - 1  # minus the role chunk's empty content
        plain = httpx.post(url + "/v1/chat/completions", json={**body, "stream": False})
        assert plain.status_code == 200  # cut-stream spares non-streamed requests
        stats = httpx.get(url + "/emulator/stats").json()
        assert stats["faults"] == {"cut-stream": 1}
        served = plain.json()["usage"]["completion_tokens"]
        assert stats["totals"]["output_tokens"] == served + deltas
        with openai_client(url) as client, pytest.raises(openai.APIError):
            for _ in client.chat.completions.create(stream=True, **request(4)):  # type: ignore[call-overload]
                pass


def test_bad_fault_spec_is_a_one_line_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fleetcost.cli.main", "emulate", "--faults", "418:0.5"],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("fleetcost: unknown fault kind '418'")
    assert len(done.stderr.strip().splitlines()) == 1
