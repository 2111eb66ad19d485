"""Emulators on loopback for the tests of this folder.

`emulator` is one zero-latency server shared by the session; tests that use
it keep to prompts of their own (a per-test tag at the start) so its prefix
caches and counters do not mix. Tests that need other flags, or exact
counters, start their own with `run_emulator`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from tests.procs import fleetcost_process, free_port


@contextlib.contextmanager
def run_emulator(*flags: str) -> Iterator[str]:
    port = free_port()
    with fleetcost_process(["emulate", "--port", str(port), *flags], port) as url:
        yield url


@pytest.fixture(scope="session")
def emulator() -> Iterator[str]:
    with run_emulator() as url:
        yield url


@pytest.fixture
def tag() -> str:
    """A prefix that makes this test's prompts its own."""
    return f"test-{uuid.uuid4().hex[:12]}"


def openai_client(url: str, **kwargs: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0, **kwargs)


def anthropic_client(url: str, **kwargs: object) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="sk-ant-test", max_retries=0, **kwargs)


@pytest.fixture
def oai(emulator: str) -> Iterator[openai.OpenAI]:
    with openai_client(emulator) as client:
        yield client


@pytest.fixture
def claude(emulator: str) -> Iterator[anthropic.Anthropic]:
    with anthropic_client(emulator) as client:
        yield client


@pytest.fixture
def http(emulator: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator, timeout=30) as client:
        yield client


WORDS = (
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
    "uniform", "victor", "whiskey", "yankee", "zulu",
)


def long_text(tag: str, words: int) -> str:
    """Text of `words` words (about 1.4 o200k tokens each) that starts with `tag`."""
    return tag + " " + " ".join(WORDS[(i * 7) % len(WORDS)] for i in range(words))
