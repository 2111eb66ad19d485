"""Provider keys reach the provider and nothing else: not the ledger, not the logs."""

from __future__ import annotations

import contextlib
from pathlib import Path

import openai

from tests.gateway.conftest import run_stack

SECRET = "sk-live-do-not-leak-4242424242"


def test_provider_key_never_written(tmp_path: Path) -> None:
    config = """
[providers.openai]
kind = "openai"
base_url = "http://127.0.0.1:1"
api_key_env = "FLEETCOST_TEST_PROVIDER_KEY"
"""
    env = {"FLEETCOST_TEST_PROVIDER_KEY": SECRET}
    with run_stack(tmp_path, ("--faults", "500:0.3"), config=config, gateway_env=env) as stack:
        client = openai.OpenAI(base_url=stack.gateway + "/v1", api_key="client-key",
                               max_retries=0)
        for i in range(20):
            with contextlib.suppress(openai.APIStatusError):
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}])
        stack.ledger(20)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
