"""The exact response cache, end to end through the real gateway and emulator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import anthropic
import httpx
import openai
import pytest

from tests.gateway.conftest import Stack


def _ask(client: openai.OpenAI, text: str, **kw: object) -> tuple[dict[str, str], str]:
    extra_headers = kw.pop("headers", {})
    raw = client.chat.completions.with_raw_response.create(
        model=kw.pop("model", "gpt-4o-mini"),
        messages=kw.pop("messages", [{"role": "user", "content": text}]),
        extra_headers=extra_headers, **kw)
    return dict(raw.headers), raw.parse().choices[0].message.content or ""


@pytest.fixture
def oai(stack: Stack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=stack.gateway + "/v1", api_key="k", max_retries=0) as client:
        yield client


def test_hit_is_free_and_records_the_saving(stack: Stack, oai: openai.OpenAI) -> None:
    q = f"What is the refund policy? {uuid.uuid4()}"
    before = stack.emulator_stats()["requests"]
    h1, a1 = _ask(oai, q, temperature=0, headers={"X-Fleetcost-Agent": "a1"})
    h2, a2 = _ask(oai, q, temperature=0, headers={"X-Fleetcost-Agent": "a2"})
    assert h1["x-fleetcost-cache"] == "miss" and h2["x-fleetcost-cache"] == "exact"
    assert a1 == a2
    assert Decimal(h2["x-fleetcost-cost-usd"]) == 0
    assert stack.emulator_stats()["requests"] == before + 1
    first, hit = stack.call(h1["x-fleetcost-call-id"]), stack.call(h2["x-fleetcost-call-id"])
    assert hit["response_cache"] == "exact" and hit["agent_id"] == "a2"
    assert Decimal(hit["saved_usd"]) == Decimal(first["cost_usd"]) > 0
    assert hit["cost_usd"] == "0" and hit["input_tokens"] == 0


def test_streamed_hit_replays_the_stream(stack: Stack, oai: openai.OpenAI) -> None:
    kw = {"model": "gpt-4o", "temperature": 0, "stream": True,
          "messages": [{"role": "user", "content": f"Stream me {uuid.uuid4()}"}]}
    texts, caches = [], []
    for _ in range(2):
        with oai.chat.completions.with_streaming_response.create(**kw) as raw:
            caches.append(raw.headers["x-fleetcost-cache"])
            texts.append("".join(c.choices[0].delta.content or ""
                                 for c in raw.parse() if c.choices))
    assert caches == ["miss", "exact"]
    assert texts[0] == texts[1] and texts[0]


def test_entries_never_cross_scopes(stack: Stack, oai: openai.OpenAI) -> None:
    q = f"Is my flight delayed? {uuid.uuid4()}"
    base = {"temperature": 0}
    assert _ask(oai, q, **base)[0]["x-fleetcost-cache"] == "miss"
    other_tenant = _ask(oai, q, headers={"X-Fleetcost-Tenant": "other"}, **base)
    other_model = _ask(oai, q, model="gpt-4o", **base)
    other_system = _ask(oai, q, messages=[{"role": "system", "content": "Be terse."},
                                          {"role": "user", "content": q}], **base)
    other_version = _ask(oai, q, headers={"X-Fleetcost-Prompt-Version": "v2"}, **base)
    for headers, _ in (other_tenant, other_model, other_system, other_version):
        assert headers["x-fleetcost-cache"] == "miss"
    assert _ask(oai, q, **base)[0]["x-fleetcost-cache"] == "exact"


def test_sampled_requests_bypass_unless_seeded(stack: Stack, oai: openai.OpenAI) -> None:
    q = f"Tell me a joke {uuid.uuid4()}"
    assert _ask(oai, q)[0]["x-fleetcost-cache"] == "bypass"
    assert _ask(oai, q)[0]["x-fleetcost-cache"] == "bypass"
    assert _ask(oai, q, seed=7)[0]["x-fleetcost-cache"] == "miss"
    assert _ask(oai, q, seed=7)[0]["x-fleetcost-cache"] == "exact"


def test_modes_per_request(stack: Stack, oai: openai.OpenAI) -> None:
    q = f"Baggage rules {uuid.uuid4()}"
    kw = {"temperature": 0}
    assert _ask(oai, q, headers={"X-Fleetcost-Cache": "read-only"}, **kw)[0][
        "x-fleetcost-cache"] == "miss"
    assert _ask(oai, q, headers={"X-Fleetcost-Cache": "off"}, **kw)[0][
        "x-fleetcost-cache"] == "bypass"
    assert _ask(oai, q, headers={"X-Fleetcost-Cache": "write-only"}, **kw)[0][
        "x-fleetcost-cache"] == "miss"
    assert _ask(oai, q, headers={"X-Fleetcost-Cache": "write-only"}, **kw)[0][
        "x-fleetcost-cache"] == "miss", "write-only never serves"
    assert _ask(oai, q, **kw)[0]["x-fleetcost-cache"] == "exact"


def test_invalidate_by_tag(stack: Stack, oai: openai.OpenAI) -> None:
    q = f"Seat upgrade policy {uuid.uuid4()}"
    tagged = {"X-Fleetcost-Cache-Tags": "policy-faq"}
    _ask(oai, q, temperature=0, headers=tagged)
    assert _ask(oai, q, temperature=0)[0]["x-fleetcost-cache"] == "exact"
    r = httpx.post(stack.gateway + "/fleetcost/v1/cache/invalidate",
                   json={"tag": "policy-faq", "tenant": "default"})
    assert r.status_code == 200 and r.json()["removed"] >= 1
    assert _ask(oai, q, temperature=0)[0]["x-fleetcost-cache"] == "miss"


def test_anthropic_hit(stack: Stack) -> None:
    with anthropic.Anthropic(base_url=stack.gateway, api_key="k", max_retries=0) as ant:
        _anthropic_twice(ant)


def _anthropic_twice(ant: anthropic.Anthropic) -> None:
    msgs = [{"role": "user", "content": f"Lost luggage {uuid.uuid4()}"}]
    r1 = ant.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=100,
                                               extra_body={"temperature": 0}, messages=msgs)
    r2 = ant.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=100,
                                               extra_body={"temperature": 0}, messages=msgs)
    assert r2.headers["x-fleetcost-cache"] == "exact"
    assert r1.parse().content[0].text == r2.parse().content[0].text
