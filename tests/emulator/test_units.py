"""The emulator's pure parts, in-process: generation, caches, faults, settings."""

from __future__ import annotations

import random

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetcost.emulator import EmulatorSettings, create_app, parse_faults
from fleetcost.emulator.faults import FaultDraw
from fleetcost.emulator.generate import Writer
from fleetcost.emulator.plan import request_digest
from fleetcost.emulator.prefix_cache import (
    Breakpoint,
    TTLStore,
    anthropic_cache,
    openai_cached,
)
from fleetcost.emulator.prompt import Tokens
from fleetcost.emulator.settings import ModelTable

TOKENS = Tokens()
WRITER = Writer(TOKENS, median=150, sigma=0.8, default_max=4096)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32), limit=st.one_of(st.none(), st.integers(1, 600)),
       reasoning=st.booleans())
def test_text_length_is_the_tokenizer_count(seed: int, limit: int | None,
                                            reasoning: bool) -> None:
    out = WRITER.text(random.Random(seed), limit, reasoning)
    visible = out.tokens - out.reasoning_tokens
    assert TOKENS.count(out.text) == visible == len(out.pieces)
    assert all(TOKENS.count(piece) == 1 for piece in out.pieces)
    if limit is not None:
        assert out.tokens <= limit
    if out.truncated:
        assert out.tokens == (limit or 4096)  # the default cap when the request sets none
    else:  # the drawn length, in full
        assert visible == WRITER.length(random.Random(seed))
    assert reasoning or out.reasoning_tokens == 0


def test_same_seed_same_text_and_lengths_spread() -> None:
    assert WRITER.text(random.Random(5), None, False) == WRITER.text(random.Random(5), None, False)
    lengths = sorted(WRITER.length(random.Random(i)) for i in range(2001))
    assert 120 <= lengths[1000] <= 180  # median ~150
    assert lengths[0] < 60 and lengths[-1] > 400


SCHEMA = {"type": "object", "required": ["id", "tags", "when", "deep"], "properties": {
    "id": {"type": "integer", "minimum": 10, "maximum": 20},
    "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "minItems": 2},
    "when": {"type": ["string", "null"], "format": "date"},
    "ratio": {"type": "number"},
    "flag": {"type": "boolean"},
    "kind": {"const": "fixed"},
    "deep": {"type": "object", "required": ["x"], "properties": {"x": {"anyOf": [
        {"type": "integer"}, {"type": "string"}]}}},
}}


@pytest.mark.parametrize("seed", range(20))
def test_tool_arguments_follow_the_schema(seed: int) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": SCHEMA}}
    out = WRITER.tool_call(random.Random(seed), tool, "f", "call_1", reasoning=False)
    assert out.tool is not None
    args = orjson.loads(out.tool.arguments)
    assert {"id", "tags", "when", "deep"} <= set(args) <= set(SCHEMA["properties"])  # type: ignore[call-overload]
    assert 10 <= args["id"] <= 20 and len(args["tags"]) >= 2
    assert set(args["tags"]) <= {"a", "b"} and isinstance(args["when"], str)
    assert isinstance(args["deep"]["x"], int)
    assert args.get("kind", "fixed") == "fixed"
    assert out.tokens == TOKENS.count("f") + TOKENS.count(out.tool.arguments)
    assert "".join(out.fragments()) == out.tool.arguments
    assert WRITER.sent_tokens(out, len(out.fragments()) + 1) == out.tokens


def test_ttl_store_expires_and_refreshes() -> None:
    store = TTLStore(max_entries=10)
    store.touch(b"k", now=0.0, ttl=5.0)
    assert store.alive(b"k", 4.9) and not store.alive(b"k", 5.0)
    store.touch(b"k", now=10.0, ttl=60.0)
    store.touch(b"k", now=20.0, ttl=5.0)  # a short refresh keeps the longer TTL
    assert store.alive(b"k", 70.0)


def test_ttl_store_stays_bounded() -> None:
    store = TTLStore(max_entries=100)
    for i in range(1000):
        store.touch(i.to_bytes(4, "big"), now=0.0, ttl=60.0)
    assert len(store) <= 100
    assert store.alive((999).to_bytes(4, "big"), 1.0)  # the newest survive


def test_openai_reads_the_longest_shared_step() -> None:
    store = TTLStore(1000)
    keys = [bytes([i]) for i in range(5)]  # 1024, 1152, ..., 1536 tokens
    assert openai_cached(store, keys[:3], 0.0, 300.0) == 0
    assert openai_cached(store, keys, 1.0, 300.0) == 1024 + 2 * 128
    assert openai_cached(store, keys, 2.0, 300.0) == 1536
    assert openai_cached(store, keys, 400.0, 300.0) == 0


def _blocks(*sizes: int) -> tuple[list[int], list[bytes]]:
    ends, total = [], 0
    for size in sizes:
        total += size
        ends.append(total)
    return ends, [f"{i}".encode() for i in range(len(sizes))]


def test_anthropic_write_then_read_with_ttl_split() -> None:
    store = TTLStore(1000)
    ends, keys = _blocks(300, 1500, 700, 50)
    bps = [Breakpoint(0, "1h", 3600), Breakpoint(1, "1h", 3600), Breakpoint(2, "5m", 300)]
    first = anthropic_cache(store, ends, keys, bps, 1024, now=0.0)
    # Block 0 alone is below the minimum: its tokens go with block 1's write.
    assert (first.read, first.write_1h, first.write_5m) == (0, 1800, 700)
    second = anthropic_cache(store, ends, keys, bps, 1024, now=1.0)
    assert (second.read, second.write_1h, second.write_5m) == (2500, 0, 0)
    later = anthropic_cache(store, ends, keys, bps, 1024, now=400.0)  # 5m entry expired
    assert (later.read, later.write_1h, later.write_5m) == (1800, 0, 700)


def test_anthropic_lookback_finds_an_earlier_breakpoint() -> None:
    store = TTLStore(1000)
    ends, keys = _blocks(2000, 10, 10, 10)
    anthropic_cache(store, ends, keys, [Breakpoint(0, "5m", 300)], 1024, now=0.0)
    moved = anthropic_cache(store, ends, keys, [Breakpoint(3, "5m", 300)], 1024, now=1.0)
    assert (moved.read, moved.write_5m) == (2000, 30)
    far_ends, far_keys = _blocks(2000, *([1] * 25))
    anthropic_cache(store, far_ends, far_keys, [Breakpoint(0, "5m", 300)], 1024, now=0.0)
    too_far = anthropic_cache(store, far_ends, far_keys, [Breakpoint(25, "5m", 300)], 1024, 1.0)
    assert too_far.read == 0  # more than 20 blocks back


def test_fault_draws_are_reproducible_and_fresh_on_retry() -> None:
    digests = [bytes([i]) * 16 for i in range(200)]
    one = FaultDraw(3, (("429", 0.3),))
    two = FaultDraw(3, (("429", 0.3),))
    first = [one.draw(d) is not None for d in digests]
    assert first == [two.draw(d) is not None for d in reversed(digests)][::-1]
    assert 30 <= sum(first) <= 90
    retries = [one.draw(d) is not None for d in digests]
    assert retries != first
    assert [FaultDraw(4, (("429", 0.3),)).draw(d) is not None for d in digests] != first


def test_parse_faults() -> None:
    assert parse_faults("429:0.05, 500:0.02,timeout:0.01,cut-stream:0.01") == (
        ("429", 0.05), ("500", 0.02), ("timeout", 0.01), ("cut-stream", 0.01))
    assert parse_faults("") == ()
    for bad in ("429", "teapot:0.1", "429:x", "429:1.5", "429:0.6,500:0.6"):
        with pytest.raises(ValueError):
            parse_faults(bad)
    with pytest.raises(ValueError):
        EmulatorSettings(latency="fast")  # type: ignore[arg-type]


def test_request_digest_ignores_delivery_and_key_order() -> None:
    a = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True,
         "stream_options": {"include_usage": True}}
    b = {"messages": [{"content": "x", "role": "user"}], "model": "m"}
    assert request_digest(a, 1) == request_digest(b, 1) != request_digest(b, 2)


def test_model_table_longest_prefix() -> None:
    table = ModelTable.bundled()
    assert table.profile("gpt-4o-mini-2024-07-18").tokens_per_second == 90.0
    assert table.profile("openai/gpt-4o").ttft == 0.45
    assert table.profile("o4-mini").reasoning and not table.profile("gpt-4o").reasoning
    assert table.profile("claude-haiku-4-5-20251001").min_cacheable_tokens == 4096
    assert table.profile("no-such-model").ttft == 0.5


async def test_in_process_app_serves_without_a_socket() -> None:
    app = create_app(EmulatorSettings(seed=9))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://emulator") as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        one = (await client.post("/v1/chat/completions", json=body)).json()
        two = (await client.post("/v1/chat/completions", json=body)).json()
        assert one["choices"] == two["choices"] and one["usage"] == two["usage"]
        anthropic_models = await client.get("/v1/models", headers={"x-api-key": "k"})
        assert all(m["type"] == "model" for m in anthropic_models.json()["data"])
        stats = (await client.get("/emulator/stats")).json()
        assert stats["totals"]["requests"] == 2
