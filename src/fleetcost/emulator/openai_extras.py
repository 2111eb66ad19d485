"""Two OpenAI request options the emulator honours: structured outputs and logprobs.

`response_format` of type `json_schema` makes the answer a JSON text that
conforms to the schema (OpenAI guarantees conformance for strict schemas);
`json_object` makes it a JSON object (`{"answer": ...}`). Both are drawn from
the request's seeded generator, so they are as deterministic as plain text.

`logprobs: true` adds `choices[0].logprobs.content`, one entry per output
token in OpenAI's shape (`token`, `logprob`, `bytes`, `top_logprobs` with
`top_logprobs` alternatives). The values come from the request digest: each
request gets its own confidence level, so some answers look sure of
themselves and some do not, which is what a logprob gate needs to be tested.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from fleetcost.emulator.generate import Output
from fleetcost.emulator.plan import Context

_PIECE_CHARS = 4  # a streamed slice of a JSON answer, about one token
_ALTERNATIVES = (" the", " a", " of", " and", " to", " in", " that", " it", " is", " for")


def structured_output(ctx: Context, rng: random.Random, body: dict[str, Any]) -> Output | None:
    """The answer as JSON when `response_format` asks for it, else None."""
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        call = ctx.writer.tool_call(rng, {"input_schema": schema if isinstance(schema, dict)
                                          else {"type": "object"}}, "", "", False)
        text = call.tool.arguments if call.tool else "{}"
    elif fmt.get("type") == "json_object":
        words = ctx.writer.text(rng, 24, False).text
        text = orjson.dumps({"answer": words.strip()}).decode()
    else:
        return None
    pieces = tuple(text[i : i + _PIECE_CHARS] for i in range(0, len(text), _PIECE_CHARS))
    return Output(pieces, None, ctx.tokens.count(text), 0, False)


def wants_logprobs(body: dict[str, Any]) -> tuple[bool, int]:
    top = body.get("top_logprobs")
    return body.get("logprobs") is True, top if isinstance(top, int) and 0 < top <= 20 else 0


def token_logprobs(digest: bytes, pieces: tuple[str, ...], top: int) -> list[dict[str, Any]]:
    """One OpenAI logprob entry per piece; mean logprob varies by request in [-2, 0]."""
    scale = 2.0 * digest[0] / 255
    rng = random.Random(digest + b"logprobs")
    entries = []
    for piece in pieces:
        value = round(-scale * 2 * rng.random(), 6)
        alternatives = [{"token": piece, "logprob": value, "bytes": list(piece.encode())}]
        alternatives += [
            {"token": alt, "logprob": round(value - 1.0 - i, 6), "bytes": list(alt.encode())}
            for i, alt in enumerate(a for a in _ALTERNATIVES if a != piece)
        ][: max(0, top - 1)]
        entries.append({"token": piece, "logprob": value, "bytes": list(piece.encode()),
                        "top_logprobs": alternatives[:top]})
    return entries
