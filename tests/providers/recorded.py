"""Recorded provider payloads (tests/providers/payloads) and ways to cut them up."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def events(stream: bytes) -> list[bytes]:
    """The raw SSE events of a recorded stream, each with its blank line."""
    return [part + b"\n\n" for part in stream.split(b"\n\n") if part]


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` cut at the given offsets, as TCP reads might deliver it."""
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]
