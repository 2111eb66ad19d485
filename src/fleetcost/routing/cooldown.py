"""Per-deployment cooldowns: a deployment that just failed is skipped for a while.

After a 429, a 5xx or a timeout, sending the next call to the same deployment
mostly earns the same error and its latency; the plan's next deployment is
tried first until the cooldown ends. A plan whose every deployment is cooling
down is tried in its own order anyway: a slow answer beats none.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from fleetcost.routing.base import Candidate


class Cooldowns:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._until: dict[str, float] = {}

    def fail(self, candidate: Candidate) -> None:
        if self._seconds > 0:
            self._until[candidate.key] = self._clock() + self._seconds

    def cooling(self, candidate: Candidate) -> bool:
        until = self._until.get(candidate.key)
        if until is None:
            return False
        if until <= self._clock():
            del self._until[candidate.key]
            return False
        return True

    def order(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        """Ready deployments first, in plan order; cooling ones after them."""
        if not self._until:
            return list(candidates)
        ready = [c for c in candidates if not self.cooling(c)]
        return ready + [c for c in candidates if c not in ready]
