"""Regenerate the bundled price catalog (src/fleetcost/pricing/prices.json) from LiteLLM.

Usage (from the repository root):

    .venv/bin/python scripts/build_catalog.py \
        [--source ../shared/data/litellm/model_prices_and_context_window_backup.json] \
        [--out src/fleetcost/pricing/prices.json] [--as-of YYYY-MM-DD]

The catalog holds the models fleets actually run, not LiteLLM's 4,500
entries: OpenAI's GPT-4o/4.1/5 families, o-series and GPT-3.5/4; every
Claude model Anthropic's own API lists; Gemini 2.x/3.x; and Llama, Mixtral,
DeepSeek and Qwen on Together, Fireworks, Groq and DeepSeek's API.

LiteLLM no longer lists Anthropic's own API ids for Claude 3.x, Sonnet/Opus
4.0 and Opus 4.1, so those are taken from LiteLLM's Bedrock (or, for Claude 3
Haiku, Vertex) entries, which carry the same list prices; the pricing tests
cross-check them against genai-prices. Un-dated aliases (`-latest`, `-4-0`)
point at the dated model they stand for.

`--as-of` (default: the source file's modification date) becomes every
entry's `effective_from`: LiteLLM does not say since when a price holds, so
the catalog records the day it was observed.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import re
import sys
from collections.abc import Mapping
from pathlib import Path

import orjson

try:
    from fleetcost.pricing import rules
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from fleetcost.pricing import rules

from fleetcost.pricing.catalog import price_from_dict, price_to_dict, write_catalog_file
from fleetcost.pricing.importers import read_litellm
from fleetcost.types import Price

DEFAULT_SOURCE = Path("../shared/data/litellm/model_prices_and_context_window_backup.json")
DEFAULT_OUT = Path("src/fleetcost/pricing/prices.json")

_DATED = r"(-\d{4}-\d{2}-\d{2})?"
# (pattern on LiteLLM's key, prefix to strip from the catalog name)
SELECTION: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"^(gpt-4o(-mini)?|gpt-4\.1(-mini|-nano)?|o1|o3(-mini)?|o4-mini){_DATED}$"), ""),
    (re.compile(rf"^gpt-5(\.\d)?(-mini|-nano|-chat|-chat-latest)?{_DATED}$"), ""),
    (re.compile(r"^(gpt-3\.5-turbo(-\d{4}|-16k)?|gpt-4(-0613|-turbo(-2024-04-09)?)?)$"), ""),
    (re.compile(r"^claude-[a-z0-9-]+$"), ""),
    (re.compile(r"^gemini/gemini-(2\.5|3(\.\d)?)-(flash|pro)(-lite)?(-preview)?$"), "gemini/"),
    (re.compile(r"^gemini/gemini-(flash|flash-lite|pro)-latest$"), "gemini/"),
    (re.compile(r"^vertex_ai/gemini-2\.0-flash(-lite)?$"), ""),
    (re.compile(r"^together_ai/(meta-llama|Qwen|deepseek-ai|mistralai)/"
                r".*(?i:llama|qwen|qwq|deepseek|mixtral).*$"), ""),
    (re.compile(
        r"^fireworks_ai/accounts/fireworks/models/(llama-v3p[13]-(8|70|405)b-instruct|llama4-.*"
        r"|deepseek-(v3|v3-0324|v3p1|v3p2|r1|r1-0528|v4-flash|v4-pro)|qwen3-(235b-a22b.*|coder-.*|32b)"
        r"|qwen2p5-(72b|coder-32b)-instruct|mixtral-8x(7|22)b-instruct)$"
    ), ""),
    (re.compile(r"^groq/.+$"), ""),
    (re.compile(r"^deepseek-(chat|reasoner|v4-flash|v4-pro)$"), ""),
    (re.compile(r"^deepseek/deepseek-(r1|v3|v3\.2|coder)$"), "deepseek/"),
)

# Anthropic API id -> LiteLLM entry with the same list price.
BACKFILL: Mapping[str, str] = {
    "claude-3-haiku-20240307": "vertex_ai/claude-3-haiku@20240307",
    "claude-3-opus-20240229": "anthropic.claude-3-opus-20240229-v1:0",
    "claude-3-5-sonnet-20240620": "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "claude-3-5-sonnet-20241022": "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "claude-3-5-haiku-20241022": "anthropic.claude-3-5-haiku-20241022-v1:0",
    "claude-3-7-sonnet-20250219": "anthropic.claude-3-7-sonnet-20250219-v1:0",
    "claude-sonnet-4-20250514": "anthropic.claude-sonnet-4-20250514-v1:0",
    "claude-opus-4-20250514": "anthropic.claude-opus-4-20250514-v1:0",
    "claude-opus-4-1-20250805": "anthropic.claude-opus-4-1-20250805-v1:0",
}

# Fields the source or the generic rules get wrong, found by the cross-check
# against genai-prices (tests/pricing/test_bundled_catalog.py):
# - Claude 3 Haiku's cache prices are not the usual multiples of its input
#   rate (Anthropic pricing page: $0.03 hits, $0.30 5m writes, $0.50 1h writes).
# - LiteLLM still lists Claude Sonnet 5's introductory $2/$10, which ended on
#   2026-08-31; the standard $3/$15 applies from 2026-09-01.
CORRECTIONS: Mapping[str, Mapping[str, str]] = {
    "claude-3-haiku-20240307": {
        "cache_read": "0.03", "cache_write_5m": "0.3", "cache_write_1h": "0.5",
    },
    "claude-sonnet-5": {
        "input": "3", "output": "15", "cache_read": "0.3", "cache_write_5m": "3.75",
        "cache_write_1h": "6", "tier": "frontier", "effective_from": "2026-09-01",
    },
}

# Alias -> the dated id it resolves to (Anthropic's aliases, plus the
# un-dated names agents write, so that date-stripping lookups land).
ALIASES: Mapping[str, str] = {
    "claude-3-haiku": "claude-3-haiku-20240307",
    "claude-3-opus": "claude-3-opus-20240229",
    "claude-3-opus-latest": "claude-3-opus-20240229",
    "claude-3-5-sonnet": "claude-3-5-sonnet-20241022",
    "claude-3-5-sonnet-latest": "claude-3-5-sonnet-20241022",
    "claude-3-5-haiku": "claude-3-5-haiku-20241022",
    "claude-3-5-haiku-latest": "claude-3-5-haiku-20241022",
    "claude-3-7-sonnet": "claude-3-7-sonnet-20250219",
    "claude-3-7-sonnet-latest": "claude-3-7-sonnet-20250219",
    "claude-sonnet-4": "claude-sonnet-4-20250514",
    "claude-sonnet-4-0": "claude-sonnet-4-20250514",
    "claude-opus-4": "claude-opus-4-20250514",
    "claude-opus-4-0": "claude-opus-4-20250514",
    "claude-opus-4-1": "claude-opus-4-1-20250805",
}


def select(litellm: Mapping[str, Price]) -> dict[str, Price]:
    """The catalog's entries, named as clients send them."""
    chosen: dict[str, Price] = {}
    for key, price in litellm.items():
        for pattern, prefix in SELECTION:
            if pattern.match(key):
                name = key.removeprefix(prefix)
                chosen.setdefault(name, dataclasses.replace(price, model=name))
                break
    for name, source in BACKFILL.items():
        chosen.setdefault(name, dataclasses.replace(
            litellm[source], model=name, provider="anthropic",
            batch_discount=rules.BATCH_DISCOUNTS["anthropic"],
        ))
    for name, fields in CORRECTIONS.items():
        chosen[name] = price_from_dict(name, {**price_to_dict(chosen[name]), **fields})
    for alias, target in ALIASES.items():
        chosen.setdefault(alias, dataclasses.replace(chosen[target], model=alias))
    return {name: rules.complete(price) for name, price in chosen.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=None)
    args = parser.parse_args(argv)
    as_of = args.as_of or dt.datetime.fromtimestamp(args.source.stat().st_mtime, dt.UTC).date()
    raw = orjson.loads(args.source.read_bytes())
    prices = select(read_litellm(raw, as_of=as_of))
    source = f"LiteLLM {args.source.name} (Anthropic 3.x-4.1 via its Bedrock/Vertex entries)"
    write_catalog_file(args.out, prices, source=source, as_of=as_of.isoformat())
    size = args.out.stat().st_size
    by_provider: dict[str, int] = {}
    for price in prices.values():
        by_provider[price.provider] = by_provider.get(price.provider, 0) + 1
    summary = ", ".join(f"{p} {n}" for p, n in sorted(by_provider.items()))
    print(f"wrote {len(prices)} models ({size / 1024:.0f} KiB) to {args.out}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
