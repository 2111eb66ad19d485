"""What broke a shared prefix: the differing span of two texts, named and redacted.

When two successive prompts of a session stop sharing a prefix inside a
stable block (a tool schema or the system prompt), the text that differs
usually has a recognisable shape: a clock reading, a UUID, a counter. The
span is widened to the whole token-like run around the change (so a changed
second shows as the full timestamp), classified by its shape, and kept only
as a redacted snippet (digits become 9, letters a/A): enough to recognise
the pattern in a report, never the content itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SNIPPET_CHARS = 48
# A run of characters that belong to one value (dates, ids, numbers, words).
_VALUE = re.compile(r"[0-9A-Za-z_.:+\-/]")
# Shape -> name, first match wins (most specific first).
SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ISO timestamp", re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}")),
    ("UUID", re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                        r"[0-9a-fA-F]{12}")),
    ("date", re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}")),
    ("time of day", re.compile(r"\b\d{1,2}:\d{2}(:\d{2})?")),
    ("unix timestamp", re.compile(r"\b1[5-9]\d{8}(\d{3}|\d{6})?\b")),
    ("random id", re.compile(r"[0-9a-fA-F]{16,}|[A-Za-z0-9_\-]{20,}")),
    ("counter", re.compile(r"^\d+$")),
)


@dataclass(frozen=True, slots=True)
class Span:
    start: int  # characters shared before the change
    kind: str
    snippet: str


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    while start > 0 and _VALUE.match(text[start - 1]):
        start -= 1
    while end < len(text) and _VALUE.match(text[end]):
        end += 1
    return start, end


def redact(text: str) -> str:
    out = []
    for ch in text[:SNIPPET_CHARS]:
        if ch.isdigit():
            out.append("9")
        elif ch.isalpha():
            out.append("A" if ch.isupper() else "a")
        elif ch in "\n\r\t":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def differing_span(old: str, new: str, fallback: str) -> Span:
    """Where `new` departs from `old`, and what the changed value looks like."""
    limit = min(len(old), len(new))
    start = 0
    while start < limit and old[start] == new[start]:
        start += 1
    tail = 0
    while tail < limit - start and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    lo, hi = _widen(new, start, len(new) - tail)
    value = new[lo:hi]
    old_lo, old_hi = _widen(old, start, len(old) - tail)
    kind = classify(value, old[old_lo:old_hi]) or fallback
    return Span(start, kind, redact(value))


def classify(value: str, old: str) -> str | None:
    for name, pattern in SHAPES:
        if name == "counter":
            if pattern.match(value) and pattern.match(old):
                return name
        elif pattern.search(value):
            return name
    return None
