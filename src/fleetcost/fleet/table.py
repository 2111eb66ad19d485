"""Totals of ledger rows, grouped by a key, and their text and JSON forms.

Money is summed as `Decimal` from the ledger's decimal strings, so a table's
total is exactly the sum of its rows and of the calls under them; nothing is
rounded until it is printed, and not even then. A call without a price
(`cost_usd` null) is counted apart rather than as $0, so an unpriced model
shows up as such instead of looking free.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

NO_KEY = "(none)"


@dataclass(frozen=True, slots=True)
class Totals:
    key: str
    calls: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    unpriced_calls: int = 0

    def add(self, row: Mapping[str, Any]) -> Totals:
        cost = row.get("cost_usd")
        return Totals(
            key=self.key,
            calls=self.calls + 1,
            input_tokens=self.input_tokens + int(row.get("input_tokens") or 0),
            cached_tokens=self.cached_tokens + int(row.get("cached_tokens") or 0),
            output_tokens=self.output_tokens + int(row.get("output_tokens") or 0),
            cost_usd=self.cost_usd + (Decimal(str(cost)) if cost is not None else Decimal(0)),
            unpriced_calls=self.unpriced_calls + (1 if cost is None else 0),
        )

    def merge(self, other: Totals, key: str) -> Totals:
        return Totals(
            key=key,
            calls=self.calls + other.calls,
            input_tokens=self.input_tokens + other.input_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
            unpriced_calls=self.unpriced_calls + other.unpriced_calls,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "cached_tokens": self.cached_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": money(self.cost_usd),
            "unpriced_calls": self.unpriced_calls,
        }


def aggregate(rows: Iterable[Mapping[str, Any]], key: str) -> list[Totals]:
    """One `Totals` per distinct value of `row[key]`, sorted by that value."""
    groups: dict[str, Totals] = {}
    for row in rows:
        name = str(row.get(key) or NO_KEY)
        groups[name] = groups.get(name, Totals(name)).add(row)
    return [groups[name] for name in sorted(groups)]


def grand_total(groups: Iterable[Totals], key: str = "total") -> Totals:
    total = Totals(key)
    for group in groups:
        total = total.merge(group, key)
    return total


def money(value: Decimal) -> str:
    """Plain decimal notation, never an exponent (`Decimal('1E-7')` prints as 0.0000001)."""
    return format(value, "f")


def render(groups: Sequence[Totals], key_header: str, total: Totals | None = None) -> str:
    """A fixed-width text table, with a totals row under a rule."""
    total = total if total is not None else grand_total(groups)
    places = max(_places(t.cost_usd) for t in [*groups, total])
    header = (key_header, "calls", "input", "cached", "output", "cost USD")
    lines = [_cells(g, places) for g in groups]
    last = _cells(total, places)
    widths = [max(len(r[i]) for r in [header, *lines, last]) for i in range(len(header))]
    out = [_line(header, widths), _rule(widths)]
    out += [_line(cells, widths) for cells in lines]
    out += [_rule(widths), _line(last, widths)]
    return "\n".join(out)


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _cells(t: Totals, places: int) -> tuple[str, ...]:
    # Padding every cost to the column's most decimal places lines the points
    # up without rounding anything: only zeros are added.
    cost = f"${t.cost_usd:.{places}f}"
    if t.unpriced_calls:
        cost += f" (+{t.unpriced_calls} unpriced)"
    return (
        t.key, f"{t.calls:,}", f"{t.input_tokens:,}", f"{t.cached_tokens:,}",
        f"{t.output_tokens:,}", cost,
    )


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    first = cells[0].ljust(widths[0])
    rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
    return "  ".join([first, *rest]).rstrip()


def _rule(widths: Sequence[int]) -> str:
    return "  ".join("-" * w for w in widths)
