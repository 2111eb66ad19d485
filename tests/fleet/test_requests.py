"""From recorded conversations to the requests the fleet sends."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest

from fleetcost.fleet import tools
from fleetcost.fleet.plan import (
    AGENTS,
    MODEL_WIRES,
    SCENARIOS,
    STREAM_EVERY,
    Session,
    plan_sessions,
    scenario_of,
    task_type,
)
from fleetcost.fleet.trajectories import Conversation
from fleetcost.fleet.wire import call_prefixes, to_anthropic

BASELINE = SCENARIOS[0]


def _bodies(session: Session) -> list[dict[str, Any]]:
    return [orjson.loads(call.body) for call in session.calls()]


def _sessions_on(conversations: list[Conversation], model: str) -> list[Session]:
    return [
        Session(f"t/{i}", "agent", model, task_type(c), c) for i, c in enumerate(conversations)
    ]


@pytest.mark.parametrize("model", ["gpt-4o", "claude-haiku-4-5"])
def test_one_call_per_assistant_turn_with_growing_context(
    conversations: list[Conversation], model: str
) -> None:
    for session in _sessions_on(conversations, model):
        calls = list(session.calls())
        assert len(calls) == session.conversation.assistant_turns
        assert [c.stream for c in calls] == [
            i % STREAM_EVERY == STREAM_EVERY - 1 for i in range(len(calls))
        ]
        bodies = [orjson.loads(c.body) for c in calls]
        for before, after in itertools.pairwise(bodies):
            assert len(after["messages"]) > len(before["messages"])
            assert before["tools"] == after["tools"]
            assert before.get("system") == after.get("system")
        assert all(c.path == session.wire.path for c in calls)


def test_openai_prefix_is_the_recorded_history(conversations: list[Conversation]) -> None:
    session = _sessions_on(conversations[:1], "gpt-4o-mini")[0]
    recorded = session.conversation.messages
    for body in _bodies(session):
        messages = body["messages"]
        assert recorded[len(messages)]["role"] == "assistant"
        for sent, original in zip(messages, recorded, strict=False):
            assert sent["role"] == original["role"]
            expected = original["content"]
            if sent["role"] == "tool":
                expected = expected or ""
                assert "name" not in sent
            assert sent["content"] == expected
        assert body["model"] == "gpt-4o-mini"
        assert {t["function"]["name"] for t in body["tools"]} == set(tools.tool_names())


def _check_anthropic(system: list[dict[str, Any]], turns: list[dict[str, Any]]) -> None:
    assert system[-1]["cache_control"] == {"type": "ephemeral"}
    assert turns[0]["role"] == "user"
    assert turns[-1]["role"] == "user"
    for a, b in itertools.pairwise(turns):
        assert a["role"] != b["role"]
    breakpoints = sum("cache_control" in b for t in turns for b in t["content"])
    assert breakpoints == 1
    assert "cache_control" in turns[-1]["content"][-1]
    for index, turn in enumerate(turns):
        for block in turn["content"]:
            if block["type"] == "text":
                assert block["text"].strip()
        uses = [b["id"] for b in turn["content"] if b["type"] == "tool_use"]
        if uses:
            answer = turns[index + 1]["content"]
            results = [b["tool_use_id"] for b in answer if b["type"] == "tool_result"]
            assert results == uses
            assert answer[0]["type"] == "tool_result"
        if turn["role"] == "user":
            previous = turns[index - 1]["content"] if index else []
            used = {b["id"] for b in previous if b["type"] == "tool_use"}
            for block in turn["content"]:
                if block["type"] == "tool_result":
                    assert block["tool_use_id"] in used


def test_anthropic_conversion_alternates_and_pairs_tools(
    conversations: list[Conversation],
) -> None:
    for conversation in conversations:
        prefixes = list(call_prefixes(conversation.messages))
        for prefix in (prefixes[-1], list(conversation.messages)):
            if prefix[-1]["role"] == "assistant":
                continue
            system, turns = to_anthropic(prefix)
            assert system[0]["text"] == conversation.messages[0]["content"]
            _check_anthropic(system, turns)


def test_anthropic_body_carries_max_tokens_and_tool_input_objects(
    conversations: list[Conversation],
) -> None:
    session = _sessions_on(conversations[:3], "claude-sonnet-4-6")[2]
    bodies = _bodies(session)
    assert all(b["max_tokens"] > 0 for b in bodies)
    names = {t["name"] for t in bodies[0]["tools"]}
    for block in (b for t in bodies[-1]["messages"] for b in t["content"]):
        if block["type"] == "tool_use":
            assert isinstance(block["input"], dict)
            assert block["name"] in names


def test_tool_schemas_fit_every_recorded_call(conversations: list[Conversation]) -> None:
    schemas = {t["name"]: t["input_schema"] for t in tools.anthropic_tools()}
    for conversation in conversations:
        for message in conversation.messages:
            for call in message.get("tool_calls") or ():
                schema = schemas[call["function"]["name"]]
                arguments = orjson.loads(call["function"]["arguments"])
                assert set(schema["required"]) <= set(arguments)
                assert set(arguments) <= set(schema["properties"])


def test_sessions_spread_over_agents_and_models(conversations: list[Conversation]) -> None:
    sessions = plan_sessions(conversations, 8, BASELINE)
    assert {s.agent for s in sessions} == {a.name for a in AGENTS}
    assert {s.model for s in sessions} == set(MODEL_WIRES)
    assert plan_sessions(conversations, 8, BASELINE) == sessions
    for session in sessions:
        assert scenario_of(session.session_id) == BASELINE.name
        headers = session.headers(BASELINE)
        assert headers["X-Fleetcost-Agent"] == session.agent
        assert headers["X-Fleetcost-Session"] == session.session_id
        assert headers["X-Fleetcost-Task"] == session.task_type
        assert headers["X-Fleetcost-Tenant"]
    assert scenario_of(None) is None
    assert scenario_of("no-prefix") is None


def test_task_type_reads_the_expected_actions() -> None:
    def conv(*actions: str) -> Conversation:
        return Conversation(0, 0, (), actions)

    assert task_type(conv()) == "inquiry"
    assert task_type(conv("get_user_details", "book_reservation")) == "booking"
    assert task_type(conv("update_reservation_flights")) == "change"
    assert task_type(conv("cancel_reservation", "book_reservation")) == "cancellation"
