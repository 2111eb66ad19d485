"""Token counting: published counts, OpenAI's chat framing, tools, estimates, speed."""

from __future__ import annotations

import time
from typing import Any

import pytest

from fleetcost.pricing.encodings import (
    CLAUDE,
    EstimateProfile,
    encoded_length,
    encoding_for,
    estimate_profile,
)
from fleetcost.pricing.tokens import count_messages, count_text


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("openai/gpt-4.1-mini", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o1", "o200k_base"),
        ("gpt-5-nano", "o200k_base"),
        ("ft:gpt-4o-mini:acme::abc", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("claude-sonnet-4-5", "estimate"),
        ("gemini-2.5-flash", "estimate"),
        ("together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo", "estimate"),
    ],
)
def test_encoding_for(model: str, encoding: str) -> None:
    assert encoding_for(model) == encoding


# Counts published in OpenAI's cookbook ("How to count tokens with tiktoken").
@pytest.mark.parametrize(
    ("text", "cl100k", "o200k"),
    [
        ("tiktoken is great!", 6, 6),
        ("antidisestablishmentarianism", 6, 6),
        ("2 + 2 = 4", 7, 7),
        ("お誕生日おめでとう", 9, 8),
        ("", 0, 0),
    ],
)
def test_known_text_counts(text: str, cl100k: int, o200k: int) -> None:
    assert count_text(text, "gpt-4").tokens == cl100k
    exact = count_text(text, "gpt-4o")
    assert (exact.tokens, exact.encoding, exact.exact, exact.error_bound) == (
        o200k,
        "o200k_base",
        True,
        0.0,
    )


def test_long_texts_are_counted_in_pieces() -> None:
    paragraph = "The quick brown fox jumps over the lazy dog.\n"
    text = paragraph * 30_000  # 1.35 M characters: beyond what bpe-openai takes at once
    assert encoded_length(text, "o200k_base") == 30_000 * encoded_length(paragraph, "o200k_base")
    words = 300_000  # one 1.5 M-character line: cut before a space instead
    line = "word" + " word" * (words - 1)
    assert encoded_length(line, "cl100k_base") == words * encoded_length("word", "cl100k_base")


COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that "
        "translates corporate jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more "
        "bandwidth to touch base on opportunities for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean "
        "for the client deliverable.",
    },
]
WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {
                        "type": "string",
                        "description": "The city and state, e.g. San Francisco, CA",
                    },
                    "unit": {
                        "type": "string",
                        "description": "The unit of temperature to return",
                        "enum": ["celsius", "fahrenheit"],
                    },
                },
                "required": ["location"],
            },
        },
    }
]
WEATHER_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful assistant that can answer to questions about the weather.",
    },
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


# prompt_tokens the OpenAI API returned for these requests, as printed in the cookbook.
@pytest.mark.parametrize(
    ("model", "expected"),
    [("gpt-3.5-turbo", 129), ("gpt-4", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124)],
)
def test_chat_framing_matches_the_api(model: str, expected: int) -> None:
    result = count_messages(COOKBOOK_MESSAGES, model)
    assert result.tokens == expected
    assert not result.exact and 0 < result.error_bound < 0.1
    assert result.upper_bound >= expected >= result.lower_bound


@pytest.mark.parametrize(
    ("model", "expected"),
    [("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101)],
)
def test_tool_schemas_match_the_api(model: str, expected: int) -> None:
    assert count_messages(WEATHER_MESSAGES, model, tools=WEATHER_TOOLS).tokens == expected


def test_framing_is_three_per_message_plus_priming() -> None:
    one = count_messages([{"role": "user", "content": "hello world"}], "gpt-4o")
    # 3 (message) + 1 ("user") + 2 ("hello world") + 3 (reply priming)
    assert one.tokens == 9
    named = count_messages([{"role": "user", "name": "bob", "content": "hello world"}], "gpt-4o")
    assert named.tokens == 9 + encoded_length("bob", "o200k_base") + 1


def test_tool_calls_and_results_are_counted() -> None:
    asked: list[dict[str, Any]] = [{"role": "user", "content": "weather in Paris?"}]
    call = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {
                    "name": "get_current_weather",
                    "arguments": '{"location": "Paris, FR"}',
                },
            }
        ],
    }
    result = {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21}'}
    base = count_messages(asked, "gpt-4o").tokens
    with_call = count_messages([*asked, call], "gpt-4o").tokens
    assert with_call - base >= 3 + encoded_length('{"location": "Paris, FR"}', "o200k_base")
    assert count_messages([*asked, call, result], "gpt-4o").tokens > with_call


def test_anthropic_shapes_are_counted() -> None:
    messages: list[dict[str, Any]] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image", "source": {"type": "base64", "data": "A" * 50_000}},
            ],
        },
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": "cat"}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "a cat"}],
        },
    ]
    tools = [
        {
            "name": "lookup",
            "description": "Look things up",
            "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
        }
    ]
    result = count_messages(messages, "claude-sonnet-4-5", tools=tools, system="Be brief.")
    assert not result.exact and result.profile == "claude"
    # The base64 payload is not counted as text: one image is a fixed estimate.
    assert CLAUDE.image_tokens < result.tokens < CLAUDE.image_tokens + CLAUDE.tools_overhead + 200


def test_images_use_a_fixed_estimate_and_widen_the_bound() -> None:
    text_only = count_messages([{"role": "user", "content": "describe"}], "gpt-4o")
    high = count_messages(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                ],
            }
        ],
        "gpt-4o",
    )
    low = count_messages(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://example.com/cat.png", "detail": "low"},
                    },
                ],
            }
        ],
        "gpt-4o",
    )
    assert high.tokens - text_only.tokens == 765
    assert low.tokens - text_only.tokens == 85
    assert high.error_bound > 0.5 > text_only.error_bound


def test_estimates_are_flagged_and_bounded() -> None:
    text = "Fleet agents read far more tokens than they write. " * 20
    exact = count_text(text, "gpt-4o")
    claude = count_text(text, "claude-sonnet-4-5")
    assert (
        not claude.exact and claude.profile == "claude" and claude.error_bound == CLAUDE.error_bound
    )
    assert claude.tokens == -(-exact.tokens * 12 // 10)  # ceil(o200k x 1.2)
    assert claude.lower_bound < claude.tokens < claude.upper_bound
    gemini = count_text(text, "gemini-2.5-pro")
    assert gemini.profile == "gemini" and not gemini.exact
    assert estimate_profile("some-new-model").name == "unknown"
    assert estimate_profile("claude-opus-4-7").name == "claude-2026"


def test_estimate_profile_can_be_calibrated() -> None:
    calibrated = EstimateProfile("claude-calibrated", multiplier=1.0, error_bound=0.02)
    text = "hello world " * 50
    result = count_text(text, "claude-haiku-4-5", profile=calibrated)
    assert result.tokens == count_text(text, "gpt-4o").tokens
    assert result.error_bound == 0.02 and result.profile == "claude-calibrated"


def test_tools_cost_tokens_on_every_model() -> None:
    for model in ("gpt-4o", "gpt-4", "claude-sonnet-4-5", "gemini-2.5-flash"):
        bare = count_messages(WEATHER_MESSAGES, model).tokens
        assert count_messages(WEATHER_MESSAGES, model, tools=WEATHER_TOOLS).tokens > bare + 30, (
            model
        )


def _conversation(chars: int) -> list[dict[str, Any]]:
    turns, size, i = [], 0, 0
    while size < chars:
        text = f"Step {i}: the agent read the file, found {i} failing tests and proposed a fix. "
        turns.append({"role": "user" if i % 2 else "assistant", "content": text * 2})
        size += len(text) * 2
        i += 1
    return turns


def test_counting_is_fast_enough_for_the_request_path() -> None:
    conversation = _conversation(4096)  # a 4 KB conversation, ~25 messages
    count_messages(conversation, "gpt-4o")  # load the encoding once
    runs = 200
    start = time.perf_counter()
    for _ in range(runs):
        count_messages(conversation, "gpt-4o")
    per_call = (time.perf_counter() - start) / runs
    # ~0.1 ms on the 2-core CI machines; the bound leaves room for slow runners.
    assert per_call < 0.005, f"count_messages took {per_call * 1000:.2f} ms on 4 KB"
