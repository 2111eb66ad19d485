"""The bundled prices.json: the models the rest of fleetcost relies on, and a cross-check.

The catalog is generated from LiteLLM; genai-prices is an independent list
maintained by other people, so agreement on the models that matter is real
evidence that the conversion (per-token floats -> exact per-million
decimals) and the backfilled Anthropic entries are right.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import pytest

from fleetcost.pricing.catalog import Catalog, bundled_catalog_path, load_catalog
from fleetcost.pricing.importers import load_price_file
from fleetcost.types import Price

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
GENAI = SHARED / "genai-prices" / "prices" / "data.json"

EMULATOR_MODELS = [
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1-mini",
    "claude-sonnet-4-5",
    "claude-3-5-haiku-latest",
    "claude-haiku-4-5",
]


@lru_cache(maxsize=1)
def genai() -> dict[str, Price]:
    if not GENAI.exists():
        pytest.skip(f"genai-prices data not found at {GENAI}")
    return load_price_file(GENAI, as_of=dt.date(2026, 11, 23))[1]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.mark.parametrize("name", EMULATOR_MODELS)
def test_emulator_models_have_their_own_entry(catalog: Catalog, name: str) -> None:
    price = catalog.get(name)
    assert price is not None and price.model == name


def test_file_is_small_and_money_is_text() -> None:
    path = bundled_catalog_path()
    assert path.stat().st_size < 1_000_000
    models = json.loads(path.read_text())["models"]
    assert 100 <= len(models) <= 400
    for name, entry in models.items():
        for key in ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h"):
            if key in entry:
                assert isinstance(entry[key], str), f"{name}.{key} is not a decimal string"


def test_families_are_present(catalog: Catalog) -> None:
    wanted = [
        "gpt-4.1",
        "gpt-4.1-nano",
        "o1",
        "o3",
        "o3-mini",
        "o4-mini",
        "gpt-5",
        "gpt-5-mini",
        "gpt-3.5-turbo",
        "claude-3-5-sonnet-latest",
        "claude-3-7-sonnet-20250219",
        "claude-sonnet-4-20250514",
        "claude-opus-4-1",
        "claude-opus-4-5",
        "claude-3-opus-latest",
        "gemini-2.5-flash",
        "gemini-2.5-pro",
        "deepseek-chat",
        "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "fireworks_ai/accounts/fireworks/models/llama-v3p3-70b-instruct",
    ]
    missing = [name for name in wanted if catalog.get(name) is None]
    assert not missing


def test_per_token_floats_became_exact_per_million_rates(catalog: Catalog) -> None:
    gpt4o = catalog.get("gpt-4o")
    assert gpt4o is not None
    assert (gpt4o.input, gpt4o.output, gpt4o.cache_read) == (
        Decimal("2.5"),
        Decimal("10"),
        Decimal("1.25"),
    )
    assert gpt4o.cache_write_5m is None  # OpenAI's automatic cache writes are free
    assert gpt4o.batch_discount == Decimal("0.5")
    mini = catalog.get("gpt-4o-mini")
    assert mini is not None and (mini.input, mini.cache_read) == (Decimal("0.15"), Decimal("0.075"))


def test_anthropic_entries_carry_every_cache_rate(catalog: Catalog) -> None:
    for name, price in catalog.items():
        if price.provider != "anthropic":
            continue
        assert price.batch_discount == Decimal("0.5"), name
        read, write_5m, write_1h = price.cache_read, price.cache_write_5m, price.cache_write_1h
        assert read is not None and write_5m is not None and write_1h is not None, name
        assert read < price.input < write_5m < write_1h, name


@pytest.mark.parametrize(
    "name",
    # Stated by LiteLLM, or filled by the 0.1x / 1.25x / 2x rule (the 3.x-4.1 backfill).
    [
        "claude-sonnet-4-5",
        "claude-opus-4-1",
        "claude-3-5-haiku-latest",
        "claude-3-7-sonnet",
        "claude-sonnet-4-0",
        "claude-haiku-4-5",
        "claude-opus-4-5",
    ],
)
def test_anthropic_cache_multiples(catalog: Catalog, name: str) -> None:
    price = catalog.get(name)
    assert price is not None
    assert price.cache_read == price.input / 10
    assert price.cache_write_5m == price.input * Decimal("1.25")
    assert price.cache_write_1h == price.input * 2


@pytest.mark.parametrize(
    ("name", "tokens"),
    [
        ("gpt-4o", 1024),
        ("gpt-4.1-mini", 1024),
        ("claude-sonnet-4-5", 1024),
        ("claude-3-7-sonnet-latest", 1024),
        ("claude-opus-4-1", 1024),
        ("claude-3-5-haiku-latest", 2048),
        ("claude-3-haiku", 2048),
        ("claude-haiku-4-5", 4096),
        ("claude-opus-4-5", 4096),
    ],
)
def test_minimum_cacheable_prefix(catalog: Catalog, name: str, tokens: int) -> None:
    price = catalog.get(name)
    assert price is not None and price.min_cacheable_tokens == tokens


@pytest.mark.parametrize(
    ("name", "tier"),
    [
        ("claude-opus-4-1", "frontier"),
        ("gpt-4o", "frontier"),
        ("claude-haiku-4-5", "mid"),
        ("gpt-4o-mini", "small"),
        ("gpt-4.1-nano", "small"),
    ],
)
def test_tiers_follow_price(catalog: Catalog, name: str, tier: str) -> None:
    price = catalog.get(name)
    assert price is not None and price.tier == tier


CROSS_CHECKED = [
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "o1",
    "o3",
    "o4-mini",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "claude-sonnet-4-0",
    "claude-sonnet-4-5",
    "claude-opus-4-0",
    "claude-opus-4-1",
    "claude-opus-4-5",
    "claude-haiku-4-5",
    "claude-3-5-haiku-latest",
    "claude-3-7-sonnet-latest",
    "claude-3-haiku",
    "claude-3-opus-latest",
    "claude-sonnet-5",
    "gemini-2.5-flash",
    "gemini-2.5-pro",
]


@pytest.mark.parametrize("name", CROSS_CHECKED)
def test_agrees_with_genai_prices(catalog: Catalog, name: str) -> None:
    ours, theirs = catalog.get(name), genai().get(name)
    assert ours is not None and theirs is not None, name
    for field in ("input", "output", "cache_read", "cache_write_5m"):
        their_rate = getattr(theirs, field)
        if their_rate is not None:
            assert getattr(ours, field) == their_rate, f"{name}.{field}"
