"""Read third-party price lists into `Price` entries, and merge them into a user catalog.

Two public formats are understood, detected from the document's shape:

* LiteLLM's `model_prices_and_context_window.json`: an object of model name ->
  per-token USD floats (`input_cost_per_token`, `cache_read_input_token_cost`,
  `cache_creation_input_token_cost[_above_1hr]`, `*_batches`, ...).
* pydantic's genai-prices `data.json`: a list of providers, each with models
  whose prices are USD per million tokens, either one flat set of prices or a
  list of conditional prices (start dates, time-of-day windows) whose values
  may be tiered by prompt size.

Floats are converted through their shortest repr, so LiteLLM's `2.5e-06`
becomes exactly 2.5 per million, never 2.49999...; values are then rounded
to a millionth of a dollar per million tokens, far finer than any published
price, to drop binary noise such as `2.9999900000000002e-06`.

Imports go to a user catalog file, never to the bundled one, which changes
only when `scripts/build_catalog.py` regenerates it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal

import orjson

from fleetcost.errors import ConfigError
from fleetcost.pricing import rules
from fleetcost.pricing.catalog import read_catalog_file, write_catalog_file
from fleetcost.types import Price

Format = Literal["litellm", "genai-prices"]

_STEP: Final = Decimal("0.000001")
_CHAT_MODES: Final = frozenset({"chat", "completion", "responses"})

# Provider names are normalised to the ones the bundled catalog uses, so that
# rules (cache multipliers, batch discounts) apply whichever list they came from.
_PROVIDER_NAMES: Final = {
    "bedrock_converse": "bedrock", "vertex_ai-language-models": "vertex_ai",
    "vertex_ai-anthropic_models": "vertex_ai", "text-completion-openai": "openai",
    "google": "gemini", "together": "together_ai", "fireworks": "fireworks_ai",
    "x-ai": "xai", "aws": "bedrock",
}


def provider_name(raw: str) -> str:
    return _PROVIDER_NAMES.get(raw, raw)


def per_million(value: object) -> Decimal:
    """Exact USD per million tokens from a per-token figure (float, int or string)."""
    text = repr(value) if isinstance(value, float) else str(value)
    return trim(Decimal(text).scaleb(6).quantize(_STEP))


def trim(value: Decimal) -> Decimal:
    """`value` without trailing zeros, and without an exponent for whole numbers."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def detect_format(data: object, label: str = "The file") -> Format:
    if isinstance(data, list) and data and all(
        isinstance(p, dict) and "models" in p and "id" in p for p in data
    ):
        return "genai-prices"
    if isinstance(data, dict) and any(
        isinstance(v, dict) and ("input_cost_per_token" in v or "litellm_provider" in v)
        for v in data.values()
    ):
        return "litellm"
    raise ConfigError(
        f"{label} is neither LiteLLM format (an object of model -> input_cost_per_token, ...) "
        "nor genai-prices format (a list of providers with models and prices)."
    )


def load_price_file(path: Path, *, as_of: dt.date | None = None) -> tuple[Format, dict[str, Price]]:
    """Read `path` in whichever format it is in; `as_of` picks dated genai-prices."""
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror}.") from exc
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}).") from exc
    kind = detect_format(data, str(path))
    day = as_of or dt.date.today()
    if kind == "litellm":
        prices = read_litellm(data, as_of=day)
    else:
        prices = read_genai_prices(data, as_of=day)
    return kind, {name: rules.complete(price) for name, price in prices.items()}


def read_litellm(data: Mapping[str, Any], *, as_of: dt.date) -> dict[str, Price]:
    """Chat-capable entries of a LiteLLM price map, keyed by LiteLLM's own names.

    Entries without both an input and an output rate (embeddings, images,
    audio, pricing by request) are skipped. The batch discount is derived
    from the batch input rate when LiteLLM lists one. Long-context tiers
    (`*_above_200k_tokens`) are not modelled: the base rates are used.
    """
    out: dict[str, Price] = {}
    for name, entry in data.items():
        if not isinstance(entry, dict) or entry.get("mode", "chat") not in _CHAT_MODES:
            continue
        if entry.get("input_cost_per_token") is None or entry.get("output_cost_per_token") is None:
            continue
        try:
            out[name] = _litellm_price(name, entry, as_of)
        except (ArithmeticError, ValueError, TypeError):
            continue  # a malformed number in one entry must not sink the import
    return out


def _litellm_price(name: str, entry: Mapping[str, Any], as_of: dt.date) -> Price:
    def rate(key: str) -> Decimal | None:
        value = entry.get(key)
        return None if value is None else per_million(value)

    input_rate = per_million(entry["input_cost_per_token"])
    output_rate = per_million(entry["output_cost_per_token"])
    batch_input = rate("input_cost_per_token_batches")
    discount = Decimal(0)
    if batch_input is not None and input_rate > 0:
        discount = trim((1 - batch_input / input_rate).quantize(Decimal("0.0001")))
    return Price(
        model=name,
        provider=provider_name(str(entry.get("litellm_provider", "unknown"))),
        input=input_rate,
        output=output_rate,
        cache_read=rate("cache_read_input_token_cost"),
        cache_write_5m=rate("cache_creation_input_token_cost"),
        cache_write_1h=rate("cache_creation_input_token_cost_above_1hr"),
        batch_discount=max(discount, Decimal(0)),
        context_window=_int(entry.get("max_input_tokens")),
        max_output_tokens=_int(entry.get("max_output_tokens")),
        min_cacheable_tokens=_int(entry.get("prompt_cache_min_tokens")),
        tier=rules.tier_for(input_rate, output_rate),
        effective_from=as_of.isoformat(),
    )


def _int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if number.is_integer() and number >= 0 else None


def read_genai_prices(data: list[Any], *, as_of: dt.date) -> dict[str, Price]:
    """Models of a genai-prices document, keyed `provider/model` and, where unambiguous, `model`.

    Which price applies: of a model's conditional prices, the last one whose
    `start_date` is on or before `as_of` (genai-prices' own rule: later
    entries win, and the first is the fallback); of time-of-day windows
    (DeepSeek's off-peak discount) the higher, standard rate is kept. Tiered
    values (a higher rate above 200k prompt tokens) contribute their base
    tier, the rate of ordinary prompts.

    A bare model name goes to the provider whose own `model_match` claims it
    (Anthropic's rule matches `claude`), so that resellers listing the same
    name at other prices do not shadow the maker's price.
    """
    out: dict[str, Price] = {}
    owned: dict[str, Price] = {}
    unowned: dict[str, Price] = {}
    for provider in data:
        pid = str(provider.get("id", "unknown"))
        owner_rule = provider.get("model_match")
        for model in provider.get("models", []):
            price = _genai_price(pid, model, as_of)
            if price is None:
                continue
            key = f"{provider_name(pid)}/{price.model}"
            out[key] = dataclasses.replace(price, model=key)
            if owner_rule is not None and _matches(owner_rule, price.model):
                owned.setdefault(price.model, price)
            elif "/" not in price.model:
                unowned.setdefault(price.model, price)
    for name, price in {**unowned, **owned}.items():
        out.setdefault(name, price)
    return out


def _genai_price(provider: str, model: Mapping[str, Any], as_of: dt.date) -> Price | None:
    name = str(model.get("id", ""))
    prices, start = _current_prices(model.get("prices"), as_of)
    input_rate = _mtok(prices.get("input_mtok", prices.get("input_text_mtok")))
    output_rate = _mtok(prices.get("output_mtok", prices.get("output_text_mtok")))
    if not name or input_rate is None or output_rate is None:
        return None
    context = model.get("context_window")
    return Price(
        model=name,
        provider=provider_name(provider),
        input=input_rate,
        output=output_rate,
        cache_read=_mtok(prices.get("cache_read_mtok")),
        cache_write_5m=_mtok(prices.get("cache_write_mtok")),
        context_window=context if isinstance(context, int) else None,
        tier=rules.tier_for(input_rate, output_rate),
        effective_from=(start or as_of).isoformat(),
    )


def _current_prices(raw: object, as_of: dt.date) -> tuple[Mapping[str, Any], dt.date | None]:
    if isinstance(raw, dict):
        return raw, None
    if not isinstance(raw, list) or not raw:
        return {}, None
    chosen, start = raw[0].get("prices", {}), None
    for conditional in raw:
        constraint = conditional.get("constraint") or {}
        prices = conditional.get("prices", {})
        if "start_date" in constraint:
            begins = dt.date.fromisoformat(str(constraint["start_date"]))
            if begins <= as_of:
                chosen, start = prices, begins
        elif "start_time" in constraint:
            # A daily window: keep whichever rate is higher (the standard one,
            # not the off-peak discount), so spend is never under-reported.
            if (_mtok(prices.get("input_mtok")) or 0) > (_mtok(chosen.get("input_mtok")) or 0):
                chosen = prices
        else:
            chosen, start = prices, None
    return chosen, start


def _mtok(value: object) -> Decimal | None:
    if isinstance(value, dict):
        value = value.get("base")
    if value is None or isinstance(value, bool):
        return None
    return trim(Decimal(repr(value) if isinstance(value, float) else str(value)).quantize(_STEP))


def _matches(clause: Mapping[str, Any], name: str) -> bool:
    """Evaluate a genai-prices match clause (starts_with, contains, or, and, ...)."""
    if "or" in clause:
        return any(_matches(c, name) for c in clause["or"])
    if "and" in clause:
        return all(_matches(c, name) for c in clause["and"])
    if "equals" in clause:
        return name == str(clause["equals"])
    if "starts_with" in clause:
        return name.startswith(str(clause["starts_with"]))
    if "ends_with" in clause:
        return name.endswith(str(clause["ends_with"]))
    if "contains" in clause:
        return str(clause["contains"]) in name
    if "regex" in clause:
        return re.search(str(clause["regex"]), name) is not None
    return False


@dataclasses.dataclass(frozen=True, slots=True)
class MergeResult:
    added: int
    updated: int
    total: int


def merge_into(catalog_path: Path, prices: Mapping[str, Price]) -> MergeResult:
    """Add or replace `prices` in the user catalog at `catalog_path` (created if missing)."""
    existing = read_catalog_file(catalog_path) if catalog_path.exists() else {}
    added = sum(1 for name in prices if name not in existing)
    updated = sum(1 for name, p in prices.items() if name in existing and existing[name] != p)
    merged = {**existing, **prices}
    write_catalog_file(
        catalog_path, merged, source="fleetcost prices import", as_of=dt.date.today().isoformat()
    )
    return MergeResult(added=added, updated=updated, total=len(merged))
