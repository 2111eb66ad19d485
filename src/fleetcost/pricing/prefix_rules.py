"""The providers' prefix-cache rules as data, and what they let a prompt read.

Two kinds of cache exist (see `prefix_rules.toml`): automatic caches read the
longest shared prefix in fixed steps; breakpoint caches read only prefixes
that end where the previous request put a `cache_control` marker. Both
functions here are pure: given token offsets at block ends, how many blocks
two prompts share and where the markers sit, they say how many prompt
tokens the provider should report as read from its cache.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

RULES_PATH = Path(__file__).with_name("prefix_rules.toml")


@dataclass(frozen=True, slots=True)
class CacheRule:
    mode: str  # "automatic" | "breakpoints"
    min_tokens: int
    step_tokens: int
    ttl_s: float
    ttl_1h_s: float
    max_breakpoints: int
    lookback_blocks: int
    tool_tokens: str = "json"  # "schema" | "json"

    @property
    def explicit(self) -> bool:
        return self.mode == "breakpoints"


@dataclass(frozen=True, slots=True)
class TrackerBounds:
    sessions: int
    token_memo: int
    stable_text_chars: int
    affinity_entries: int


@dataclass(frozen=True, slots=True)
class DoctorThresholds:
    missed_share: Decimal
    missed_min_tokens: int


@functools.lru_cache(maxsize=1)
def _load() -> tuple[Mapping[str, CacheRule], TrackerBounds, DoctorThresholds]:
    data = tomllib.loads(RULES_PATH.read_text())
    bounds = TrackerBounds(**data.pop("tracker"))
    doctor = data.pop("doctor")
    thresholds = DoctorThresholds(Decimal(str(doctor["missed_share"])),
                                  int(doctor["missed_min_tokens"]))
    rules = {
        kind: CacheRule(
            mode=str(r["mode"]), min_tokens=int(r["min_tokens"]),
            step_tokens=max(1, int(r["step_tokens"])), ttl_s=float(r["ttl_s"]),
            ttl_1h_s=float(r.get("ttl_1h_s", r["ttl_s"])),
            max_breakpoints=int(r["max_breakpoints"]),
            lookback_blocks=int(r["lookback_blocks"]),
            tool_tokens=str(r.get("tool_tokens", "json")),
        )
        for kind, r in data.items()
    }
    return MappingProxyType(rules), bounds, thresholds


def cache_rule(kind: str) -> CacheRule | None:
    """The rule of a wire kind, or None for a protocol without a prefix cache."""
    return _load()[0].get(kind)


def tracker_bounds() -> TrackerBounds:
    return _load()[1]


def doctor_thresholds() -> DoctorThresholds:
    return _load()[2]


def automatic_read(rule: CacheRule, shared_tokens: int, minimum: int | None = None) -> int:
    """Tokens an automatic cache reads of a prefix shared for `shared_tokens`."""
    floor = minimum or rule.min_tokens
    if shared_tokens < floor:
        return 0
    return floor + (shared_tokens - floor) // rule.step_tokens * rule.step_tokens


def breakpoint_read(
    rule: CacheRule, ends: Sequence[int], shared_blocks: int,
    written: Sequence[int], breakpoints: Sequence[int], minimum: int | None = None,
) -> int:
    """Tokens a breakpoint cache reads.

    `written` are the block indices where the previous request put markers
    (each wrote its prefix if it reached the minimum); one of them is read
    when the prefix through it is shared and a marker of this request sits
    on it or at most `lookback_blocks` blocks after it.
    """
    floor = minimum or rule.min_tokens
    best = 0
    for block in written:
        if block >= shared_blocks or block >= len(ends) or ends[block] < floor:
            continue
        if any(block <= bp < block + rule.lookback_blocks for bp in breakpoints):
            best = max(best, ends[block])
    return best
