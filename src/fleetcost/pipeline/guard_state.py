"""What the guards remember about each session, bounded.

One `SessionTrack` per session (or per agent, for agents that send no
session id): when it started, how many steps it took, the fingerprints of
its recent requests and tool calls with their times, and the prompt-size
trend. `GuardBook` keeps them in least-recently-seen order and drops the
oldest past `max_sessions`, and each track keeps at most `RECENT` events, so
a fleet of any size uses bounded memory.

The book lives in the app context (`GatewayContext.guard_book`), per
process: a replica sees the steps that reached it. Behind a load balancer
with session affinity that is the whole session; without it, the same
methods map onto Redis (a sorted set of fingerprints per session scored by
time, `ZCOUNT` over the window, and a hash for steps and start), which is
the intended scale-out backend.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

RECENT = 256


@dataclass(slots=True)
class SessionTrack:
    started: float
    steps: int = 0
    events: deque[tuple[float, bytes]] = field(default_factory=lambda: deque(maxlen=RECENT))
    last_prompt: int = 0
    last_tool_results: int = 0
    growth: int = 0

    def repeats(self, fingerprint: bytes, since: float) -> int:
        return sum(1 for ts, fp in self.events if fp == fingerprint and ts >= since)


class GuardBook:
    def __init__(self, max_sessions: int) -> None:
        self._tracks: OrderedDict[str, SessionTrack] = OrderedDict()
        self._max = max_sessions

    def track(self, key: str, now: float) -> SessionTrack:
        found = self._tracks.get(key)
        if found is None:
            found = self._tracks[key] = SessionTrack(started=now)
            if len(self._tracks) > self._max:
                self._tracks.popitem(last=False)
        else:
            self._tracks.move_to_end(key)
        return found

    def __len__(self) -> int:
        return len(self._tracks)
