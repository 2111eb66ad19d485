"""Totals of ledger rows: exact sums, unpriced calls apart, and the printed table."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from fleetcost.cli.demo import Progress
from fleetcost.fleet.table import Totals, aggregate, grand_total, money, render


def _row(agent: str | None, model: str, cost: str | None, inp: int = 100, cached: int = 0,
         out: int = 10) -> dict[str, Any]:
    return {"agent_id": agent, "model": model, "cost_usd": cost, "input_tokens": inp,
            "cached_tokens": cached, "output_tokens": out}


ROWS = [
    _row("booking", "gpt-4o", "0.1", inp=1000, cached=512, out=20),
    _row("booking", "claude-haiku-4-5", "0.2", inp=2000, cached=0, out=30),
    _row("triage", "gpt-4o", "0.000000001", inp=10, out=1),
    _row("triage", "mystery-model", None, inp=7, out=3),
    _row(None, "gpt-4o", "0.7"),
]


def test_sums_are_exact_decimals() -> None:
    groups = aggregate(ROWS, "agent_id")
    assert [g.key for g in groups] == ["(none)", "booking", "triage"]
    booking = groups[1]
    # 0.1 + 0.2 is 0.3 exactly, as it never is in floating point.
    assert booking.cost_usd == Decimal("0.3")
    assert (booking.calls, booking.input_tokens, booking.cached_tokens) == (2, 3000, 512)
    triage = groups[2]
    assert triage.cost_usd == Decimal("0.000000001")
    assert triage.unpriced_calls == 1
    assert triage.calls == 2


def test_totals_row_equals_the_sum_of_every_row_by_any_key() -> None:
    by_agent = grand_total(aggregate(ROWS, "agent_id"))
    by_model = grand_total(aggregate(ROWS, "model"))
    assert by_agent == by_model
    assert by_agent.cost_usd == Decimal("1.000000001")
    assert by_agent.calls == len(ROWS)
    assert by_agent.unpriced_calls == 1
    assert by_agent.input_tokens == sum(int(r["input_tokens"]) for r in ROWS)


def test_json_prints_money_as_plain_decimal_strings() -> None:
    tiny = Totals("x", calls=1, cost_usd=Decimal("1E-9"))
    assert tiny.as_json()["cost_usd"] == "0.000000001"
    assert money(Decimal("12.50")) == "12.50"
    assert grand_total([]).as_json() == {
        "key": "total", "calls": 0, "input_tokens": 0, "cached_tokens": 0,
        "output_tokens": 0, "cost_usd": "0", "unpriced_calls": 0,
    }


def test_render_aligns_columns_and_ends_with_the_total() -> None:
    text = render(aggregate(ROWS, "model"), "model")
    lines = text.splitlines()
    assert lines[0].split() == ["model", "calls", "input", "cached", "output", "cost", "USD"]
    assert set(lines[1]) == {"-", " "}
    assert lines[-1].startswith("total")
    assert lines[-1].endswith("$1.000000001 (+1 unpriced)")
    assert "mystery-model" in text
    gpt = next(line for line in lines if line.startswith("gpt-4o"))
    assert gpt.split()[1:] == ["3", "1,110", "512", "31", "$0.800000001"]
    # Right-aligned numbers: every "calls" cell ends in the same column.
    header_end = lines[0].index("calls") + len("calls")
    for line in lines[2:-2]:
        assert line[header_end - 1].isdigit()


def test_progress_draws_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    quiet, tty = io.StringIO(), Tty()
    for stream in (quiet, tty):
        progress = Progress("replaying", 3, stream)
        for _ in range(3):
            progress.advance()
    assert quiet.getvalue() == ""
    assert tty.getvalue().startswith("\rreplaying: 1/3 calls")
    assert tty.getvalue().endswith("\rreplaying: 3/3 calls\n")


def test_render_pads_costs_to_one_decimal_point_without_rounding() -> None:
    rows = [_row("a", "m", "0.5"), _row("b", "m", "0.125"), _row("c", "m", "2")]
    lines = render(aggregate(rows, "agent_id"), "agent").splitlines()
    costs = [line.split()[-1] for line in lines[2:5]] + [lines[-1].split()[-1]]
    assert costs == ["$0.500", "$0.125", "$2.000", "$2.625"]
    assert len({line.index(".", len(line) - 7) for line in lines[2:5]}) == 1
