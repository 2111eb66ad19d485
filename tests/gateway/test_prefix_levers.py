"""Automatic Anthropic breakpoints and cache affinity, through the real stack."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import anthropic
import openai
import pytest

from tests.gateway.conftest import Stack, run_stack
from tests.gateway.test_prefix_doctor import doctor
from tests.procs import fleetcost_process, free_port

SYSTEM = "You are the airline support agent. " + " ".join(
    f"Rule {i}: a passenger may change flight {i} only with a valid reservation code."
    for i in range(150)
)
TURNS = ["Hi, I need to change my flight.", "The code is ABC123.", "Move it to Friday please."]


def _conversation(upto: int) -> list[dict]:
    messages: list[dict] = []
    for i, text in enumerate(TURNS[: upto + 1]):
        messages.append({"role": "user", "content": text})
        if i < upto:
            messages.append({"role": "assistant", "content": f"Noted: {text.lower()}"})
    return messages


def _ask(ant: anthropic.Anthropic, turn: int, session: str, **extra: object) -> dict:
    raw = ant.messages.with_raw_response.create(
        model="claude-sonnet-4-6", max_tokens=64, system=SYSTEM,
        messages=_conversation(turn), extra_headers={"X-Fleetcost-Session": session},
        **extra,
    )
    u = raw.parse().usage
    return {"input": u.input_tokens, "read": u.cache_read_input_tokens or 0,
            "write": u.cache_creation_input_tokens or 0,
            "call_id": raw.headers["x-fleetcost-call-id"]}


@pytest.fixture(scope="module")
def auto_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = "[cache.anthropic_breakpoints]\nauto = true\n"
    with run_stack(tmp_path_factory.mktemp("auto"), config=config) as s:
        yield s


def test_auto_breakpoints_make_an_unmarked_conversation_cacheable(
    auto_stack: Stack, stack: Stack
) -> None:
    on = anthropic.Anthropic(base_url=auto_stack.gateway, api_key="sk-ant", max_retries=0)
    off = anthropic.Anthropic(base_url=stack.gateway, api_key="sk-ant", max_retries=0)
    with_auto = [_ask(on, t, "auto-1") for t in range(3)]
    without = [_ask(off, t, "auto-off-1") for t in range(3)]
    assert all(c["read"] == 0 and c["write"] == 0 for c in without)
    assert with_auto[0]["write"] > 0
    assert with_auto[1]["read"] > 0 and with_auto[2]["read"] > with_auto[1]["read"]
    # What the model reads is unchanged: the same prompt tokens, billed differently.
    for a, b in zip(with_auto, without, strict=True):
        assert a["input"] + a["read"] + a["write"] == b["input"]
    row = auto_stack.call(with_auto[2]["call_id"])
    assert row["cache_status"] == "hit" and row["prefix_hash"]


def test_auto_breakpoints_respect_the_clients_four(auto_stack: Stack) -> None:
    """Four client markers already: the gateway adds none (a fifth is a 400 upstream)."""
    ant = anthropic.Anthropic(base_url=auto_stack.gateway, api_key="sk-ant", max_retries=0)
    mark = {"type": "ephemeral"}
    system = [{"type": "text", "text": SYSTEM[:3000], "cache_control": mark},
              {"type": "text", "text": SYSTEM[3000:], "cache_control": mark}]
    messages = _conversation(2)
    messages[0] = {"role": "user", "content": [
        {"type": "text", "text": TURNS[0], "cache_control": mark}]}
    messages[2] = {"role": "user", "content": [
        {"type": "text", "text": TURNS[1], "cache_control": mark}]}
    resp = ant.messages.create(model="claude-sonnet-4-6", max_tokens=32, system=system,
                               messages=messages)
    assert resp.usage.cache_creation_input_tokens


@contextlib.contextmanager
def _two_emulators() -> Iterator[tuple[str, str]]:
    p1, p2 = free_port(), free_port()
    with fleetcost_process(["emulate", "--port", str(p1), "--seed", "1"], p1) as e1, \
            fleetcost_process(["emulate", "--port", str(p2), "--seed", "1"], p2) as e2:
        yield e1, e2


def _agents(oai: openai.OpenAI, models: list[str]) -> dict[int, list[str]]:
    """4 agents (4 system prompts), 3 turns each; turn t goes to models[t % len]."""
    calls: dict[int, list[str]] = {}
    for turn in range(3):
        for agent in range(4):
            raw = oai.chat.completions.with_raw_response.create(
                model=models[turn % len(models)],
                messages=[{"role": "system", "content": f"Agent {agent}. " + SYSTEM},
                          *_conversation(turn)],
                extra_headers={"X-Fleetcost-Session": f"agent-{agent}"})
            calls.setdefault(agent, []).append(raw.headers["x-fleetcost-call-id"])
    return calls


def test_affinity_keeps_each_prefix_on_its_warm_deployment(tmp_path: Path) -> None:
    with _two_emulators() as (e1, e2):
        config = (f'[providers.east]\nkind = "openai"\nbase_url = "{e1}"\n'
                  f'[providers.west]\nkind = "openai"\nbase_url = "{e2}"\n'
                  '[models."gpt-4o-mini"]\nprovider = "east"\ndeployments = ["west"]\n')
        with run_stack(tmp_path, config=config) as s:
            oai = openai.OpenAI(base_url=s.gateway + "/v1", api_key="sk", max_retries=0)
            calls = _agents(oai, ["gpt-4o-mini"])
            rows = {a: [s.call(c) for c in ids] for a, ids in calls.items()}
            findings = doctor(s.db)
    for agent_rows in rows.values():
        assert len({r["provider"] for r in agent_rows}) == 1, "one prefix, one deployment"
        assert all(r["cached_tokens"] > 0 for r in agent_rows[1:]), "warm cache reused"
    assert {r[0]["provider"] for r in rows.values()} == {"east", "west"}, "load still spread"
    assert findings == []


def test_doctor_names_a_cache_split_over_deployments(tmp_path: Path) -> None:
    """Without affinity (two aliases alternating), each turn lands on a cold cache."""
    with _two_emulators() as (e1, e2):
        config = (f'[providers.east]\nkind = "openai"\nbase_url = "{e1}"\n'
                  f'[providers.west]\nkind = "openai"\nbase_url = "{e2}"\n'
                  '[models.mini-east]\nprovider = "east"\nmodel = "gpt-4o-mini"\n'
                  '[models.mini-west]\nprovider = "west"\nmodel = "gpt-4o-mini"\n')
        with run_stack(tmp_path, config=config) as s:
            oai = openai.OpenAI(base_url=s.gateway + "/v1", api_key="sk", max_retries=0)
            calls = _agents(oai, ["mini-east", "mini-west"])
            for ids in calls.values():
                s.call(ids[-1])
            findings = doctor(s.db)
    (missed,) = [f for f in findings if f["cause"] == "prefix_cache_missed"]
    assert set(missed["evidence"]["sessions"]) == {f"agent-{a}" for a in range(4)}
    assert missed["evidence"]["deployments"] == ["east", "west"]
    assert Decimal(missed["usd"]) > 0
    assert not [f for f in findings if f["cause"] == "prefix_cache_busted"]
