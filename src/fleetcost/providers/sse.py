"""Server-sent events: incremental decoding and encoding.

Both providers stream `text/event-stream`. Events are separated by a blank
line; TCP reads do not respect that boundary, so the decoder buffers until a
whole event has arrived and hands back the event's raw bytes with its parsed
`event:` and `data:` fields. Forwarding raw bytes (rather than re-encoding)
keeps the stream the client sees byte-identical to the provider's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SSEEvent:
    raw: bytes
    event: str | None
    data: bytes


def encode_event(data: bytes, event: str | None = None) -> bytes:
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


class SSEDecoder:
    """Feed bytes, get complete events back; a partial event waits for more."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        return split_events(self.take_complete(chunk))

    def take_complete(self, chunk: bytes) -> bytes:
        """Buffer `chunk`; return every complete event so far as one block of bytes.

        Taps that can tell from a few byte scans that a block holds nothing
        they track forward it without splitting it into events at all.
        """
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        end = buf.rfind(b"\n\n")
        if end < 0:
            self._buf = buf
            return b""
        self._buf = buf[end + 2 :]
        return buf[: end + 2]

    def flush(self) -> list[SSEEvent]:
        """Whatever is left when the stream ends (a final event without its blank line)."""
        rest, self._buf = self._buf, b""
        if rest.strip():
            return [_parse(rest if rest.endswith(b"\n") else rest + b"\n")]
        return []


def split_events(block: bytes) -> list[SSEEvent]:
    """Split a block of complete events (as from `take_complete`)."""
    events: list[SSEEvent] = []
    start = 0
    while True:
        end = block.find(b"\n\n", start)
        if end < 0:
            return events
        events.append(_parse(block[start : end + 2]))
        start = end + 2


def _parse(raw: bytes) -> SSEEvent:
    # Fast paths for the two shapes providers actually send: a lone `data:`
    # line (OpenAI) and `event:` + `data:` (Anthropic). They skip the general
    # line loop, which dominated the per-event cost of relaying a stream.
    end = len(raw) - 2
    if raw.startswith(b"data: ") and raw.find(b"\n", 6) == end:
        return SSEEvent(raw=raw, event=None, data=raw[6:end])
    if raw.startswith(b"event: "):
        nl = raw.find(b"\n", 7)
        if raw.startswith(b"data: ", nl + 1) and raw.find(b"\n", nl + 7) == end:
            return SSEEvent(raw=raw, event=raw[7:nl].strip().decode(), data=raw[nl + 7 : end])
    return _parse_general(raw)


def _parse_general(raw: bytes) -> SSEEvent:
    event: str | None = None
    data_lines: list[bytes] = []
    for line in raw.split(b"\n"):
        if line.startswith(b"data:"):
            value = line[5:]
            data_lines.append(value[1:] if value.startswith(b" ") else value)
        elif line.startswith(b"event:"):
            event = line[6:].strip().decode()
    return SSEEvent(raw=raw, event=event, data=b"\n".join(data_lines))
