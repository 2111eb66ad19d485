"""Cache affinity: requests sharing a stable prefix stick to one deployment.

A provider's prefix cache lives with the deployment (key, account, region)
that served the prompt. When a model alias is served by several deployments
(`[models.ALIAS] deployments = [...]`), spreading a fleet's requests over
them evenly keeps N cold caches instead of one warm one. The table here
maps (tenant, model, stable-prefix hash) to the deployment that last served
it, for as long as the provider keeps a cache entry alive (its TTL,
refreshed on every use, as the providers refresh theirs). New prefixes go
round-robin, so load still spreads by prefix. The table is bounded, oldest
entries out first, and owned by the app's context.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from fleetcost.pricing.prefix_rules import tracker_bounds


class Affinity:
    def __init__(self, max_entries: int | None = None) -> None:
        self._max = max_entries or tracker_bounds().affinity_entries
        self._table: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._turn = 0

    def __len__(self) -> int:
        return len(self._table)

    def choose(self, key: str | None, candidates: Sequence[str], ttl: float,
               now: float) -> tuple[str, bool]:
        """(deployment, whether it came from the table)."""
        if key is not None:
            held = self._table.pop(key, None)
            if held is not None and held[1] > now and held[0] in candidates:
                self._table[key] = (held[0], now + ttl)
                return held[0], True
        name = candidates[self._turn % len(candidates)]
        self._turn += 1
        if key is not None:
            self._table[key] = (name, now + ttl)
            if len(self._table) > self._max:
                self._table.popitem(last=False)
        return name, False
