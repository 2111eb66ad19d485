"""Percentiles and summaries of latency samples (milliseconds).

Percentiles use linear interpolation between closest ranks (numpy's default,
"type 7"), so a p99 of 1,000 samples is not just the 990th value and two
runs of the same size compare on the same footing. Pure Python: the load
generator must not import numpy just for this.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

QUANTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9),
)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values; NaN when empty."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} outside 0..100")
    n = len(sorted_values)
    if n == 0:
        return math.nan
    pos = (n - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def summarize(values: Sequence[float]) -> dict[str, float | int]:
    """n, mean, p50/p90/p99/p99.9 and max, rounded to the microsecond."""
    ordered = sorted(values)
    out: dict[str, float | int] = {"n": len(ordered)}
    if not ordered:
        return out
    out["mean"] = _r(statistics.fmean(ordered))
    for name, q in QUANTILES:
        out[name] = _r(percentile(ordered, q))
    out["max"] = _r(ordered[-1])
    return out


def added(direct: dict[str, float | int], gateway: dict[str, float | int]) -> dict[str, float]:
    """Gateway minus direct, quantile by quantile (the published method).

    A difference of percentiles, not a percentile of differences: the two
    runs are separate samples, and this is how other gateways' figures were
    computed, so ours compare with theirs.
    """
    out: dict[str, float] = {}
    for key in ("mean", *(name for name, _ in QUANTILES)):
        d, g = direct.get(key), gateway.get(key)
        if d is not None and g is not None:
            out[key] = _r(float(g) - float(d))
    return out


def median_of(values: Sequence[float]) -> float:
    """Median of per-run figures (the issue asks for the median of 5 runs)."""
    return _r(statistics.median(values)) if values else math.nan


def _r(x: float) -> float:
    return round(x, 4)
