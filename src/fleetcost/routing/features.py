"""Cheap text features of a prompt, computed in pure Python in well under a millisecond.

A router runs on every request, so its features must cost less than the
decision is worth. Two kinds:

- a handful of dense numbers (log length, digits, lines, code, choices...),
  standardised with the training split's mean and spread;
- hashed words and word pairs: each is a bucket `crc32(token) % dim`
  (crc32, not Python's salted `hash`, so a router file means the same thing
  in every process), weighted 1/sqrt(number of tokens) so long prompts do not
  dominate the dot product. The buckets carry the topic of a prompt, which is
  what tells "the cheap model knows this subject" from "it does not".

Both are described in the router file (`FeatureSpec`) so that an old file
keeps working when the defaults change.
"""

from __future__ import annotations

import itertools
import math
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass

_WORD = re.compile(r"[a-z0-9]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CHOICE = re.compile(r"^\s*[A-D][.)]\s", re.M)
_MATH = re.compile(r"[=+*/^<>%$]")
_CODE = re.compile(r"```|\bdef |\breturn\b|[{};]\s*$", re.M)


def _n_chars(t: str) -> float:
    return math.log1p(len(t))


def _n_words(t: str) -> float:
    return math.log1p(len(t.split()))


def _n_lines(t: str) -> float:
    return math.log1p(t.count("\n"))


def _n_numbers(t: str) -> float:
    return math.log1p(len(_NUMBER.findall(t)))


def _digit_share(t: str) -> float:
    return sum(c.isdigit() for c in t) / max(1, len(t))


def _n_math(t: str) -> float:
    return math.log1p(len(_MATH.findall(t)))


def _n_questions(t: str) -> float:
    return math.log1p(t.count("?"))


def _n_choices(t: str) -> float:
    return float(len(_CHOICE.findall(t)))


def _has_code(t: str) -> float:
    return 1.0 if _CODE.search(t) else 0.0


def _upper_share(t: str) -> float:
    return sum(c.isupper() for c in t) / max(1, len(t))


NUMERIC: dict[str, Callable[[str], float]] = {
    "log_chars": _n_chars,
    "log_words": _n_words,
    "log_lines": _n_lines,
    "log_numbers": _n_numbers,
    "digit_share": _digit_share,
    "log_math_symbols": _n_math,
    "log_question_marks": _n_questions,
    "choices": _n_choices,
    "has_code": _has_code,
    "upper_share": _upper_share,
}


@dataclass(frozen=True)
class FeatureSpec:
    """What a router's weights are weights of; stored in the router file."""

    numeric: tuple[str, ...] = tuple(NUMERIC)
    hash_dim: int = 1024
    bigrams: bool = True

    @property
    def width(self) -> int:
        return len(self.numeric) + self.hash_dim

    @classmethod
    def candidates(cls) -> tuple[FeatureSpec, ...]:
        """From the simplest to the richest; training keeps the one that
        cross-validates best, so a small data set falls back to the length
        alone instead of fitting noise."""
        return (cls(("log_chars",), 0, False), cls(hash_dim=0, bigrams=False), cls())

    def to_dict(self) -> dict[str, object]:
        return {"kind": "text-v1", "numeric": list(self.numeric),
                "hash_dim": self.hash_dim, "bigrams": self.bigrams}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> FeatureSpec:
        if data.get("kind") != "text-v1":
            raise ValueError(f"unknown feature kind {data.get('kind')!r}")
        names = tuple(str(n) for n in data["numeric"])  # type: ignore[attr-defined]
        unknown = [n for n in names if n not in NUMERIC]
        if unknown:
            raise ValueError(f"unknown numeric features {unknown}")
        return cls(names, int(data["hash_dim"]), bool(data["bigrams"]))  # type: ignore[call-overload]


def numeric(text: str, spec: FeatureSpec) -> list[float]:
    return [NUMERIC[name](text) for name in spec.numeric]


def hashed(text: str, spec: FeatureSpec) -> dict[int, float]:
    """Bucket -> weight of the words (and word pairs) of `text`."""
    if not spec.hash_dim:
        return {}
    words = _WORD.findall(text.lower())
    tokens = list(words)
    if spec.bigrams:
        tokens += [f"{a} {b}" for a, b in itertools.pairwise(words)]
    if not tokens:
        return {}
    weight = 1.0 / math.sqrt(len(tokens))
    out: dict[int, float] = {}
    for tok in tokens:
        bucket = zlib.crc32(tok.encode()) % spec.hash_dim
        out[bucket] = out.get(bucket, 0.0) + weight
    return out
