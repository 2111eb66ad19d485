"""Answers without usage, as some OpenAI-compatible hosts send them.

Such hosts leave the `usage` block out of a chat completion (or send it as
null) and ignore `stream_options.include_usage`, so a stream ends with its
finish chunk and `[DONE]` and nothing that says what was billed. The gateway
must then estimate rather than record a free call; this module lets the
emulator serve exactly that, either for a whole run (`--omit-usage`) or for
one request (header `X-Emulator-Usage: omit`). The answer itself is unchanged:
the same request still gets the same text, so a test can compare the
gateway's estimate with the counts the emulator knows (`/emulator/stats`).

Rendering goes through the normal dialects and the usage is taken out after,
so the wire stays what the dialect writes in every other respect.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from fleetcost.emulator.plan import Events

HEADER = b"x-emulator-usage"


def wants_omitted(run_flag: bool, headers: Iterable[tuple[bytes, bytes]]) -> bool:
    if run_flag:
        return True
    return any(name == HEADER and value.strip().lower() == b"omit" for name, value in headers)


def strip_json(body: bytes) -> bytes:
    data = orjson.loads(body)
    if isinstance(data, dict):
        _drop(data)
    return orjson.dumps(data)


def strip_events(events: Events) -> Events:
    """The same stream with every usage block removed (only head and tail carry any)."""
    return Events([_strip_event(e) for e in events.head], events.body,
                  [_strip_event(e) for e in events.tail])


def _strip_event(raw: bytes) -> bytes:
    if b'"usage"' not in raw:
        return raw
    lines = raw.split(b"\n")
    for i, line in enumerate(lines):
        if line.startswith(b"data: "):
            data = orjson.loads(line[6:])
            if isinstance(data, dict):
                _drop(data)
            lines[i] = b"data: " + orjson.dumps(data)
    return b"\n".join(lines)


def _drop(data: dict[str, Any]) -> None:
    data.pop("usage", None)
    message = data.get("message")
    if isinstance(message, dict):
        message.pop("usage", None)
