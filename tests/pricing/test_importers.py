"""Importers on the real shared price lists, on small hand-made ones, and on bad files."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fleetcost.errors import ConfigError
from fleetcost.pricing.catalog import read_catalog_file
from fleetcost.pricing.importers import (
    detect_format,
    load_price_file,
    merge_into,
    per_million,
    read_genai_prices,
    read_litellm,
)

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
LITELLM = SHARED / "litellm" / "model_prices_and_context_window_backup.json"
GENAI = SHARED / "genai-prices" / "prices" / "data.json"
DAY = dt.date(2026, 11, 23)

needs_shared = pytest.mark.skipif(
    not (LITELLM.exists() and GENAI.exists()), reason="shared price data not present"
)


@pytest.mark.parametrize(
    ("per_token", "text"),
    [
        (2.5e-06, "2.5"),
        (1e-05, "10"),
        (7.5e-08, "0.075"),
        (1.25e-07, "0.125"),
        (2.9999900000000002e-06, "2.99999"),
        (0.0, "0"),
        ("3e-06", "3"),
        (0, "0"),
        (3.6e-06, "3.6"),
    ],
)
def test_per_million_is_exact(per_token: object, text: str) -> None:
    assert per_million(per_token) == Decimal(text)
    assert str(per_million(per_token)) == text


@needs_shared
def test_real_litellm_file() -> None:
    kind, prices = load_price_file(LITELLM, as_of=DAY)
    assert kind == "litellm"
    assert len(prices) > 1000
    gpt4o = prices["gpt-4o"]
    assert (gpt4o.input, gpt4o.output, gpt4o.cache_read) == (
        Decimal("2.5"),
        Decimal(10),
        Decimal("1.25"),
    )
    assert gpt4o.batch_discount == Decimal("0.5")  # derived from input_cost_per_token_batches
    sonnet = prices["claude-sonnet-4-5"]
    assert (sonnet.cache_write_5m, sonnet.cache_write_1h) == (Decimal("3.75"), Decimal(6))
    assert "text-embedding-3-small" not in prices  # not a chat model
    assert all(p.effective_from == "2026-11-23" for p in prices.values())


@needs_shared
def test_real_genai_prices_file() -> None:
    kind, prices = load_price_file(GENAI, as_of=DAY)
    assert kind == "genai-prices"
    assert prices["gpt-4o"].input == prices["openai/gpt-4o"].input == Decimal("2.5")
    assert all(name == price.model for name, price in prices.items())
    sonnet4 = prices["claude-sonnet-4-0"]
    assert (sonnet4.input, sonnet4.output, sonnet4.cache_write_5m) == (
        Decimal(3),
        Decimal(15),
        Decimal("3.75"),
    )
    # Tiered prices contribute their base tier (above 200k tokens costs double).
    assert prices["claude-sonnet-4-5"].input == Decimal(3)
    # Filled by Anthropic's 1h rule, which genai-prices does not list.
    assert sonnet4.cache_write_1h == Decimal(6)
    assert prices["anthropic/claude-sonnet-4-0"].provider == "anthropic"


def _genai(models: list[dict[str, Any]], **provider: Any) -> list[dict[str, Any]]:
    return [{"id": "acme", "models": models, **provider}]


def test_genai_conditional_prices_follow_the_date() -> None:
    model = {
        "id": "m",
        "match": {"equals": "m"},
        "prices": [
            {"prices": {"input_mtok": 2, "output_mtok": 10}},
            {
                "constraint": {"start_date": "2026-09-01"},
                "prices": {"input_mtok": 3, "output_mtok": 15},
            },
        ],
    }
    before = read_genai_prices(_genai([model]), as_of=dt.date(2026, 8, 31))["m"]
    after = read_genai_prices(_genai([model]), as_of=dt.date(2026, 9, 1))["m"]
    assert (before.input, before.effective_from) == (Decimal(2), "2026-08-31")
    assert (after.input, after.effective_from) == (Decimal(3), "2026-09-01")


def test_genai_time_windows_keep_the_standard_rate() -> None:
    model = {
        "id": "m",
        "match": {"equals": "m"},
        "prices": [
            {"prices": {"input_mtok": 0.135, "output_mtok": 0.55}},
            {
                "constraint": {"start_time": "00:30:00Z", "end_time": "16:30:00Z"},
                "prices": {"input_mtok": 0.27, "output_mtok": 1.1},
            },
        ],
    }
    price = read_genai_prices(_genai([model]), as_of=DAY)["m"]
    assert (price.input, price.output) == (Decimal("0.27"), Decimal("1.1"))


def test_genai_bare_names_go_to_the_maker() -> None:
    data = [
        {
            "id": "azure",
            "models": [{"id": "gpt-x", "match": {}, "prices": {"input_mtok": 9, "output_mtok": 9}}],
        },
        {
            "id": "openai",
            "model_match": {"starts_with": "gpt-"},
            "models": [{"id": "gpt-x", "match": {}, "prices": {"input_mtok": 1, "output_mtok": 2}}],
        },
    ]
    prices = read_genai_prices(data, as_of=DAY)
    assert prices["gpt-x"].input == Decimal(1)
    assert prices["azure/gpt-x"].input == Decimal(9)


def test_litellm_skips_entries_without_both_rates() -> None:
    data = {
        "sample_spec": {"litellm_provider": "x", "input_cost_per_token": "0.0", "mode": "doc"},
        "emb": {"litellm_provider": "openai", "input_cost_per_token": 1e-07, "mode": "embedding"},
        "half": {"litellm_provider": "acme", "input_cost_per_token": 1e-06, "mode": "chat"},
        "ok": {
            "litellm_provider": "acme",
            "input_cost_per_token": 1e-06,
            "output_cost_per_token": 2e-06,
            "max_input_tokens": 4096.0,
        },
    }
    prices = read_litellm(data, as_of=DAY)
    assert list(prices) == ["ok"]
    assert prices["ok"].context_window == 4096


@pytest.mark.parametrize(
    "document",
    [{"a": 1}, [1, 2], [], {"model": {"price": 1}}, "text", None],
)
def test_neither_format_is_one_clear_sentence(document: object) -> None:
    with pytest.raises(ConfigError, match=r"is neither LiteLLM format .* nor genai-prices format"):
        detect_format(document)


def test_bad_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        load_price_file(broken)
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"$defs": {}, "items": {}}))
    with pytest.raises(ConfigError, match=f"{schema} is neither"):
        load_price_file(schema)
    with pytest.raises(ConfigError, match="Cannot read"):
        load_price_file(tmp_path / "absent.json")


def test_merge_into_adds_then_updates(tmp_path: Path) -> None:
    out = tmp_path / "user.json"
    first = read_litellm(
        {
            "a": {
                "litellm_provider": "acme",
                "input_cost_per_token": 1e-06,
                "output_cost_per_token": 2e-06,
            }
        },
        as_of=DAY,
    )
    result = merge_into(out, first)
    assert (result.added, result.updated, result.total) == (1, 0, 1)
    second = read_litellm(
        {
            "a": {
                "litellm_provider": "acme",
                "input_cost_per_token": 3e-06,
                "output_cost_per_token": 2e-06,
            },
            "b": {
                "litellm_provider": "acme",
                "input_cost_per_token": 1e-06,
                "output_cost_per_token": 1e-06,
            },
        },
        as_of=DAY,
    )
    result = merge_into(out, second)
    assert (result.added, result.updated, result.total) == (1, 1, 2)
    stored = read_catalog_file(out)
    assert stored["a"].input == Decimal(3) and set(stored) == {"a", "b"}
