"""Residency holds for the calls the gateway makes on a request's behalf too.

A cascade whose verifier model lives in the US: for a tenant restricted to
the EU the verifier is never called (the gate has no verdict and follows
`missing_signal`), and the US emulator's own counters stay still; an
unrestricted tenant's verifier call does reach the US.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.procs import fleetcost_process, free_port


def hits(emulator: str) -> int:
    return int(httpx.get(emulator + "/emulator/stats").json()["requests"])


def config(eu: str, us: str) -> str:
    return f"""
[providers.eu]
kind = "openai"
base_url = "{eu}"
region = "eu"

[providers.us]
kind = "openai"
base_url = "{us}"
region = "us"

[models.small]
provider = "eu"
model = "gpt-4o-mini"

[models.big]
provider = "eu"
model = "gpt-4o"

[models.judge]
provider = "us"
model = "gpt-4.1-nano"

[routing]
weak = "small"
strong = "big"
policies = ["cascade"]

[routing.cascade]
gates = ["verifier"]
verifier_model = "judge"
missing_signal = "accept"

[routing.shadow]
sample_rate = 1.0

[routing.tenants.acme-eu]
regions = ["eu"]
"""


@pytest.fixture(scope="module")
def urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    tmp: Path = tmp_path_factory.mktemp("residency-helpers")
    ports = [free_port() for _ in range(3)]
    with contextlib.ExitStack() as stack:
        eu = stack.enter_context(fleetcost_process(["emulate", "--port", str(ports[0])],
                                                   ports[0]))
        us = stack.enter_context(fleetcost_process(["emulate", "--port", str(ports[1])],
                                                   ports[1]))
        cfg = tmp / "fleetcost.toml"
        cfg.write_text(config(eu, us))
        gw = stack.enter_context(fleetcost_process(
            ["serve", "--port", str(ports[2]), "--config", str(cfg)], ports[2],
            env={"FLEETCOST_DB": str(tmp / "ledger.db")}, log_path=tmp / "gateway.log"))
        yield eu, us, gw


def route_of(gateway: str, tenant: str, text: str) -> str:
    with openai.OpenAI(base_url=gateway + "/v1", api_key="sk", max_retries=0,
                       default_headers={"X-Fleetcost-Tenant": tenant}) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": text}], max_tokens=10)
        return str(raw.headers["x-fleetcost-route"])


def test_helper_calls_respect_the_allow_list(urls: tuple[str, str, str]) -> None:
    eu, us, gateway = urls
    before = hits(us)
    for i in range(4):
        assert "no verifier verdict: accept" in route_of(gateway, "acme-eu", f"seat {i}")
    assert hits(us) == before and hits(eu) > 0
    route_of(gateway, "globex", "seat 9")
    assert hits(us) == before + 1
