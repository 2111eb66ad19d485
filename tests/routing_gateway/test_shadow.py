"""Shadow evaluation: weak-routed calls are re-asked of the strong model, off the hot path.

With a sample rate of 1, every weak-answered call gets a strong twin: its own
ledger row (cost counted as routing overhead) and a `shadow_evals` row with
the similarity of the two answers, per task type, which is checked here
against the strong model's answer fetched from the emulator directly.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from fleetcost.routing.similarity import similarity
from tests.gateway.conftest import Stack, run_stack
from tests.routing_gateway.tiers import TWO_TIERS

CONFIG = TWO_TIERS + """
[routing]
weak = "small"
strong = "big"
policies = ["rules"]

[[routing.rules]]
name = "billing-is-strong"
task_types = ["billing"]
tier = "strong"

[[routing.rules]]
name = "rest"
tier = "weak"

[routing.shadow]
sample_rate = 1.0
agree_threshold = 0.2
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with run_stack(tmp_path_factory.mktemp("shadow"), config=CONFIG) as s:
        yield s


def shadow_rows(stack: Stack, expected: int) -> list[tuple]:
    deadline = time.monotonic() + 15
    while True:
        with contextlib.closing(sqlite3.connect(stack.db)) as conn:
            rows = conn.execute("SELECT call_id, task_type, weak_model, strong_model, "
                                "similarity, agree FROM shadow_evals").fetchall()
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_weak_calls_are_shadowed_per_task(stack: Stack) -> None:
    with openai.OpenAI(base_url=stack.gateway + "/v1", api_key="sk-test",
                       max_retries=0) as client:
        sent = ask_all(client)
    check(stack, sent)


def ask_all(client: openai.OpenAI) -> dict[str, tuple[str, str, str | None]]:
    sent = {}
    for i, task in enumerate(["faq", "faq", "triage", "billing"]):
        prompt = f"Ticket {i}: the customer asks about their order status."
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": prompt}], max_tokens=20,
            extra_headers={"X-Fleetcost-Task": task})
        assert raw.headers["x-fleetcost-route"].startswith("rules:")
        sent[raw.headers["x-fleetcost-call-id"]] = (task, prompt,
                                                    raw.parse().choices[0].message.content)
    # A streamed weak answer is shadowed too, from the stream the client received.
    prompt = "Ticket 9: the customer asks about their order status."
    with client.chat.completions.with_streaming_response.create(
            model="auto", messages=[{"role": "user", "content": prompt}], max_tokens=20,
            stream=True, extra_headers={"X-Fleetcost-Task": "triage"}) as resp:
        text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
        sent[resp.headers["x-fleetcost-call-id"]] = ("triage", prompt, text)
    return sent


def check(stack: Stack, sent: dict[str, tuple[str, str, str | None]]) -> None:
    rows = shadow_rows(stack, 4)
    assert len(rows) == 4  # the billing call went strong: nothing to shadow
    for call_id, task, weak, strong, score, agree in rows:
        want_task, prompt, weak_text = sent[call_id]
        assert (task, weak, strong) == (want_task, "gpt-4o-mini", "gpt-4o")
        direct = httpx.post(stack.emulator + "/v1/chat/completions", json={
            "model": "gpt-4o", "max_tokens": 20,
            "messages": [{"role": "user", "content": prompt}]}).json()
        expected = similarity(weak_text or "", direct["choices"][0]["message"]["content"])
        assert score == pytest.approx(round(expected, 4))
        assert bool(agree) == (expected >= 0.2)
        twin = [r for r in stack.ledger(0) if r["route_reason"] == f"shadow of {call_id}"]
        assert len(twin) == 1 and twin[0]["model"] == "gpt-4o"
        assert twin[0]["saved_usd"] == "-" + twin[0]["cost_usd"]
    assert {r[1] for r in rows} == {"faq", "triage"}
    table = httpx.get(stack.gateway + "/fleetcost/v1/routing/shadow").json()["by_task"]
    assert {task: entry["calls"] for task, entry in table.items()} == {"faq": 2, "triage": 2}
    for task, entry in table.items():
        agreed = [r[5] for r in rows if r[1] == task]
        assert entry["agreement"] == pytest.approx(sum(agreed) / len(agreed))
