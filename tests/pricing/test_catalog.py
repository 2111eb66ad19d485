"""Catalog lookups, overrides, and the dict form used by catalog files and configs."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from fleetcost.errors import ConfigError
from fleetcost.pricing.catalog import (
    Catalog,
    load_catalog,
    price_from_dict,
    price_to_dict,
    write_catalog_file,
)
from fleetcost.types import Price


def _price(name: str, rate: str = "1") -> Price:
    return Price(model=name, provider="test", input=Decimal(rate), output=Decimal(rate))


SMALL = Catalog(
    {
        "gpt-4o": _price("gpt-4o", "2.5"),
        "gpt-4o-2024-05-13": _price("gpt-4o-2024-05-13", "5"),
        "claude-sonnet-4-5": _price("claude-sonnet-4-5", "3"),
        "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo": _price("llama", "0.88"),
    }
)


@pytest.mark.parametrize(
    ("asked", "found"),
    [
        ("gpt-4o", "gpt-4o"),
        ("openai/gpt-4o", "gpt-4o"),
        ("azure/openai/gpt-4o", "gpt-4o"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # a dated id with its own price wins
        ("gpt-4o-2024-08-06", "gpt-4o"),  # an unknown dated id falls back to its alias
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("vertex_ai/claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("GPT-4o", "gpt-4o"),
        ("together_ai/meta-llama/llama-3.3-70b-instruct-turbo", "llama"),
    ],
)
def test_lookup_forms(asked: str, found: str) -> None:
    price = SMALL.get(asked)
    assert price is not None
    assert price.model == found


@pytest.mark.parametrize("asked", ["", "gpt-4", "claude", "gpt-4o-mini", "openai/", "gpt-4o-0806"])
def test_unknown_models_have_no_price(asked: str) -> None:
    assert SMALL.get(asked) is None
    assert asked not in SMALL


def test_models_are_sorted_and_complete() -> None:
    assert SMALL.models() == sorted(SMALL.models())
    assert len(SMALL) == 4


def test_with_overrides_returns_a_new_catalog() -> None:
    cheaper = _price("gpt-4o", "1")
    layered = SMALL.with_overrides({"gpt-4o": cheaper, "my-model": _price("my-model")})
    assert layered.get("gpt-4o") == cheaper
    assert layered.get("my-model") is not None
    # The original is untouched, so a cached catalog can be shared safely.
    original = SMALL.get("gpt-4o")
    assert original is not None and original.input == Decimal("2.5")
    assert SMALL.get("my-model") is None


def test_price_from_dict_reads_decimal_strings_exactly() -> None:
    price = price_from_dict(
        "m",
        {
            "provider": "openai",
            "input": "0.15",
            "output": "0.6",
            "cache_read": "0.075",
            "batch_discount": "0.5",
            "context_window": 128000,
            "tier": "small",
            "effective_from": "2025-01-01",
        },
    )
    assert price.input == Decimal("0.15") and price.cache_read == Decimal("0.075")
    assert price.cache_write_5m is None
    assert price.context_window == 128000 and price.tier == "small"
    assert price_from_dict("m", price_to_dict(price)) == price


def test_price_from_dict_treats_none_as_absent() -> None:
    price = price_from_dict(
        "m", {"provider": None, "input": "1", "output": "2", "cache_read": None, "tier": None}
    )
    assert (price.provider, price.cache_read, price.tier) == ("custom", None, "mid")


def test_price_from_dict_takes_a_toml_float_by_its_literal() -> None:
    price = price_from_dict("m", {"input": 0.1, "output": 3})
    assert price.input == Decimal("0.1")  # not 0.1000000000000000055511151231257827
    assert price.output == Decimal(3)
    assert price.provider == "custom"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"output": "1"}, "needs an 'input' rate"),
        ({"input": "1", "output": "1", "cached_read": "1"}, "unknown keys: cached_read"),
        ({"input": "abc", "output": "1"}, "must be a decimal string"),
        ({"input": "-1", "output": "1"}, "non-negative"),
        ({"input": "NaN", "output": "1"}, "finite"),
        ({"input": True, "output": "1"}, "must be a decimal"),
        ({"input": "1", "output": "1", "batch_discount": "1.5"}, "batch_discount above 1"),
        ({"input": "1", "output": "1", "tier": "huge"}, "use frontier, mid or small"),
        ({"input": "1", "output": "1", "context_window": 1.5}, "whole number"),
        ({"input": "1", "output": "1", "effective_from": "soon"}, "effective_from"),
    ],
)
def test_price_from_dict_rejects_bad_input(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        price_from_dict("m", data)


def test_load_catalog_caches_and_sees_rewrites(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    write_catalog_file(path, {"a": _price("a")}, source="test", as_of="2026-01-01")
    first = load_catalog(path)
    assert load_catalog(path) is first  # parsed once
    write_catalog_file(
        path, {"a": _price("a"), "bb": _price("bb")}, source="test", as_of="2026-01-02"
    )
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse clocks
    second = load_catalog(path)
    assert second is not first and second.models() == ["a", "bb"]


def test_bundled_catalog_is_the_default() -> None:
    assert load_catalog() is load_catalog()
    assert len(load_catalog()) > 100


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json", "Cannot read the price catalog"),
        (b'{"models": {}}', "not a fleetcost price catalog"),
        (b'{"format": "fleetcost-prices"}', 'no "models" object'),
    ],
)
def test_bad_catalog_files_fail_with_a_sentence(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        load_catalog(path)


def test_missing_catalog_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Cannot read the price catalog"):
        load_catalog(tmp_path / "absent.json")
