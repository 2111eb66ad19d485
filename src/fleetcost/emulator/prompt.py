"""Prompts as token sequences: what the prefix caches compare.

A provider's prefix cache matches on tokens, not on JSON, so the emulator
serialises each prompt in the order the model reads it (tools, then system,
then messages) into o200k token ids and hashes that sequence. Two requests
that share a long system prompt and their early turns therefore share a
prefix even when their last turns differ, and changing one early character
invalidates everything after it, as it does upstream.

The serialisation follows OpenAI's chat format closely enough for counting
(`<|im_start|>role<|im_sep|>content<|im_end|>` per message, three tokens of
reply priming): 3 tokens per message plus its string fields, as in OpenAI's
own counting recipe, so for text messages the count equals
`pricing.tokens.count_messages` (which the gateway estimates with). Tool
schemas are hashed as their JSON but counted by that module's rule. All
counts use o200k, also for older cl100k models.

Anthropic prompts use the same tokenizer and framing -- Claude's tokenizer
is not public, so the emulator's Anthropic counts are o200k counts of the
serialised prompt, a stand-in of the right size rather than Claude's exact
numbers. Images count a fixed number of
tokens (85 for OpenAI `detail: low`, 765 otherwise; 1,600 for Anthropic),
since their pixel sizes are not known here.

Encoded segments are memoised by text: an agent resends its whole history on
every turn, and only the newest message needs the tokenizer.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from fleetcost.pricing.encodings import get_encoding
from fleetcost.pricing.tokens import count_messages

# Chat-format markers (o200k's ids for <|im_start|>, <|im_end|>, <|im_sep|>).
_START = array("I", [200264]).tobytes()
_END = array("I", [200265]).tobytes()
_SEP = array("I", [200266]).tobytes()
_TOOLS = array("I", [200267]).tobytes()
_IMAGE = 200268
# The encoder refuses texts of a million characters; longer ones go in parts.
_MAX_CHARS = 200_000
_REPLY_PRIMING = 3
OPENAI_CACHE_MIN = 1024
OPENAI_CACHE_STEP = 128


class Tokens:
    """o200k encoder with a bounded memo of encoded segments (ids as uint32 bytes).

    The memo is bounded by size (text plus ids), oldest first out, so a
    benchmark of endless distinct prompts cannot grow it without limit.
    """

    def __init__(self, max_bytes: int = 64 << 20) -> None:
        self._encoding = get_encoding("o200k_base")
        self._encode = self._encoding.encode_ordinary
        self._memo: dict[str, bytes] = {}
        self._tools: dict[tuple[str, bytes], int] = {}
        self._max = max_bytes
        self._size = 0

    def segment(self, text: str) -> bytes:
        hit = self._memo.get(text)
        if hit is None:
            if len(text) > _MAX_CHARS:
                ids = [t for i in range(0, len(text), _MAX_CHARS)
                       for t in self._encode(text[i : i + _MAX_CHARS])]
            else:
                ids = self._encode(text)
            hit = array("I", ids).tobytes()
            self._size += len(text) + len(hit)
            while self._size > self._max and self._memo:
                old = next(iter(self._memo))
                self._size -= len(old) + len(self._memo.pop(old))
            self._memo[text] = hit
        return hit

    def openai_tools(self, model: str, tools: list[dict[str, Any]]) -> int:
        """Tool-schema tokens by the gateway's rule (`pricing.tokens`), memoised: an
        agent sends the same tools on every turn."""
        key = (model, orjson.dumps(tools))
        hit = self._tools.get(key)
        if hit is None:
            hit = count_messages([], model, tools=tools).tokens - _REPLY_PRIMING
            if len(self._tools) >= 1024:
                del self._tools[next(iter(self._tools))]
            self._tools[key] = hit
        return hit

    def count(self, text: str) -> int:
        """Exact o200k count, not memoised (generated text is seen once)."""
        return len(self._encode(text)) if text else 0

    def ids(self, text: str) -> list[int]:
        return self._encode(text) if text else []

    def decode(self, ids: Iterable[int]) -> str:
        return self._encoding.decode(list(ids))


def image_tokens(count: int, key: str) -> bytes:
    """A stand-in for an image: its identity first, then filler up to `count`."""
    ident = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=3).digest(), "big")
    return array("I", [ident, *([_IMAGE] * (count - 1))]).tobytes()


def _dump(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass(frozen=True, slots=True)
class Block:
    """One cacheable unit of an Anthropic prompt and the breakpoint on it, if any."""

    tokens: bytes
    ttl: str | None = None


def openai_sequence(tok: Tokens, messages: list[dict[str, Any]],
                    tools: list[dict[str, Any]] | None) -> tuple[bytes, bytes]:
    """(tools part, messages part) of the prompt as the prefix cache reads it."""
    tool_parts: list[bytes] = []
    for tool in tools or ():
        tool_parts += (_TOOLS, tok.segment(_dump(tool)))
    parts: list[bytes] = []
    for message in messages:
        parts += (_START, tok.segment(str(message.get("role"))), _SEP)
        for key, value in message.items():
            if key == "content":
                parts += _openai_content(tok, value)
            elif key == "tool_calls" and isinstance(value, list):
                for call in value:
                    parts += _openai_call(tok, call.get("function") or {})
            elif key == "function_call" and isinstance(value, dict):
                parts += _openai_call(tok, value)
            elif key != "role" and isinstance(value, str):
                # name, tool_call_id: the model reads them too (a name costs one more).
                parts.append(tok.segment(value) + (_SEP if key == "name" else b""))
        parts.append(_END)
    parts += (_START, tok.segment("assistant"), _SEP)
    return b"".join(tool_parts), b"".join(parts)


def _openai_call(tok: Tokens, function: dict[str, Any]) -> list[bytes]:
    arguments = function.get("arguments", "")
    if not isinstance(arguments, str):
        arguments = _dump(arguments)
    return [tok.segment(str(function.get("name", ""))), tok.segment(arguments)]


def _openai_content(tok: Tokens, content: Any) -> list[bytes]:
    if isinstance(content, str):
        return [tok.segment(content)]
    if not isinstance(content, list):
        return []
    out = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            out.append(tok.segment(part["text"]))
        elif kind == "image_url":
            image = part.get("image_url") or {}
            size = 85 if image.get("detail") == "low" else 765
            out.append(image_tokens(size, str(image.get("url"))))
        else:
            out.append(tok.segment(_dump(part)))
    return out


def openai_prefix_keys(model: str, sequence: bytes) -> list[bytes]:
    """Digests of the prefixes OpenAI can cache: 1,024 tokens, then every 128 more."""
    count = len(sequence) // 4
    if count < OPENAI_CACHE_MIN:
        return []
    view = memoryview(sequence)
    digest = hashlib.blake2b(model.encode() + b"\0", digest_size=16)
    digest.update(view[: OPENAI_CACHE_MIN * 4])
    keys = [digest.digest()]
    for end in range(OPENAI_CACHE_MIN + OPENAI_CACHE_STEP, count + 1, OPENAI_CACHE_STEP):
        digest.update(view[(end - OPENAI_CACHE_STEP) * 4 : end * 4])
        keys.append(digest.digest())
    return keys


def anthropic_blocks(tok: Tokens, body: dict[str, Any]) -> list[Block]:
    """Tools, system blocks and message content blocks, in the order Claude reads them."""
    blocks = [Block(_TOOLS + tok.segment(_dump(_without_cache(tool))), _ttl(tool))
              for tool in body.get("tools") or ()]
    system = body.get("system")
    if isinstance(system, str) and system:
        blocks.append(Block(tok.segment(system)))
    elif isinstance(system, list):
        blocks += [Block(tok.segment(b.get("text", "")), _ttl(b)) for b in system]
    for message in body["messages"]:
        head = _START + tok.segment(str(message.get("role"))) + _SEP
        content = message.get("content")
        if isinstance(content, str):
            blocks.append(Block(head + tok.segment(content) + _END))
            continue
        inner = [Block(_anthropic_block(tok, b), _ttl(b)) for b in content or ()]
        if not inner:
            inner = [Block(b"")]
        inner[0] = Block(head + inner[0].tokens, inner[0].ttl)
        inner[-1] = Block(inner[-1].tokens + _END, inner[-1].ttl)
        blocks += inner
    return blocks


def _anthropic_block(tok: Tokens, block: dict[str, Any]) -> bytes:
    kind = block.get("type")
    if kind == "text":
        return tok.segment(block.get("text", ""))
    if kind == "image":
        return image_tokens(1600, _dump(block.get("source")))
    if kind == "tool_use":
        return tok.segment(str(block.get("name", ""))) + tok.segment(_dump(block.get("input")))
    if kind == "tool_result":
        inner = block.get("content")
        if isinstance(inner, list):
            return b"".join(_anthropic_block(tok, b) for b in inner)
        return tok.segment(str(inner or ""))
    if kind in ("thinking", "redacted_thinking"):
        return tok.segment(str(block.get("thinking") or block.get("data") or ""))
    return tok.segment(_dump(_without_cache(block)))


def _ttl(block: dict[str, Any]) -> str | None:
    control = block.get("cache_control")
    if not isinstance(control, dict):
        return None
    return str(control.get("ttl") or "5m")


def _without_cache(block: dict[str, Any]) -> dict[str, Any]:
    if "cache_control" not in block:
        return block
    return {k: v for k, v in block.items() if k != "cache_control"}


def chain_keys(model: str, blocks: list[Block]) -> tuple[list[int], list[bytes]]:
    """Cumulative token counts and prefix digests at the end of every block."""
    digest = hashlib.blake2b(model.encode() + b"\1", digest_size=16)
    ends: list[int] = []
    keys: list[bytes] = []
    total = 0
    for block in blocks:
        total += len(block.tokens) // 4
        digest.update(block.tokens)
        ends.append(total)
        keys.append(digest.digest())
    return ends, keys
