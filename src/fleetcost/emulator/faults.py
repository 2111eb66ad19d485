"""Which requests fail, decided so that a run can be replayed.

A fault is drawn from a hash of (seed, request digest, how many times this
exact request has been seen), not from one shared random stream. A shared
stream would make the fault depend on the order in which concurrent requests
happen to arrive; this way the same set of requests meets the same faults
however they interleave, and a client's retry of a failed request (its
second occurrence) gets a fresh draw instead of failing forever.

Kinds: a status (429 with `retry-after`, 500, 502, 503, 529) answered before
any work; `timeout` hangs, then answers normally if the client is still
there; `cut-stream` closes a streamed answer's connection after some of its
events (it applies to streamed requests only: a non-streamed request that
draws it is answered normally).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    # Seeded from the same draw, for choices the fault makes later (where to cut).
    rng: random.Random


class FaultDraw:
    def __init__(self, seed: int, faults: tuple[tuple[str, float], ...],
                 max_tracked: int = 200_000) -> None:
        self._seed = seed.to_bytes(8, "big", signed=True)
        self._faults = faults
        self._seen: dict[bytes, int] = {}
        self._max = max_tracked

    @property
    def enabled(self) -> bool:
        return bool(self._faults)

    def draw(self, digest: bytes) -> Fault | None:
        occurrence = self._seen.get(digest, 0)
        if occurrence == 0 and len(self._seen) >= self._max:
            del self._seen[next(iter(self._seen))]
        self._seen[digest] = occurrence + 1
        mixed = hashlib.blake2b(
            digest + occurrence.to_bytes(8, "big"), key=self._seed, digest_size=16
        ).digest()
        point = int.from_bytes(mixed[:8], "big") / 2**64
        edge = 0.0
        for kind, rate in self._faults:
            edge += rate
            if point < edge:
                return Fault(kind, random.Random(mixed[8:]))
        return None

    def reset(self) -> None:
        self._seen.clear()
