"""A prompt as the prefix caches see it: an ordered list of hashed blocks.

Providers read a prompt as tools, then system, then messages, and cache on
exact prefixes of that sequence. Splitting a request into the same blocks
(each tool, each system block, each message or content part) and hashing
each one lets the gateway find where two prompts stop sharing a prefix by
comparing a few dozen 8-byte digests, without keeping or re-reading old
request bodies. `cache_control` markers are left out of the hashes (they do
not change what the model reads) but remembered as breakpoints.

Token counts per block use the o200k tokenizer (exact for OpenAI's current
models, a stand-in of the right size for others) and are memoised by block
digest in a bounded map owned by the caller: an agent resends its history on
every turn, so only the newest blocks are ever counted.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson

from fleetcost.pricing.encodings import encoded_length
from fleetcost.pricing.tokens import REPLY_PRIMING, count_messages

ENCODING = "o200k_base"
# Any o200k model: the schema rule's counts, in the tokenizer the caches use.
SCHEMA_MODEL = "gpt-4o"
# Chat framing per message: start, separator and end markers plus the role's
# one token, as OpenAI counts it (3 per message plus its string fields).
MESSAGE_FRAMING = 4
STABLE_REGIONS = ("tools", "system")
Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Block:
    digest: bytes
    tokens: int
    region: str  # tools | system | messages
    path: Path  # where the block sits in the request body
    ttl: str | None  # the block's cache_control ttl ("5m", "1h"), None if unmarked
    text: str | None  # kept for stable blocks only, to explain a break
    auto: bool = False  # the marker was added by the gateway, not sent by the client


@dataclass(frozen=True, slots=True)
class History:
    """All messages but the last, as one JSON array: how many, its length, its hash.

    The next prompt of a session resends them; one serialisation of its own
    array and one incremental digest over it (read at the old length, then
    finished) prove it, and their blocks are reused instead of rebuilt.
    """

    count: int
    size: int
    key: bytes


@dataclass(frozen=True, slots=True)
class Prompt:
    blocks: tuple[Block, ...]
    ends: tuple[int, ...]  # cumulative tokens at each block's end
    prefix_hash: str | None  # digest of the stable region (tools + system)
    system_tokens: int
    breakpoints: tuple[int, ...]  # indices of the blocks carrying a cache marker
    history: History | None = None

    @property
    def tokens(self) -> int:
        return self.ends[-1] if self.ends else 0

    @property
    def stable_end(self) -> int:
        """Index just past the last tools/system block."""
        return sum(1 for b in self.blocks if b.region in STABLE_REGIONS)


def _bare(part: Any) -> Any:
    if isinstance(part, dict) and "cache_control" in part:
        return {k: v for k, v in part.items() if k != "cache_control"}
    return part


def _ttl(part: Any) -> str | None:
    control = part.get("cache_control") if isinstance(part, dict) else None
    if not isinstance(control, dict):
        return None
    return str(control.get("ttl") or "5m")


def _text_of(part: Any) -> str:
    """The text a part puts before the model (what the caches count), not its JSON."""
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return ""
    kind = part.get("type")
    if kind == "text" and isinstance(part.get("text"), str):
        return str(part["text"])
    if kind == "tool_use":
        return str(part.get("name", "")) + orjson.dumps(part.get("input")).decode()
    if kind == "tool_result":
        inner = part.get("content")
        if isinstance(inner, list):
            return "".join(_text_of(p) for p in inner)
        return str(inner or "")
    return orjson.dumps(_bare(part)).decode()


class _Builder:
    def __init__(self, memo: MutableMapping[bytes, Any], memo_max: int, keep_chars: int) -> None:
        self.memo, self.memo_max, self.keep = memo, memo_max, keep_chars
        self.blocks: list[Block] = []

    def remember(self, key: bytes, value: Any) -> None:
        if len(self.memo) >= self.memo_max:
            del self.memo[next(iter(self.memo))]
        self.memo[key] = value

    def add(self, raw: bytes, text: Callable[[], str], region: str, path: Path,
            ttl: str | None, framing: int = 0) -> None:
        digest = hashlib.blake2b(raw, digest_size=8).digest()
        tokens = self.memo.get(digest)
        stable = region in STABLE_REGIONS
        kept = text()[: self.keep] if stable else None
        if tokens is None:
            tokens = encoded_length(kept if kept is not None else text(), ENCODING) + framing
            self.remember(digest, tokens)
        self.blocks.append(Block(digest, tokens, region, path, ttl, kept))

    def add_list(self, key: str, items: list[Any], region: str, schema: bool = False) -> None:
        """Tools or system blocks: one block each, the whole list memoised at once
        (an agent sends the same tools and system prompt on every call)."""
        raw = orjson.dumps(items)
        whole = (b"S" if schema else b"L") + hashlib.blake2b(raw, digest_size=8).digest()
        known = self.memo.get(whole)
        if known is None:
            start = len(self.blocks)
            for i, part in enumerate(items):
                self.add(orjson.dumps(_bare(part)), functools.partial(_text_of, part),
                         region, (key, i), _ttl(part))
            if schema:
                self.blocks[start:] = _schema_counted(self.blocks[start:], items)
            known = tuple(self.blocks[start:])
            self.remember(whole, known)
        else:
            self.blocks.extend(known)


def _schema_counted(blocks: list[Block], tools: list[Any]) -> list[Block]:
    """Tool blocks counted by OpenAI's function-schema rule (what its usage reports).

    The rule adds a fixed overhead once per list; counting each tool alone
    repeats it, so it is taken back out of all but the first tool and the
    last absorbs any rounding, making the blocks sum to the whole list's count.
    """
    def rule(items: list[Any]) -> int:
        return count_messages([], SCHEMA_MODEL, tools=items).tokens - REPLY_PRIMING

    whole = rule(tools)
    singles = [rule([tool]) for tool in tools]
    overhead = (sum(singles) - whole) // (len(tools) - 1) if len(tools) > 1 else 0
    counts = [singles[0]] + [n - overhead for n in singles[1:]]
    counts[-1] += whole - sum(counts)
    return [dataclasses.replace(b, tokens=n) for b, n in zip(blocks, counts, strict=True)]


def prompt_of(request: Any, memo: MutableMapping[bytes, Any], memo_max: int = 65536,
              keep_chars: int = 65536, schema_tools: bool = False,
              previous: Prompt | None = None) -> Prompt:
    """Blocks of a `ChatRequest` (tools, system, messages) with their token ends.

    With the session's `previous` prompt, the messages it already had are
    taken from it when they are byte-identical (see `History`).
    """
    b = _Builder(memo, memo_max, keep_chars)
    if request.tools:
        b.add_list("tools", request.tools, "tools", schema_tools)
    system = request.system
    if isinstance(system, str) and system:
        b.add(system.encode(), lambda: system, "system", ("system",), None)
    elif isinstance(system, list):
        b.add_list("system", system, "system")
    messages = request.messages
    history, start = _history(messages, previous)
    if start and previous is not None and previous.history is not None:
        # Message blocks come last, one per message, so the resent ones are a slice.
        first = len(previous.blocks) - previous.history.count - 1
        # A marker the gateway added last time is not in this request's body.
        b.blocks += [dataclasses.replace(x, ttl=None, auto=False) if x.auto else x
                     for x in previous.blocks[first : first + start]]
    leading = all(x.region != "messages" for x in b.blocks)
    for i in range(start, len(messages)):
        message = messages[i]
        role = message.get("role") if isinstance(message, dict) else None
        leading = leading and role in ("system", "developer")
        _add_message(b, i, message, "system" if leading else "messages")
    whole = request.body.get("cache_control") if isinstance(request.body, dict) else None
    if isinstance(whole, dict) and b.blocks and b.blocks[-1].ttl is None:
        # A top-level marker (automatic mode) marks the last block.
        b.blocks[-1] = dataclasses.replace(b.blocks[-1], ttl=str(whole.get("ttl") or "5m"))
    return dataclasses.replace(_finish(b.blocks), history=history)


def _history(messages: list[Any], previous: Prompt | None) -> tuple[History | None, int]:
    """This prompt's `History`, and how many leading messages `previous` already had."""
    if len(messages) < 2:
        return None, 0
    body = memoryview(orjson.dumps(messages[:-1]))[:-1]  # "[m0,m1,...": no closing bracket
    digest = hashlib.blake2b(digest_size=16)
    old = previous.history if previous is not None else None
    start = 0
    if old is not None and old.size <= len(body) and bytes(body[old.size : old.size + 1]) in (
            b",", b""):
        digest.update(body[: old.size])
        if digest.digest() == old.key:
            start = old.count
        digest.update(body[old.size :])
    else:
        digest.update(body)
    return History(len(messages) - 1, len(body), digest.digest()), start


def _add_message(b: _Builder, index: int, message: Any, region: str) -> None:
    """One block per message: its JSON without cache markers, its text for counting.

    A marker on any part of the message marks the message's block (for
    breakpoint caches, the lookback then counts messages, not content parts).
    """
    raw = orjson.dumps(message)
    ttl = None
    if b"cache_control" in raw and isinstance(message, dict):
        ttl = _ttl(message)
        content = message.get("content")
        if isinstance(content, list):
            parts = [_bare(p) for p in content]
            ttl = next((t for p in content if (t := _ttl(p)) is not None), ttl)
            raw = orjson.dumps({**_bare(message), "content": parts})
        else:
            raw = orjson.dumps(_bare(message))
    b.add(raw, functools.partial(_message_text, message), region, ("messages", index), ttl,
          MESSAGE_FRAMING)


def _message_text(message: Any) -> str:
    if not isinstance(message, dict):
        return ""
    parts: list[str] = []
    for key, value in message.items():
        if key == "content":
            items = value if isinstance(value, list) else [value]
            parts += (_text_of(p) for p in items if p is not None)
        elif key == "tool_calls" and isinstance(value, list):
            for call in value:
                function = (call.get("function") if isinstance(call, dict) else None) or {}
                args = function.get("arguments", "")
                parts += (str(function.get("name", "")),
                          args if isinstance(args, str) else orjson.dumps(args).decode())
        elif key != "role":
            parts.append(value if isinstance(value, str) else orjson.dumps(value).decode())
    return "".join(parts)


def _finish(blocks: list[Block]) -> Prompt:
    ends = tuple(itertools.accumulate(b.tokens for b in blocks))
    stable = [b.digest for b in blocks if b.region in STABLE_REGIONS]
    prefix_hash = None
    if stable:
        prefix_hash = hashlib.blake2b(b"".join(stable), digest_size=8).hexdigest()
    system_tokens = sum(b.tokens for b in blocks if b.region == "system")
    marked = tuple(i for i, b in enumerate(blocks) if b.ttl is not None)
    return Prompt(tuple(blocks), ends, prefix_hash, system_tokens, marked)
