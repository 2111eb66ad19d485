"""A call's live budget reservation, carried on `CallState` until it settles."""

from __future__ import annotations

from dataclasses import dataclass

from fleetcost.pipeline.budget_rules import Applied
from fleetcost.types import Price


@dataclass(slots=True)
class BudgetHold:
    """What was reserved for one call, so settling it needs no second lookup.

    `applied` are the stored buckets held (per-call rules hold nothing);
    `used_nano` is each bucket's spend plus reservations right after this
    hold was taken, used to report the remaining budget without a read.
    `price` is the price the worst case was computed at: when routing picks a
    model with another price the hold is resized before the call goes out.
    """

    hold_id: str
    applied: list[Applied]
    nano: int
    tokens: int
    price: Price
    used_nano: dict[str, int]
    settled: bool = False
    # time.monotonic() after which a still-running call pushes its expiry back.
    renew_at: float = 0.0
