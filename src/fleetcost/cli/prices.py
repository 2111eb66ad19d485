"""`fleetcost prices`: show the price catalog, or import a price list into a user catalog.

    fleetcost prices [MODEL] [--catalog PATH] [--json]
    fleetcost prices import FILE [--out PATH] [--json]

Both forms share one positional list rather than subcommands, because a
subparser would make every model name an "invalid choice": the word
`import` selects the import form, anything else is a model name.

Imports never touch the bundled catalog; they merge into a user catalog
(`./fleetcost-prices.json` by default) that `--catalog` layers on top of
the bundled one.
"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from fleetcost.pricing.catalog import Catalog, load_catalog, price_to_dict
from fleetcost.pricing.cost import format_usd
from fleetcost.types import Price

DEFAULT_USER_CATALOG = Path("fleetcost-prices.json")


def register(sub: Any, name: str, help_text: str) -> None:
    parser = sub.add_parser(
        name,
        help=help_text,
        description="Show the price catalog (USD per million tokens), or import a LiteLLM- "
        "or genai-prices-format price list with `prices import FILE`.",
        usage="fleetcost prices [MODEL] [--catalog PATH] [--json]\n"
        "       fleetcost prices import FILE [--out PATH] [--json]",
    )
    parser.add_argument("words", nargs="*", metavar="MODEL | import FILE", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print JSON (money as decimal strings)")
    parser.add_argument(
        "--catalog", type=Path, default=None,
        help="a user catalog (e.g. one written by `prices import`) layered over the bundled one",
    )
    parser.add_argument(
        "--out", type=Path, default=None,
        help=f"with `import`: the user catalog to write (default ./{DEFAULT_USER_CATALOG})",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    words: list[str] = args.words
    if words and words[0] == "import":
        if len(words) != 2:
            return _fail("Give exactly one file to import: fleetcost prices import FILE.")
        return _import(Path(words[1]), args.out or DEFAULT_USER_CATALOG, as_json=args.json)
    if args.out is not None:
        return _fail("--out only applies to `fleetcost prices import FILE`.")
    if len(words) > 1:
        return _fail("Give at most one model name: fleetcost prices [MODEL].")
    catalog = _catalog(args.catalog)
    if words:
        return _show_one(catalog, words[0], as_json=args.json)
    return _show_all(catalog, as_json=args.json)


def _catalog(user: Path | None) -> Catalog:
    bundled = load_catalog()
    if user is None:
        return bundled
    layered = load_catalog(user)
    return bundled.with_overrides(dict(layered.items()))


def _show_one(catalog: Catalog, model: str, *, as_json: bool) -> int:
    price = catalog.get(model)
    if price is None:
        return _fail(
            f"No price for {model!r}; see `fleetcost prices` for known models "
            "or add one with `fleetcost prices import FILE`."
        )
    if as_json:
        _print_json({"model": price.model, "requested": model, **price_to_dict(price)})
        return 0
    entry = price_to_dict(price)
    shown = price.model if price.model == model else f"{model} -> {price.model}"
    print(shown)
    width = max(len(key) for key in entry)
    for key, value in entry.items():
        print(f"  {key:<{width}}  {value}")
    return 0


_COLUMNS = ("model", "provider", "tier", "input", "output", "cache_read", "write_5m", "write_1h",
            "batch", "context")


def _row(price: Price) -> tuple[str, ...]:
    def money(value: Decimal | None) -> str:
        return "-" if value is None else format_usd(value)

    return (
        price.model, price.provider, price.tier, money(price.input), money(price.output),
        money(price.cache_read), money(price.cache_write_5m), money(price.cache_write_1h),
        money(price.batch_discount) if price.batch_discount else "-",
        str(price.context_window) if price.context_window else "-",
    )


def _show_all(catalog: Catalog, *, as_json: bool) -> int:
    if as_json:
        _print_json([{"model": name, **price_to_dict(p)} for name, p in catalog.items()])
        return 0
    rows = [_COLUMNS, *(_row(price) for _, price in catalog.items())]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(f"\n{len(catalog)} models; rates in USD per million tokens.")
    return 0


def _import(source: Path, out: Path, *, as_json: bool) -> int:
    from fleetcost.pricing.importers import load_price_file, merge_into

    kind, prices = load_price_file(source)  # a ConfigError is reported by cli.main
    if not prices:
        return _fail(f"{source} holds no chat model with both an input and an output price.")
    result = merge_into(out, prices)
    if as_json:
        _print_json({
            "file": str(source), "format": kind, "out": str(out), "imported": len(prices),
            "added": result.added, "updated": result.updated, "total": result.total,
        })
    else:
        print(
            f"Imported {len(prices)} prices ({kind} format) into {out}: "
            f"{result.added} added, {result.updated} changed, {result.total} in the file. "
            f"Use it with `fleetcost prices --catalog {out}`."
        )
    return 0


def _print_json(value: object) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def _fail(message: str) -> int:
    print(f"fleetcost: {message}", file=sys.stderr)
    return 1
