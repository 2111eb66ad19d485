"""Session affinity: keep a session on the deployment that answered it last.

A provider's prefix cache lives in one deployment: a session whose growing
context is cached there pays the cache-read rate only as long as its calls
keep going there. When a plan lists several deployments (a model and its
fallbacks), the one that last answered the session goes first, unless it is
cooling down. Memory is bounded: the least recently seen sessions are
forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from fleetcost.routing.base import Candidate


class Affinity:
    def __init__(self, max_sessions: int = 50_000) -> None:
        self._max = max_sessions
        self._last: OrderedDict[str, str] = OrderedDict()

    def remember(self, session: str | None, key: str) -> None:
        if not session or self._max <= 0:
            return
        self._last[session] = key
        self._last.move_to_end(session)
        if len(self._last) > self._max:
            self._last.popitem(last=False)

    def order(self, session: str | None, candidates: Sequence[Candidate]) -> list[Candidate]:
        key = self._last.get(session) if session else None
        if key is None or len(candidates) < 2 or candidates[0].key == key:
            return list(candidates)
        sticky = [c for c in candidates if c.key == key]
        return sticky + [c for c in candidates if c.key != key]
