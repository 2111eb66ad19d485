"""Budget matching, windows and their resets; guard helpers (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from fleetcost.config import BudgetConfig
from fleetcost.pipeline.budget_plan import mark_finished, mark_stream
from fleetcost.pipeline.budget_rules import applicable, compile_rules, refusal_message, to_nano
from fleetcost.pipeline.guard import last_tool_calls, tool_results
from fleetcost.pipeline.guard_state import GuardBook
from fleetcost.types import Identity

NOW = datetime(2026, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)


def _rules(*tables: dict[str, object]) -> list[BudgetConfig]:
    return [BudgetConfig.model_validate(t) for t in tables]


def test_nano_dollars_round_up() -> None:
    assert to_nano(Decimal("0.05")) == 50_000_000
    assert to_nano(Decimal("0.0000000001")) == 1
    assert to_nano(Decimal("0.00000000375")) == 4


def test_nested_scopes_each_get_a_bucket() -> None:
    rules = compile_rules(_rules(
        {"scope": "agent", "limit_usd": "1"},
        {"scope": "agent", "match": "other", "limit_usd": "1"},
        {"scope": "tenant", "match": "acme", "limit_usd": "5", "window": "month"},
        {"scope": "tag", "match": "*", "limit_tokens": 100, "window": "hour"},
        {"scope": "team", "match": "ops", "limit_usd": "2", "window": "total"},
        {"scope": "session", "limit_usd": "0.1", "window": "session"},
        {"scope": "task", "match": "refund", "limit_usd": "0.1", "window": "call"},
    ))
    ident = Identity(tenant="acme", agent_id="bot", session_id="s1", task_type="refund",
                     team="ops", tags=("a", "b"))
    keys = [a.charge.key for a in applicable(rules, ident, NOW)]
    assert keys == ["agent:*:day|bot|2026-12-31", "tenant:acme:month|acme|2026-12",
                    "tag:*:hour|a|2026-12-31T23", "tag:*:hour|b|2026-12-31T23",
                    "team:ops:total|ops|total", "session:*:session|s1|session=s1",
                    "task:refund:call|refund|call"]
    resets = [a.resets_at for a in applicable(rules, ident, NOW)]
    assert resets[0] == datetime(2027, 1, 1, tzinfo=UTC) == resets[1] == resets[2]
    assert resets[4] is None
    assert applicable(rules, Identity(), NOW) == []  # no agent, tenant "default"...


def test_refusal_names_budget_limit_window_and_reset() -> None:
    rules = compile_rules(_rules({"scope": "agent", "limit_usd": "0.05"}))
    (applied,) = applicable(rules, Identity(agent_id="bot"), NOW)
    message = refusal_message(applied, 60_000_000)
    assert message == ("budget 'agent:*:day' (agent 'bot') exceeded: limit $0.05 per day "
                       "window; this call could cost up to $0.06; resets "
                       "2027-01-01T00:00:00+00:00")


def test_duplicate_names_stay_apart() -> None:
    rules = compile_rules(_rules({"scope": "agent", "limit_usd": "1"},
                                 {"scope": "agent", "limit_usd": "2"}))
    assert [r.name for r in rules] == ["agent:*:day", "agent:*:day#2"]


def test_tool_call_fingerprints_ignore_ids_not_arguments() -> None:
    def openai(call_id: str, args: str) -> list[dict[str, object]]:
        return [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
            {"id": call_id, "function": {"name": "f", "arguments": args}}]},
            {"role": "tool", "tool_call_id": call_id, "content": "r"}]

    assert last_tool_calls(openai("a", "{}")) == last_tool_calls(openai("b", "{}"))
    assert last_tool_calls(openai("a", "{}")) != last_tool_calls(openai("a", '{"x":1}'))
    anthropic = [{"role": "assistant", "content": [
        {"type": "tool_use", "id": "t1", "name": "f", "input": {"x": 1}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]}]
    assert last_tool_calls(anthropic) is not None
    assert last_tool_calls([{"role": "assistant", "content": "plain"}]) is None
    assert tool_results(openai("a", "{}")) == 1 and tool_results(anthropic) == 1


def test_guard_book_is_bounded() -> None:
    book = GuardBook(max_sessions=3)
    for i in range(10):
        book.track(f"s{i}", float(i))
    assert len(book) == 3


def test_finish_reason_rewrites() -> None:
    assert b'"finish_reason":"budget_exceeded"' in mark_finished(
        b'{"choices":[{"finish_reason":"stop"}]}')
    assert b'"stop_reason":"budget_exceeded"' in mark_finished(b'{"stop_reason":"end_turn"}')
    chunk = b'data: {"choices":[{"delta":{},"finish_reason":"length"}]}\n\n'
    assert mark_stream(chunk) == (
        b'data: {"choices":[{"delta":{},"finish_reason":"budget_exceeded"}]}\n\n')
    assert mark_stream(b'data: {"finish_reason":null}\n\n') == b'data: {"finish_reason":null}\n\n'
