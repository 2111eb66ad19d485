"""Plan constraints through the gateway: context-window fit and capabilities.

A deployment whose context window (from the catalog: 8,192 tokens for
`gpt-4`) cannot hold the prompt plus the requested output is skipped for its
fallback; with no fallback the client gets a 400 naming `messages`. A model
configured without tool support is skipped for a request with tools.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.gateway.conftest import run_stack

CONFIG = """
[models.tiny]
provider = "openai"
model = "gpt-4"
fallbacks = ["roomy"]

[models.tiny-alone]
provider = "openai"
model = "gpt-4"

[models.no-tools]
provider = "openai"
model = "gpt-4o-mini"
capabilities = ["json"]
fallbacks = ["roomy"]

[models.roomy]
provider = "openai"
model = "gpt-4o"
"""
LONG = " ".join(f"Clause {i}: the carrier refunds unused segments on request." for i in range(1200))
TOOLS = [{"type": "function", "function": {
    "name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    with run_stack(tmp_path_factory.mktemp("constraints"), config=CONFIG) as stack, \
            openai.OpenAI(base_url=stack.gateway + "/v1", api_key="sk", max_retries=0) as c:
        yield c


def model_for(client: openai.OpenAI, model: str, text: str, **extra: object) -> str:
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}], max_tokens=100,
        **extra)  # type: ignore[call-overload]
    return str(raw.headers["x-fleetcost-model"])


def test_context_window_fit_uses_the_fallback(client: openai.OpenAI) -> None:
    assert model_for(client, "tiny", "Is my refund due?") == "gpt-4"
    assert model_for(client, "tiny", LONG) == "gpt-4o"


def test_nothing_fits_is_a_400_naming_messages(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        model_for(client, "tiny-alone", LONG)
    body = info.value.body
    assert isinstance(body, dict) and body["param"] == "messages"
    assert "context window" in body["message"]


def test_missing_capability_skips_the_deployment(client: openai.OpenAI) -> None:
    assert model_for(client, "no-tools", "Find my booking") == "gpt-4o-mini"
    assert model_for(client, "no-tools", "Find my booking", tools=TOOLS) == "gpt-4o"
