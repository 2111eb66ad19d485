"""What the emulated model says: seeded text and tool calls of a chosen length.

The answer to a request is drawn from a `random.Random` seeded with the
request's digest and the run's seed, so the same request always gets the same
answer, streamed or not, and a different seed gives a different fleet.

Text is built from sentences of words that are each exactly one o200k token
with a leading space (" the", " system"), plus one-token punctuation, so that
a piece sequence of length N is a text of N tokens: the reported output count equals
the tokenizer's count of the text, and each streamed delta is one token. The
final text is encoded once more to make that equality a checked fact rather
than an assumption.

Tool-call arguments are generated from the tool's JSON Schema (types, enums,
required and some optional properties, nested objects and arrays); their
output count is the o200k count of the function name plus the arguments JSON.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import orjson

from fleetcost.emulator.prompt import Tokens

_VOCABULARY = (
    "the of and to in is that for it as with was on be by this are from at or an "
    "have not which but all were can has more one their will also would there been "
    "about other some into time only new these two may first then any use over such "
    "after where most well should could because each those through between same "
    "while under model system data value result request cost cache agent budget "
    "token price route answer task step plan report call user team order file code "
    "test list table rate limit check level group point number part case work state "
    "change need make take give find keep show look move start run read write send "
    "open close build set get add remove update return follow include provide offer "
    "small large good high low long short early late clear simple fast slow full "
    "final local public common current recent similar different important possible "
    "general specific total daily monthly price policy review service product market"
)
_ARGUMENT_CHARS = 12  # size of one streamed tool-argument fragment


@dataclass(frozen=True, slots=True)
class ToolCall:
    call_id: str
    name: str
    arguments: str  # JSON text


@dataclass(frozen=True, slots=True)
class Output:
    """One answer. `pieces` are the text's tokens; `tool` replaces text when set."""

    pieces: tuple[str, ...]
    tool: ToolCall | None
    tokens: int  # billed output tokens, reasoning included
    reasoning_tokens: int
    truncated: bool

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def fragments(self) -> list[str]:
        """The tool call's arguments as streamed, in fixed-size slices."""
        args = self.tool.arguments if self.tool else ""
        return [args[i : i + _ARGUMENT_CHARS] for i in range(0, len(args), _ARGUMENT_CHARS)]


class Writer:
    """Builds `Output`s; holds the vocabulary checked against the tokenizer."""

    def __init__(self, tokens: Tokens, median: float, sigma: float, default_max: int) -> None:
        self._tokens = tokens
        self._median = median
        self._sigma = sigma
        self._default_max = default_max
        # Keep only words that are one token both mid-sentence and capitalised
        # after a full stop, so a piece is always exactly one token.
        self._words = tuple(
            w for w in dict.fromkeys(_VOCABULARY.split())
            if all(tokens.count(form) == 1 for form in (" " + w, " " + w.capitalize(),
                                                        w.capitalize()))
        )
        self._sentences = _sentence_pool(self._words)

    def length(self, rng: random.Random) -> int:
        if not self._sigma:
            return max(1, round(self._median))
        return max(1, round(self._median * math.exp(rng.gauss(0.0, self._sigma))))

    def text(self, rng: random.Random, limit: int | None, reasoning: bool,
             want: int | None = None) -> Output:
        limit = limit or self._default_max
        want = self.length(rng) if want is None else want
        thinking = round(want * rng.uniform(0.5, 3.0)) if reasoning else 0
        thinking = min(thinking, limit)
        visible = min(want, limit - thinking)
        truncated = thinking + want > limit
        pieces = self._pieces(rng, visible, close=not truncated)
        counted = self._tokens.count("".join(pieces))
        while counted > visible and pieces:  # never expected; keeps the invariant
            pieces.pop()
            counted = self._tokens.count("".join(pieces))
        return Output(tuple(pieces), None, counted + thinking, thinking, truncated)

    def _pieces(self, rng: random.Random, count: int, close: bool) -> list[str]:
        """`count` one-token pieces: whole sentences from the pool, the last one cut."""
        rand, pool = rng.random, self._sentences
        pieces: list[str] = []
        while len(pieces) < count:
            pieces += pool[int(rand() * len(pool))]
        del pieces[count:]
        if pieces:
            pieces[0] = pieces[0].lstrip()
        # A finished answer ends on a full stop (unless that would glue two
        # marks into one token); a truncated one stops mid-sentence.
        if close and count > 2 and pieces[-2] not in (".", ","):
            pieces[-1] = "."
        return pieces

    def tool_call(self, rng: random.Random, tool: dict[str, Any], name: str, call_id: str,
                  reasoning: bool) -> Output:
        arguments = orjson.dumps(_value(rng, tool_schema(tool), self._words, 0)).decode()
        visible = self._tokens.count(name) + self._tokens.count(arguments)
        thinking = round(visible * rng.uniform(1.0, 4.0)) if reasoning else 0
        return Output((), ToolCall(call_id, name, arguments), visible + thinking, thinking, False)

    def sent_tokens(self, output: Output, events: int) -> int:
        """Output tokens delivered by the first `events` streamed body events."""
        if events <= 0:
            return output.reasoning_tokens
        if output.tool is None:
            return output.reasoning_tokens + min(events, len(output.pieces))
        sent = "".join(output.fragments()[: events - 1])
        return (output.reasoning_tokens + self._tokens.count(output.tool.name)
                + self._tokens.count(sent))


def _sentence_pool(words: tuple[str, ...], size: int = 2048) -> tuple[tuple[str, ...], ...]:
    """Sentences of 6-18 one-token words (sometimes with a comma), built once from a
    fixed seed: an answer then costs one random draw per sentence, not per word."""
    rng = random.Random(0)
    pool = []
    for _ in range(size):
        length = rng.randint(6, 18)
        sentence = [" " + rng.choice(words).capitalize()]
        sentence += [" " + rng.choice(words) for _ in range(length - 1)]
        if length > 9 and rng.random() < 0.4:
            sentence.insert(rng.randint(3, length - 3), ",")
        pool.append((*sentence, "."))
    return tuple(pool)


def tool_schema(tool: dict[str, Any]) -> dict[str, Any]:
    """The parameters schema of an OpenAI function tool or an Anthropic tool."""
    if isinstance(tool.get("function"), dict):
        schema = tool["function"].get("parameters")
    else:
        schema = tool.get("input_schema")
    return schema if isinstance(schema, dict) else {"type": "object", "properties": {}}


def _value(rng: random.Random, schema: Any, words: tuple[str, ...], depth: int) -> Any:
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return rng.choice(schema["enum"])
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return _value(rng, schema[key][0], words, depth)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    return _by_type(rng, kind, schema, words, depth)


def _by_type(rng: random.Random, kind: str, schema: dict[str, Any],
             words: tuple[str, ...], depth: int) -> Any:
    if kind in ("integer", "number"):
        low = _bound(schema, "minimum", 0.0)
        high = max(low, _bound(schema, "maximum", low + 100.0))
        if kind == "integer":
            return rng.randint(math.ceil(low), max(math.ceil(low), math.floor(high)))
        return round(rng.uniform(low, high), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "array":
        if depth > 3:
            return []
        size = max(int(_bound(schema, "minItems", 1)), rng.randint(1, 3))
        return [_value(rng, schema.get("items", {}), words, depth + 1) for _ in range(size)]
    if kind == "object":
        return {} if depth > 3 else _object(rng, schema, words, depth)
    return " ".join(rng.choice(words) for _ in range(rng.randint(1, 4)))


def _bound(schema: dict[str, Any], key: str, default: float) -> float:
    """A numeric schema keyword; a malformed one is ignored rather than fatal."""
    value = schema.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


def _object(rng: random.Random, schema: dict[str, Any], words: tuple[str, ...],
            depth: int) -> dict[str, Any]:
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return {}
    required = set(schema.get("required") or ())
    return {
        name: _value(rng, sub, words, depth + 1)
        for name, sub in properties.items()
        if name in required or rng.random() < 0.5
    }
