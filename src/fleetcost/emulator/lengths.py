"""Recorded output lengths, for replaying traffic faithfully.

Counterfactual replay (`fleetcost replay`) must bill each call's answer at
the length it had when it was recorded, or the comparison of two policies
would rest on the emulator's own length distribution. Before a replay the
client posts a table of prompt key -> output tokens to `POST
/emulator/lengths` (`{"lengths": {"<key>": 123, ...}}`, replacing any earlier
table); a request whose prompt has a key in the table is answered with plain
text of exactly that many tokens (within its `max_tokens`), instead of the
sampled length or a tool call: the bill depends on the count, not the kind.

The key covers only the prompt (`system` and `messages`), not the model or
delivery fields, so it survives what a gateway changes on the way (routing
to another model, usage options on streams). A gateway stage that rewrites
the prompt itself (compression) changes the key, and those calls fall back
to the sampled length. With no table posted, nothing here runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from fleetcost.errors import BadRequest

LENGTHS_PATH = "/emulator/lengths"


def prompt_key(body: Mapping[str, Any]) -> str:
    prompt = {"system": body.get("system"), "messages": body.get("messages")}
    return hashlib.sha256(orjson.dumps(prompt, option=orjson.OPT_SORT_KEYS)).hexdigest()


class ForcedLengths:
    """The posted table; empty (and free) unless a replay posted one."""

    def __init__(self) -> None:
        self._table: dict[str, int] = {}

    def __bool__(self) -> bool:
        return bool(self._table)

    def replace(self, raw: bytes) -> int:
        try:
            doc = orjson.loads(raw)
            table = doc["lengths"]
            parsed = {str(k): int(v) for k, v in table.items()}
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
            raise BadRequest("expected {\"lengths\": {\"<prompt key>\": tokens, ...}}",
                             param="lengths") from exc
        if any(v < 1 for v in parsed.values()):
            raise BadRequest("every forced length must be at least 1 token", param="lengths")
        self._table = parsed
        return len(parsed)

    def lookup(self, raw: bytes) -> int | None:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return self._table.get(prompt_key(body)) if isinstance(body, dict) else None
