"""Stream taps against recorded provider streams, however TCP cuts them.

A tap must forward whole events, byte-identical to upstream (minus the usage
chunk OpenAI clients did not ask for), and must end with the same usage,
model, finish reason and character count whatever the read boundaries were.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetcost.providers import registry
from fleetcost.providers.base import ChatRequest, StreamTap
from fleetcost.types import Usage

from .recorded import events, payload, split_at

OPENAI = registry.get("openai")
ANTHROPIC = registry.get("anthropic")

OPENAI_TEXT = (
    "The" " refund" " policy" " allows" " returns" " within" " 30" " days" " — café"
    "\n\n\"quoted\""
)
ANTHROPIC_TEXT = (
    "Okay, let's check the weather for San Francisco — " "one moment.\n"
    '{"location": "San Francisco, CA", "unit": "fahrenheit"}'
)


def openai_request(*, wants_usage: bool) -> ChatRequest:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    if wants_usage:
        body["stream_options"] = {"include_usage": True}
    return OPENAI.parse_request(orjson.dumps(body))


ANTHROPIC_REQUEST = ANTHROPIC.parse_request(orjson.dumps(
    {"model": "m", "max_tokens": 9, "stream": True, "messages": [{"role": "user", "content": "x"}]}
))


@dataclass(frozen=True)
class Expect:
    fixture: str
    wants_usage: bool
    forwarded: bytes
    usage: Usage
    model: str
    finish_reason: str
    chars: int

    def tap(self) -> StreamTap:
        if self.fixture.startswith("openai"):
            return OPENAI.stream_tap(openai_request(wants_usage=self.wants_usage))
        return ANTHROPIC.stream_tap(ANTHROPIC_REQUEST)


def _without_usage_chunk(raw: bytes) -> bytes:
    return b"".join(e for e in events(raw) if b'"choices":[],"usage":{' not in e)


OPENAI_USAGE = Usage(input_tokens=2006, output_tokens=300, cached_tokens=1024)
OPENAI_TOOLS_USAGE = Usage(input_tokens=82, output_tokens=217, reasoning_tokens=192)
ANTHROPIC_USAGE = Usage(
    input_tokens=472 + 9000 + 1800, output_tokens=89, cached_tokens=9000,
    cache_write_5m_tokens=300, cache_write_1h_tokens=1500,
)
CASES = [
    Expect("openai_stream.sse", True, payload("openai_stream.sse"), OPENAI_USAGE,
           "gpt-4.1-2025-04-14", "stop", len(OPENAI_TEXT)),
    Expect("openai_stream.sse", False, _without_usage_chunk(payload("openai_stream.sse")),
           OPENAI_USAGE, "gpt-4.1-2025-04-14", "stop", len(OPENAI_TEXT)),
    Expect("openai_stream_tools.sse", False,
           _without_usage_chunk(payload("openai_stream_tools.sse")), OPENAI_TOOLS_USAGE,
           "o4-mini-2025-04-16", "tool_calls",
           len("get_weather") + len('{"location":"Paris, France","unit":"celsius"}')),
    Expect("anthropic_stream.sse", False, payload("anthropic_stream.sse"), ANTHROPIC_USAGE,
           "claude-sonnet-4-5-20250929", "tool_use", len(ANTHROPIC_TEXT)),
]
IDS = ["openai-usage-wanted", "openai-usage-dropped", "openai-tools", "anthropic"]


def run(tap: StreamTap, pieces: list[bytes]) -> bytes:
    out = b"".join(tap.feed(piece) for piece in pieces)
    return out + tap.finish()


def check(expect: Expect, tap: StreamTap, forwarded: bytes, *, exact_chars: bool = False) -> None:
    assert forwarded == expect.forwarded
    assert tap.usage == expect.usage
    assert tap.usage_final
    assert tap.model == expect.model
    assert tap.finish_reason == expect.finish_reason
    assert tap.first_token
    assert tap.error is None
    if exact_chars:
        assert tap.partial_output_chars() == expect.chars
    else:
        # Once a tap has decoded one delta it counts later plain-delta blocks
        # by their size, without decoding: an estimate (it only prices
        # streams cut short), held to a quarter of the truth.
        assert abs(tap.partial_output_chars() - expect.chars) <= expect.chars / 4 + 8


@pytest.mark.parametrize("expect", CASES, ids=IDS)
def test_whole_stream_in_one_read(expect: Expect) -> None:
    tap = expect.tap()
    check(expect, tap, run(tap, [payload(expect.fixture)]), exact_chars=True)


@pytest.mark.parametrize("expect", CASES, ids=IDS)
def test_every_two_way_split(expect: Expect) -> None:
    raw = payload(expect.fixture)
    for cut in range(len(raw) + 1):
        tap = expect.tap()
        check(expect, tap, run(tap, split_at(raw, [cut])))


@pytest.mark.parametrize("expect", CASES, ids=IDS)
def test_one_byte_at_a_time_forwards_only_whole_events(expect: Expect) -> None:
    raw = payload(expect.fixture)
    tap = expect.tap()
    out = []
    for i in range(len(raw)):
        piece = tap.feed(raw[i : i + 1])
        assert piece == b"" or piece.endswith(b"\n\n")
        out.append(piece)
    check(expect, tap, b"".join(out) + tap.finish())


@pytest.mark.parametrize("expect", CASES, ids=IDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_random_splits(expect: Expect, data: st.DataObject) -> None:
    raw = payload(expect.fixture)
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=40))
    tap = expect.tap()
    check(expect, tap, run(tap, split_at(raw, cuts)))


def test_first_token_waits_for_content() -> None:
    chunks = events(payload("openai_stream.sse"))
    tap = OPENAI.stream_tap(openai_request(wants_usage=False))
    tap.feed(chunks[0])  # role chunk: content "" is not a token
    assert not tap.first_token
    tap.feed(chunks[1])
    assert tap.first_token

    anthropic = events(payload("anthropic_stream.sse"))
    tap = ANTHROPIC.stream_tap(ANTHROPIC_REQUEST)
    tap.feed(b"".join(anthropic[:3]))  # message_start, content_block_start, ping
    assert not tap.first_token
    tap.feed(anthropic[3])
    assert tap.first_token


def test_cut_openai_stream_has_no_usage_but_counts_characters() -> None:
    chunks = events(payload("openai_stream.sse"))
    tap = OPENAI.stream_tap(openai_request(wants_usage=False))
    run(tap, [b"".join(chunks[:4]), chunks[4][:30]])
    assert tap.usage is None and not tap.usage_final
    assert tap.partial_output_chars() == len("The refund policy")
    assert tap.finish_reason is None
    assert tap.model == "gpt-4.1-2025-04-14"


def test_cut_anthropic_stream_keeps_the_input_side() -> None:
    chunks = events(payload("anthropic_stream.sse"))
    tap = ANTHROPIC.stream_tap(ANTHROPIC_REQUEST)
    run(tap, [b"".join(chunks[:5])])
    assert not tap.usage_final
    assert tap.usage == Usage(
        input_tokens=11272, output_tokens=2, cached_tokens=9000,
        cache_write_5m_tokens=300, cache_write_1h_tokens=1500,
    )
    assert tap.partial_output_chars() == len(
        "Okay, let's check the weather for San Francisco — one moment.\n"
    )


def test_anthropic_error_event_is_forwarded_and_recorded() -> None:
    raw = payload("anthropic_stream_error.sse")
    tap = ANTHROPIC.stream_tap(ANTHROPIC_REQUEST)
    assert run(tap, [raw]) == raw
    assert tap.error == "Overloaded"
    assert not tap.usage_final
    assert tap.usage == Usage(input_tokens=1250 + 4096, output_tokens=1, cached_tokens=4096)


def test_openai_error_chunk_is_forwarded_and_recorded() -> None:
    error = b'data: {"error":{"message":"The server had an error","type":"server_error"}}\n\n'
    tap = OPENAI.stream_tap(openai_request(wants_usage=False))
    assert run(tap, [error]) == error
    assert tap.error == "The server had an error"


def test_newer_message_delta_input_fields_win_when_present() -> None:
    start = events(payload("anthropic_stream.sse"))[0]
    delta = (b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":'
             b'"end_turn"},"usage":{"input_tokens":500,"cache_read_input_tokens":null,'
             b'"output_tokens":40}}\n\n')
    tap = ANTHROPIC.stream_tap(ANTHROPIC_REQUEST)
    run(tap, [start, delta])
    assert tap.usage is not None
    assert tap.usage.input_tokens == 500 + 9000 + 1800  # null read keeps message_start's
    assert tap.usage.output_tokens == 40


def test_final_event_without_blank_line_is_flushed_as_sent() -> None:
    tap = OPENAI.stream_tap(openai_request(wants_usage=True))
    assert tap.feed(b"data: [DONE]\n") == b""
    assert tap.finish() == b"data: [DONE]\n"
    last = events(payload("anthropic_stream.sse"))[-2].rstrip(b"\n")
    tap = ANTHROPIC.stream_tap(ANTHROPIC_REQUEST)
    assert tap.feed(last) == b""
    # sse.py ends an unterminated last line with "\n" so the event parses.
    assert tap.finish() == last + b"\n"
    assert tap.usage_final


def test_keepalive_comments_and_unknown_data_pass_untouched() -> None:
    noise = b": keep-alive\n\ndata: not json\n\ndata: [1,2]\n\nevent: ping\ndata: {}\n\n"
    for tap in (OPENAI.stream_tap(openai_request(wants_usage=False)),
                ANTHROPIC.stream_tap(ANTHROPIC_REQUEST)):
        assert run(tap, [noise]) == noise
        assert tap.usage is None and not tap.first_token


def test_usage_riding_on_a_content_chunk_is_never_dropped() -> None:
    # Some OpenAI-compatible upstreams attach usage to the last content chunk.
    chunk = (b'data: {"model":"m","choices":[{"index":0,"delta":{"content":"hi"},'
             b'"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1}}\n\n')
    tap = OPENAI.stream_tap(openai_request(wants_usage=False))
    assert run(tap, [chunk]) == chunk
    assert tap.usage == Usage(input_tokens=5, output_tokens=1)
