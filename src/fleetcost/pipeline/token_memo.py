"""Prompt counts that reuse what earlier calls already counted.

An agent resends its whole history every turn, so nearly every message of a
prompt was counted on the previous call; tokenizing them again was most of
the budget stage's time (0.3-0.4 ms for a 2-8 KB prompt). Each message (and
the system prompt with the tool schemas) is counted alone once and kept,
keyed by a hash of its JSON and the model, in a bounded least-recently-used
memo owned by the app context.

Counting parts alone is conservative: each part's count carries the reply
priming, which is taken off once per part (3 tokens, exact) but whose
slack stays in that part's upper bound, and each part is rounded up on its
own. So the sum's `upper_bound` is never below the whole prompt's.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from fleetcost.pricing.tokens import REPLY_PRIMING, TokenCount, count_messages

_NO_SYSTEM = b"\x00"


class TokenMemo:
    def __init__(self, max_entries: int = 50_000) -> None:
        self._parts: OrderedDict[bytes, tuple[int, int, str]] = OrderedDict()
        self._max = max_entries
        self.hits = 0
        self.misses = 0

    def _part(self, key: bytes, count: Any) -> tuple[int, int, str]:
        found = self._parts.get(key)
        if found is not None:
            self._parts.move_to_end(key)
            self.hits += 1
            return found
        self.misses += 1
        counted: TokenCount = count()
        value = (counted.tokens - REPLY_PRIMING, counted.upper_bound - REPLY_PRIMING,
                 counted.encoding)
        self._parts[key] = value
        if len(self._parts) > self._max:
            self._parts.popitem(last=False)
        return value

    def count(self, messages: Sequence[Mapping[str, Any]], model: str,
              tools: Sequence[Mapping[str, Any]] | None, system: Any) -> TokenCount:
        tokens = upper = REPLY_PRIMING
        encoding = ""
        prefix = model.encode() + b"\x00"
        if tools or system:
            head = orjson.dumps([system, tools], option=orjson.OPT_SORT_KEYS)
            t, u, encoding = self._part(
                _key(prefix, head), lambda: count_messages([], model, tools=tools, system=system))
            tokens, upper = tokens + t, upper + u
        for message in messages:
            body = orjson.dumps(message, option=orjson.OPT_SORT_KEYS)
            t, u, encoding = self._part(_key(prefix, body),
                                        lambda m=message: count_messages([m], model))
            tokens, upper = tokens + t, upper + u
        bound = (upper - tokens) / tokens if tokens else 0.0
        # A hair over, so float rounding in `upper_bound` cannot land below `upper`.
        return TokenCount(tokens, encoding, upper == tokens, bound * (1 + 1e-9) + 1e-12)


def _key(prefix: bytes, body: bytes) -> bytes:
    return hashlib.blake2b(prefix + body, digest_size=16).digest()
