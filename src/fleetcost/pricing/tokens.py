"""Offline token counts for texts and chat requests, with an honest error bound.

A count is exact only for a plain text on an OpenAI model, where we run the
model's own tokenizer. A chat request adds framing that no tokenizer sees,
so we follow OpenAI's published rule (openai-cookbook, "How to count tokens
with tiktoken"), which matched the API's `prompt_tokens` on its examples:

* 3 tokens per message (`<|start|>{role}<|message|>` ... `<|end|>`), plus the
  tokens of every string field of the message (role, content, name,
  tool_call_id), plus 1 more when the message has a `name`;
* 3 tokens to prime the reply (`<|start|>assistant<|message|>`);
* tool schemas: per function 7 tokens (10 on cl100k models) + the tokens of
  "name:description"; 3 for a non-empty property list; per property 3 +
  "name:type:description" (+ 3 per enum item and its tokens, -3 once per
  enum); 12 once after the functions. Nested schemas (objects, arrays) are
  counted as their JSON, which that rule does not cover.
* tool calls in assistant messages: the function name and the arguments.

Every count carries `error_bound`, a relative half-width: the absolute slack
of each approximated component divided by the total. Framing tokens carry a
quarter of themselves (the rule is verified on GPT-3.5, GPT-4 and GPT-4o and
assumed for later models), tool schemas 10%, images all of their estimate
(765 tokens: a 1024x1024 image at high detail is 85 + 4 x 170; real images
range from 85 to ~1,105), parts we cannot read (audio, files) all of their
JSON length. Estimated models (Claude, Gemini, open weights) add their
profile's bound on the text (see `encodings`).

The bound is meant for budget reservation: `upper_bound` is a count the real
one should not exceed. Speed: a 4 KB, 27-message conversation takes 0.2-0.5 ms
on the 2-core build machines (one tokenizer call per string field), so it can
run on the request path.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import orjson

from fleetcost.pricing.encodings import (
    ESTIMATE_BASE,
    EstimateProfile,
    encoded_length,
    encoding_for,
    estimate_profile,
)

PER_MESSAGE: Final = 3
PER_NAME: Final = 1
REPLY_PRIMING: Final = 3
FRAMING_SLACK: Final = 0.25
TOOLS_SLACK: Final = 0.10
OPENAI_IMAGE_TOKENS: Final = 765
OPENAI_IMAGE_LOW: Final = 85
_IMAGE_PARTS: Final = frozenset({"image", "image_url", "input_image"})
_TEXT_PARTS: Final = frozenset({"text", "input_text", "output_text"})
_BLOB_KEYS: Final = frozenset({"data", "file_data", "source"})


@dataclasses.dataclass(frozen=True, slots=True)
class TokenCount:
    """A token count and how much to trust it.

    `encoding` is the tokenizer that was run; `profile` names the estimate
    profile when the model's own tokenizer is unknown (then `exact` is false).
    """

    tokens: int
    encoding: str
    exact: bool
    error_bound: float
    profile: str | None = None

    @property
    def upper_bound(self) -> int:
        return math.ceil(self.tokens * (1 + self.error_bound))

    @property
    def lower_bound(self) -> int:
        return max(0, math.floor(self.tokens * (1 - self.error_bound)))


@dataclasses.dataclass(slots=True)
class _Tally:
    """Tokens by how sure we are of them; turned into a `TokenCount` at the end."""

    text: int = 0  # run through the tokenizer
    framing: int = 0  # chat-format constants
    tools: int = 0  # tool schemas, by the cookbook rule or their JSON
    fixed: int = 0  # images: a fixed estimate each
    unknown: int = 0  # parts counted as JSON because we cannot read them


def count_text(text: str, model: str, *, profile: EstimateProfile | None = None) -> TokenCount:
    """Tokens of a plain text, exact for OpenAI models."""
    encoding = encoding_for(model)
    if encoding != "estimate":
        return TokenCount(encoded_length(text, encoding), encoding, True, 0.0)
    chosen = profile or estimate_profile(model)
    tokens = math.ceil(encoded_length(text, ESTIMATE_BASE) * chosen.multiplier)
    bound = chosen.error_bound if tokens else 0.0
    return TokenCount(tokens, ESTIMATE_BASE, False, bound, chosen.name)


def count_messages(
    messages: Sequence[Mapping[str, Any]],
    model: str,
    tools: Sequence[Mapping[str, Any]] | None = None,
    system: str | Sequence[Mapping[str, Any]] | None = None,
    *,
    profile: EstimateProfile | None = None,
) -> TokenCount:
    """Prompt tokens of a chat request in OpenAI or Anthropic shape.

    `system` is Anthropic's top-level system prompt (a string or text
    blocks); it is counted as a leading system message. `tools` may be in
    OpenAI (`{"type": "function", "function": {...}}`) or Anthropic
    (`{"name", "description", "input_schema"}`) shape.
    """
    encoding = encoding_for(model)
    estimated = encoding == "estimate"
    chosen = (profile or estimate_profile(model)) if estimated else None
    enc = ESTIMATE_BASE if estimated else encoding
    image_tokens = chosen.image_tokens if chosen else OPENAI_IMAGE_TOKENS
    tally = _Tally()
    if system:
        _count_message({"role": "system", "content": system}, enc, image_tokens, tally)
    for message in messages:
        _count_message(message, enc, image_tokens, tally)
    tally.framing += REPLY_PRIMING
    if tools:
        if chosen is None:
            tally.tools += _openai_tools(tools, enc)
        else:
            # The provider's tool-use preamble is in its own tokens: not scaled.
            tally.framing += chosen.tools_overhead
            tally.tools += sum(_json_tokens(t, enc) for t in tools)
    return _finish(tally, enc, chosen)


def _finish(tally: _Tally, encoding: str, profile: EstimateProfile | None) -> TokenCount:
    scale = profile.multiplier if profile else 1.0
    scaled = math.ceil((tally.text + tally.unknown + tally.tools) * scale)
    tokens = scaled + tally.framing + tally.fixed
    slack = (
        tally.framing * FRAMING_SLACK
        + tally.tools * scale * TOOLS_SLACK
        + tally.fixed
        + tally.unknown * scale
    )
    if profile is not None:
        slack += scaled * profile.error_bound
    bound = round(slack / tokens, 4) if tokens else 0.0
    return TokenCount(tokens, encoding, slack == 0, bound, profile.name if profile else None)


def _count_message(
    message: Mapping[str, Any], enc: str, image_tokens: int, tally: _Tally
) -> None:
    tally.framing += PER_MESSAGE
    for key, value in message.items():
        if key == "content":
            _count_content(value, enc, image_tokens, tally)
        elif key == "tool_calls" and isinstance(value, list):
            for call in value:
                if isinstance(call, dict):
                    _count_call(call.get("function", call), enc, tally)
        elif key == "function_call" and isinstance(value, dict):
            _count_call(value, enc, tally)
        elif isinstance(value, str):
            tally.text += encoded_length(value, enc)
            if key == "name":
                tally.framing += PER_NAME


def _count_call(call: Mapping[str, Any], enc: str, tally: _Tally) -> None:
    tally.text += encoded_length(str(call.get("name", "")), enc)
    arguments = call.get("arguments", call.get("input", ""))
    if not isinstance(arguments, str):
        arguments = orjson.dumps(arguments).decode()
    tally.text += encoded_length(arguments, enc)


def _count_content(content: object, enc: str, image_tokens: int, tally: _Tally) -> None:
    if content is None:
        return
    if isinstance(content, str):
        tally.text += encoded_length(content, enc)
        return
    parts = content if isinstance(content, list) else [content]
    for part in parts:
        if isinstance(part, str):
            tally.text += encoded_length(part, enc)
            continue
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in _TEXT_PARTS or (kind is None and "text" in part):
            tally.text += encoded_length(str(part.get("text", "")), enc)
        elif kind in _IMAGE_PARTS:
            tally.fixed += _image_estimate(part, image_tokens)
        elif kind in ("tool_use", "server_tool_use"):
            _count_call(part, enc, tally)
        elif kind == "tool_result":
            _count_content(part.get("content"), enc, image_tokens, tally)
        elif kind in ("thinking", "redacted_thinking"):
            tally.text += encoded_length(str(part.get("thinking", part.get("data", ""))), enc)
        else:
            blob_free = {k: v for k, v in part.items() if k not in _BLOB_KEYS}
            tally.unknown += _json_tokens(blob_free, enc)


def _image_estimate(part: Mapping[str, Any], image_tokens: int) -> int:
    detail = part.get("detail")
    image_url = part.get("image_url")
    if isinstance(image_url, dict):
        detail = image_url.get("detail", detail)
    return OPENAI_IMAGE_LOW if detail == "low" else image_tokens


def _json_tokens(value: object, enc: str) -> int:
    return encoded_length(orjson.dumps(value).decode(), enc)


def _openai_tools(tools: Iterable[Mapping[str, Any]], enc: str) -> int:
    """Tool schema tokens by the cookbook rule (module docstring)."""
    func_init = 10 if enc == "cl100k_base" else 7
    total = 0
    for tool in tools:
        fn = tool.get("function", tool)
        total += func_init
        description = str(fn.get("description", "")).removesuffix(".")
        total += encoded_length(f"{fn.get('name', '')}:{description}", enc)
        params = fn.get("parameters", fn.get("input_schema")) or {}
        properties = params.get("properties") or {}
        if properties:
            total += 3
        for key, spec in properties.items():
            total += 3 + _property_tokens(str(key), spec if isinstance(spec, dict) else {}, enc)
    return total + 12 if total else 0


def _property_tokens(name: str, spec: Mapping[str, Any], enc: str) -> int:
    total = 0
    enum = spec.get("enum")
    if isinstance(enum, list):
        total -= 3
        for item in enum:
            total += 3 + encoded_length(str(item), enc)
    kind = spec.get("type", "")
    description = str(spec.get("description", "")).removesuffix(".")
    total += encoded_length(f"{name}:{kind}:{description}", enc)
    nested = {k: v for k, v in spec.items() if k in ("properties", "items", "anyOf", "oneOf")}
    if nested:
        total += _json_tokens(nested, enc)
    return total
