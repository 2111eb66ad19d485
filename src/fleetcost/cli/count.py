"""`fleetcost count`: how many prompt tokens a text or a chat request costs, offline.

    fleetcost count --model M [FILE | -] [--json]

FILE (or stdin) may be plain text, a JSON list of messages, or a JSON object
with `messages` and optionally `tools` and `system` (an OpenAI or Anthropic
request body works as is). A JSON document of any other shape, or a JSON
string, is counted as text.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from fleetcost.errors import BadRequest


def register(sub: Any, name: str, help_text: str) -> None:
    parser = sub.add_parser(
        name,
        help=help_text,
        description="Count prompt tokens offline: exact for OpenAI models on plain text, "
        "with a stated error bound for chat framing and for other providers.",
    )
    parser.add_argument("--model", required=True, help="model name, e.g. gpt-4o, claude-sonnet-4-5")
    parser.add_argument(
        "file", nargs="?", default="-", metavar="FILE",
        help="a text file, a messages JSON, or - for stdin (the default)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fleetcost.pricing.tokens import TokenCount, count_messages, count_text

    raw = _read(args.file)
    request = _as_request(raw)
    result: TokenCount
    if request is None:
        kind = "text"
        result = count_text(raw, args.model)
    else:
        kind = "messages"
        messages, tools, system = request
        result = count_messages(messages, args.model, tools=tools, system=system)
    if args.json:
        document = {
            "model": args.model, "kind": kind, "tokens": result.tokens,
            "encoding": result.encoding, "exact": result.exact,
            "error_bound": result.error_bound, "lower_bound": result.lower_bound,
            "upper_bound": result.upper_bound, "profile": result.profile,
        }
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    if result.exact:
        print(f"{result.tokens} tokens ({kind}, {result.encoding}, exact)")
    else:
        how = f"estimated with {result.encoding}"
        if result.profile:
            how += f", {result.profile} profile"
        print(
            f"{result.tokens} tokens ({kind}, {how}; ±{result.error_bound:.1%}: "
            f"{result.lower_bound}-{result.upper_bound})"
        )
    return 0


def _read(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadRequest(
            f"No such file: {source}; give a text or JSON file, or - for stdin."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Cannot read {source} as UTF-8 text ({exc}).") from None


Request = tuple[list[dict[str, Any]], list[dict[str, Any]] | None, Any]


def _as_request(raw: str) -> Request | None:
    """(messages, tools, system) when `raw` is a chat request in JSON, else None."""
    stripped = raw.lstrip()
    if not stripped.startswith(("[", "{")):
        return None
    try:
        data = orjson.loads(stripped)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, list) and all(isinstance(m, dict) for m in data):
        return data, None, None
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        tools = data.get("tools")
        return data["messages"], tools if isinstance(tools, list) else None, data.get("system")
    return None
