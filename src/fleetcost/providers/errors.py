"""Untrusted input at the adapter boundary: client requests and provider replies.

Both adapters validate the client's JSON before any pipeline stage reads it,
so a malformed body becomes a 400 naming the field (`messages[2].role`)
instead of a `KeyError` deep in token counting or the cache key. The checks
here are the shared vocabulary: each takes the value, its path for the error
message, and either returns it typed or raises `BadRequest`.

Provider replies are untrusted in the other direction: a broken upstream body
must become an `UpstreamError` (502), and usage numbers that are missing,
null or of the wrong type count as zero rather than crash the accounting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from fleetcost.errors import BadRequest, UpstreamError

# Body `metadata` keys that fleetcost reads for attribution (the same meaning
# as the X-Fleetcost-* headers). They never travel upstream: Anthropic accepts
# only `user_id` in metadata, and OpenAI accepts metadata only with
# `store: true` (where ours would also eat into its 16-key limit).
FLEETCOST_METADATA_KEYS = frozenset({"tenant", "agent", "session", "task", "parent",
                                     "latency"})


def load_object(body: bytes) -> dict[str, Any]:
    """Decode the client's body; anything but a JSON object is a bad request."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"Request body must be a JSON object, not {type_name(data)}.")
    return data


def type_name(value: Any) -> str:
    """JSON's name for a Python value, so messages speak the client's language."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def wrong_type(path: str, expected: str, value: Any) -> BadRequest:
    return BadRequest(f"'{path}' must be {expected}, not {type_name(value)}.", param=path)


def required_string(obj: dict[str, Any], key: str, path: str) -> str:
    if key not in obj or obj[key] is None:
        raise BadRequest(f"'{path}' is required.", param=path)
    value = obj[key]
    if not isinstance(value, str):
        raise wrong_type(path, "a string", value)
    if not value:
        raise BadRequest(f"'{path}' must not be empty.", param=path)
    return value


def optional_string(obj: dict[str, Any], key: str, path: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise wrong_type(path, "a string", value)
    return value


def optional_bool(obj: dict[str, Any], key: str, path: str) -> bool | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, bool):
        raise wrong_type(path, "a boolean", value)
    return value


def optional_positive_int(obj: dict[str, Any], key: str, path: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    # bool is an int subclass; `true` is not a token count.
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_type(path, "a positive integer", value)
    if value < 1:
        raise BadRequest(f"'{path}' must be a positive integer, not {value}.", param=path)
    return value


def optional_object(obj: dict[str, Any], key: str, path: str) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, dict):
        raise wrong_type(path, "an object", value)
    return value


def object_list(value: Any, path: str, *, non_empty: bool = False) -> list[dict[str, Any]]:
    """A JSON array whose every item is an object (messages, tools, content parts)."""
    if not isinstance(value, list):
        raise wrong_type(path, "an array", value)
    if non_empty and not value:
        raise BadRequest(f"'{path}' must contain at least one item.", param=path)
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise wrong_type(f"{path}[{i}]", "an object", item)
    return value


def check_parts(parts: Any, path: str) -> None:
    """Content parts (OpenAI) and content blocks (Anthropic) share this much shape:
    objects with a string `type`, text parts carrying a string `text`, and an
    optional `cache_control` object that the cache stage reads."""
    for i, part in enumerate(object_list(parts, path)):
        where = f"{path}[{i}]"
        required_string(part, "type", f"{where}.type")
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            raise wrong_type(f"{where}.text", "a string", part.get("text"))
        optional_object(part, "cache_control", f"{where}.cache_control")


def string_metadata(meta: dict[str, Any] | None) -> dict[str, str]:
    """The string-valued entries of body `metadata`; identify reads fleetcost's keys."""
    if not meta:
        return {}
    return {k: v for k, v in meta.items() if isinstance(v, str)}


def without_fleetcost_metadata(body: dict[str, Any]) -> dict[str, Any]:
    """A shallow copy of `body` whose `metadata` lacks fleetcost's own keys.

    `metadata` is dropped altogether when nothing else is left: an absent
    field is the one form every provider accepts without conditions.
    """
    meta = body.get("metadata")
    out = dict(body)
    if not isinstance(meta, dict) or not FLEETCOST_METADATA_KEYS.intersection(meta):
        return out
    rest = {k: v for k, v in meta.items() if k not in FLEETCOST_METADATA_KEYS}
    if rest:
        out["metadata"] = rest
    else:
        del out["metadata"]
    return out


def count(value: Any) -> int:
    """A token count from a provider's usage block: missing, null, negative or
    non-integer values count as zero instead of failing the accounting."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return 0


def sub(mapping: Any, key: str) -> Mapping[str, Any]:
    """A nested usage object (`prompt_tokens_details`, `cache_creation`), or {}."""
    if isinstance(mapping, Mapping):
        value = mapping.get(key)
        if isinstance(value, Mapping):
            return value
    return {}


def upstream_object(body: bytes, provider: str) -> dict[str, Any]:
    """Decode a provider's reply; garbage from upstream is a 502, never a 500."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamError(f"{provider} returned a body that is not JSON.") from None
    if not isinstance(data, dict):
        raise UpstreamError(f"{provider} returned JSON that is not an object.")
    return data


def lower_headers(client_headers: Mapping[str, str]) -> dict[str, str]:
    """Header names are case-insensitive; plain dicts from tests are not."""
    return {str(k).lower(): str(v) for k, v in client_headers.items()}
