"""Billing conventions that price lists leave implicit, as data.

Public price lists often omit what "everybody knows": Anthropic charges
1.25x the input rate for a 5-minute cache write, 2x for a 1-hour write and
0.1x for a cache read; OpenAI and Anthropic batches cost half; OpenAI caches
prompts automatically from 1,024 tokens; each Claude model has its own
minimum cacheable prefix. `complete` fills those gaps so that every importer
(and the bundled catalog build) applies the same rules, and a gap is never
silently billed as free.

`tier_for` classifies a model by what it costs, not by its name, so that
routing policies keep working when a new model appears: blended rate =
(3 x input + output) / 4 (agents read far more than they write), frontier
from $3 per million blended tokens, small below $0.50.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Final

from fleetcost.types import Price, Tier


@dataclasses.dataclass(frozen=True, slots=True)
class CacheMultipliers:
    """Cache rates as multiples of the input rate, for providers that publish them so."""

    read: Decimal
    write_5m: Decimal
    write_1h: Decimal


# Anthropic pricing page: 5m write 1.25x, 1h write 2x, cache hit 0.1x base input.
CACHE_MULTIPLIERS: Final[Mapping[str, CacheMultipliers]] = MappingProxyType({
    "anthropic": CacheMultipliers(Decimal("0.1"), Decimal("1.25"), Decimal("2")),
})

# Batch APIs: OpenAI Batch API and Anthropic Message Batches both take 50% off.
BATCH_DISCOUNTS: Final[Mapping[str, Decimal]] = MappingProxyType({
    "openai": Decimal("0.5"),
    "anthropic": Decimal("0.5"),
})

# OpenAI caches prompts automatically from 1,024 tokens (in 128-token steps)
# on the models that have a cached-input rate.
PROVIDER_MIN_CACHEABLE: Final[Mapping[str, int]] = MappingProxyType({"openai": 1024})

# Anthropic's per-model minimum cacheable prompt (prompt-caching docs), used
# only when the source data has no `prompt_cache_min_tokens` for the model.
# First match wins; the last rule is the 1,024 default of Sonnet/Opus 3.x-4.x.
MODEL_MIN_CACHEABLE: Final[tuple[tuple[re.Pattern[str], int], ...]] = (
    (re.compile(r"claude-3(-5)?-haiku|claude-haiku-3"), 2048),
    (re.compile(r"claude-(haiku-4-5|opus-4-5|opus-4-6)"), 4096),
    (re.compile(r"claude-"), 1024),
)

FRONTIER_FROM: Final = Decimal(3)
SMALL_BELOW: Final = Decimal("0.5")


def tier_for(input_rate: Decimal, output_rate: Decimal) -> Tier:
    blended = (3 * input_rate + output_rate) / 4
    if blended >= FRONTIER_FROM:
        return "frontier"
    if blended < SMALL_BELOW:
        return "small"
    return "mid"


def min_cacheable_for(model: str, provider: str) -> int | None:
    if provider in PROVIDER_MIN_CACHEABLE:
        return PROVIDER_MIN_CACHEABLE[provider]
    if provider != "anthropic":
        return None
    for pattern, tokens in MODEL_MIN_CACHEABLE:
        if pattern.search(model):
            return tokens
    return None


def complete(price: Price) -> Price:
    """`price` with the provider's implicit rates filled in where missing.

    Only gaps are filled: a rate the source states is never overwritten.
    """
    changes: dict[str, object] = {}
    mult = CACHE_MULTIPLIERS.get(price.provider)
    if mult is not None:
        if price.cache_read is None:
            changes["cache_read"] = price.input * mult.read
        if price.cache_write_5m is None:
            changes["cache_write_5m"] = price.input * mult.write_5m
        if price.cache_write_1h is None:
            changes["cache_write_1h"] = price.input * mult.write_1h
    if not price.batch_discount and price.provider in BATCH_DISCOUNTS:
        changes["batch_discount"] = BATCH_DISCOUNTS[price.provider]
    # A model without a cache-read rate has no prompt caching to reach a minimum of.
    caches = price.cache_read is not None or "cache_read" in changes
    if price.min_cacheable_tokens is None and caches:
        minimum = min_cacheable_for(price.model, price.provider)
        if minimum is not None:
            changes["min_cacheable_tokens"] = minimum
    return dataclasses.replace(price, **changes) if changes else price  # type: ignore[arg-type]
