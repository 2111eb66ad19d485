"""Numbers as values, however they are written: "eleven" and "11" are one detail.

Why: the guard refuses a hit whose numbers differ, and a restatement often
spells a number the other side writes in digits ("hold the button for five
seconds" / "for 5 seconds"); compared as words, those were refused as if the
number had changed. Runs of number words are read as one value ("twenty-five",
"two hundred and five", "3 million"); ordinals keep their own form ("first"
and "1st" agree, "first" and "1" do not). "one" and "second" count only next
to another number word, as they are more often a pronoun or a unit of time.
"""

from __future__ import annotations

import re

_UNITS = {w: i for i, w in enumerate((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen", "nineteen"))}
_TENS = {w: 10 * (i + 2) for i, w in enumerate((
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"))}
_SCALES = {"hundred": 100, "thousand": 10**3, "million": 10**6, "billion": 10**9,
           "trillion": 10**12}
_ORDINALS = {w: i + 1 for i, w in enumerate((
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
    "tenth"))}
WORDS = frozenset({*_UNITS, *_TENS, *_SCALES, *_ORDINALS, "half", "double", "triple"})
_AMBIGUOUS = frozenset({"one", "second"})
_LINKS = frozenset({"or", "to", "and"})
_DIGIT_ORDINAL = re.compile(r"(\d+)(?:st|nd|rd|th)$")


def _valued(low: str) -> bool:
    return low in _UNITS or low in _TENS or low in _SCALES


def is_number(tokens: list[str], pos: int) -> bool:
    """Whether tokens[pos] is part of a number (digits, or a number word in use)."""
    tok = tokens[pos]
    if tok[0].isdigit():
        return True
    low = tok.lower()
    if low not in WORDS:
        return False
    if low not in _AMBIGUOUS:
        return True
    near = [tokens[i].lower() for i in (pos - 1, pos + 1) if 0 <= i < len(tokens)]
    near += [tokens[i + j].lower() for i, j in ((pos - 1, -1), (pos + 1, 1))
             if 0 <= i + j < len(tokens) and tokens[i].lower() in _LINKS]  # "one or two"
    return any((n in WORDS and n not in _AMBIGUOUS) or n[:1].isdigit() for n in near)


def values(tokens: list[str], numeric: list[bool] | None = None) -> set[str]:
    """The canonical numbers of a token list (as guard._WORD splits a text);
    `numeric` is is_number per token, when the caller has it already."""
    if numeric is None:
        numeric = [is_number(tokens, i) for i in range(len(tokens))]
    out: set[str] = set()
    run: list[str] = []
    for pos, tok in enumerate([*tokens, ""]):
        low = tok.lower()
        joins = low == "and" and run and run[-1].lower() in _SCALES
        if tok and (joins or numeric[pos]):
            run.append(tok)
            continue
        out |= _read(run)
        run = []
    return out


def _read(run: list[str]) -> set[str]:
    """Values of one run of adjacent number tokens."""
    out: set[str] = set()
    total, current, started = 0, 0, False

    def flush() -> None:
        nonlocal total, current, started
        if started:
            out.add(str(total + current))
        total, current, started = 0, 0, False

    for tok in run:
        low = tok.lower().replace(",", "")
        if low == "and":
            continue
        ordinal = _DIGIT_ORDINAL.match(low)
        if ordinal or low in _ORDINALS:
            flush()
            out.add(f"#{ordinal.group(1) if ordinal else _ORDINALS[low]}")
        elif low.isdigit():
            flush()
            current, started = int(low), True
        elif low[:1].isdigit():  # 1.5, 10:30, 3/4: compared as written
            flush()
            out.add(low)
        elif low in _SCALES:
            if _SCALES[low] == 100:
                current = max(current, 1) * 100
            else:
                total += max(current, 1) * _SCALES[low]
                current = 0
            started = True
        elif _valued(low):
            if started and current % 100 and (current % 10 or low in _TENS or
                                              _UNITS.get(low, 0) >= 10):
                flush()  # "five six" or "twenty thirty": two numbers, not one
            current += _UNITS.get(low, 0) + _TENS.get(low, 0)
            started = True
        else:  # half, double, triple
            flush()
            out.add(low)
    flush()
    return out
