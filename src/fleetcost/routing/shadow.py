"""Shadow evaluation: which cheap-routed calls also go to the strong model.

The choice is a pure function of the call id (its random suffix), so a
sample rate of 0.05 shadows 5% of calls whatever the traffic pattern, with no
shared counter between replicas. The comparison itself is `similarity`.
"""

from __future__ import annotations


def sampled(call_id: str, rate: float) -> bool:
    if rate <= 0:
        return False
    if rate >= 1:
        return True
    try:
        unit = int(call_id[-8:], 16) / 0x1_0000_0000
    except ValueError:
        return False
    return unit < rate
