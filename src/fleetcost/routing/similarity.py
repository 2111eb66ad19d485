"""How alike two answers are, for the agreement gate and shadow evaluation.

Numeric answers (arithmetic, counts, prices) agree when their final numbers
are equal, whatever the wording around them; other answers are compared by
the overlap of their word sets (Jaccard), which is cheap and needs no model.
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*")
_WORD = re.compile(r"\w+")


def final_number(text: str) -> str | None:
    found = _NUMBER.findall(text)
    return found[-1].replace(",", "") if found else None


def similarity(a: str, b: str) -> float:
    """1.0 for the same answer, 0.0 for nothing in common."""
    na, nb = final_number(a), final_number(b)
    if na is not None and nb is not None:
        return 1.0 if na == nb else 0.0
    wa, wb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    if not wa and not wb:
        return 1.0
    return len(wa & wb) / len(wa | wb)
