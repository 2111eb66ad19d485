"""Data residency, ordered fallbacks and cooldowns, on two real emulators.

Emulator EU (region `eu`) fails every request with a 500; emulator US
(region `us`) answers. Each emulator's own request counters prove where
requests went: a tenant restricted to `eu` must never reach US, not even as
the fallback of a failing EU deployment.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.procs import fleetcost_process, free_port


@dataclass
class Two:
    eu: str
    us: str
    gateway: str

    def hits(self, emulator: str) -> int:
        stats = httpx.get(emulator + "/emulator/stats").json()
        return int(stats["requests"]) + sum(stats["faults"].values())


def config(eu: str, us: str, slow: str) -> str:
    return f"""
[providers.slow]
kind = "openai"
base_url = "{slow}"
timeout_s = 0.5
max_retries = 0

[models.sluggish]
provider = "slow"
model = "gpt-4o-mini"
fallbacks = ["steady"]

[providers.eu]
kind = "openai"
base_url = "{eu}"
region = "eu"
max_retries = 0

[providers.eu2]
kind = "openai"
base_url = "{eu}"
region = "eu"
max_retries = 0

[providers.us]
kind = "openai"
base_url = "{us}"
region = "us"
max_retries = 0

[providers.us-anthropic]
kind = "anthropic"
base_url = "{us}"
region = "us"

[models.main]
provider = "eu"
model = "gpt-4o-mini"
fallbacks = ["main-us"]

[models.main-us]
provider = "us"
model = "gpt-4o-mini"

[models.flaky]
provider = "eu2"
model = "gpt-4o-mini"
fallbacks = ["steady"]

[models.steady]
provider = "us"
model = "gpt-4o"

[models.claude]
provider = "us-anthropic"
model = "claude-sonnet-4-6"

[routing]
cooldown_s = 1.5

[routing.tenants.acme-eu]
regions = ["eu"]
"""


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Two]:
    tmp: Path = tmp_path_factory.mktemp("residency")
    ports = [free_port() for _ in range(4)]
    with contextlib.ExitStack() as stack:
        eu = stack.enter_context(fleetcost_process(
            ["emulate", "--port", str(ports[0]), "--faults", "500:1.0"], ports[0]))
        us = stack.enter_context(fleetcost_process(["emulate", "--port", str(ports[1])],
                                                   ports[1]))
        slow = stack.enter_context(fleetcost_process(
            ["emulate", "--port", str(ports[3]), "--faults", "timeout:1.0"], ports[3]))
        cfg = tmp / "fleetcost.toml"
        cfg.write_text(config(eu, us, slow))
        gw = stack.enter_context(fleetcost_process(
            ["serve", "--port", str(ports[2]), "--config", str(cfg)], ports[2],
            env={"FLEETCOST_DB": str(tmp / "ledger.db")}, log_path=tmp / "gateway.log"))
        yield Two(eu, us, gw)


def oai(two: Two, tenant: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=two.gateway + "/v1", api_key="sk-test", max_retries=0,
                         default_headers={"X-Fleetcost-Tenant": tenant})


def ask(client: openai.OpenAI, model: str, text: str = "Where is my parcel?") -> Any:
    return client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}], max_tokens=10)


def test_unrestricted_tenant_falls_back_to_us(two: Two) -> None:
    us_before = two.hits(two.us)
    raw = ask(oai(two, "globex"), "main")
    assert raw.headers["x-fleetcost-model"] == "gpt-4o-mini"
    assert "main failed 500, fallback" in raw.headers["x-fleetcost-route"]
    assert two.hits(two.us) == us_before + 1


def test_eu_tenant_never_reaches_us_even_on_fallback(two: Two) -> None:
    us_before, eu_before = two.hits(two.us), two.hits(two.eu)
    client = oai(two, "acme-eu")
    for i in range(3):
        with pytest.raises(openai.InternalServerError):
            ask(client, "main", f"parcel {i}")
    assert two.hits(two.eu) > eu_before  # it tried its one allowed deployment
    assert two.hits(two.us) == us_before  # and nothing reached the forbidden one


def test_eu_tenant_with_no_allowed_deployment_gets_403(two: Two) -> None:
    us_before = two.hits(two.us)
    with pytest.raises(openai.PermissionDeniedError) as info:
        ask(oai(two, "acme-eu"), "steady")
    assert info.value.status_code == 403
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "permission_error"
    assert "acme-eu" in body["message"] and body["param"] == "model"
    ant = anthropic.Anthropic(base_url=two.gateway, api_key="sk-ant", max_retries=0,
                              default_headers={"X-Fleetcost-Tenant": "acme-eu"})
    with pytest.raises(anthropic.PermissionDeniedError) as ainfo:
        ant.messages.create(model="claude", max_tokens=10,
                            messages=[{"role": "user", "content": "hi"}])
    assert ainfo.value.body["error"]["type"] == "permission_error"  # type: ignore[index]
    assert two.hits(two.us) == us_before


def test_fallback_order_and_cooldown(two: Two) -> None:
    client = oai(two, "globex")
    eu_before = two.hits(two.eu)
    first = ask(client, "flaky", "order 1")
    assert first.headers["x-fleetcost-model"] == "gpt-4o"
    assert "flaky failed 500" in first.headers["x-fleetcost-route"]
    assert two.hits(two.eu) == eu_before + 1
    # While flaky cools down, calls start at its fallback: EU sees nothing.
    second = ask(client, "flaky", "order 2")
    assert second.headers["x-fleetcost-model"] == "gpt-4o"
    assert "failed" not in second.headers["x-fleetcost-route"]
    assert two.hits(two.eu) == eu_before + 1
    time.sleep(1.6)  # cooldown over: flaky is tried first again
    ask(client, "flaky", "order 3")
    assert two.hits(two.eu) == eu_before + 2


def test_session_stays_on_the_deployment_that_answered_it(two: Two) -> None:
    """Affinity: once its fallback answered, a session stays there (its prefix cache)."""
    time.sleep(1.6)  # earlier tests' cooldowns over
    sticky = openai.OpenAI(base_url=two.gateway + "/v1", api_key="sk-test", max_retries=0,
                           default_headers={"X-Fleetcost-Session": "trip-42"})
    eu_before = two.hits(two.eu)
    assert ask(sticky, "flaky", "leg 1").headers["x-fleetcost-model"] == "gpt-4o"
    assert two.hits(two.eu) == eu_before + 1
    time.sleep(1.6)  # flaky's cooldown is over, but the session sticks to steady
    second = ask(sticky, "flaky", "leg 2")
    assert second.headers["x-fleetcost-model"] == "gpt-4o"
    assert "failed" not in second.headers["x-fleetcost-route"]
    assert two.hits(two.eu) == eu_before + 1
    ask(oai(two, "globex"), "flaky", "another session")  # no affinity: flaky first
    assert two.hits(two.eu) == eu_before + 2
    sticky.close()


def test_timeout_falls_back(two: Two) -> None:
    raw = ask(oai(two, "globex"), "sluggish", "where is my bag")
    assert raw.headers["x-fleetcost-model"] == "gpt-4o"
    assert "sluggish failed 504, fallback" in raw.headers["x-fleetcost-route"]
