"""The answer to a request, decided before any byte is sent.

A `Plan` is everything about a response that depends only on the request and
the seed: its id, prompt size, prefix digests and output. Plans are cached per
request body, so a repeated request costs a dictionary lookup. What depends
on the moment -- how much of the prompt the prefix cache holds, whether a
fault strikes -- is decided per request from the plan (`Prefix.bill`).

Each wire protocol is a `Dialect`: it validates and plans a request body and
renders a plan with its usage as a JSON body or as SSE events. The emulator
core and the HTTP layer never look inside a protocol.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from fleetcost.emulator.generate import Output, Writer
from fleetcost.emulator.prefix_cache import CacheUsage, TTLStore
from fleetcost.emulator.prompt import Tokens
from fleetcost.emulator.settings import EmulatorSettings, ModelProfile, ModelTable
from fleetcost.errors import FleetcostError
from fleetcost.types import Usage

# Request fields that change how an answer is delivered, not what it is.
DELIVERY_FIELDS = frozenset({"stream", "stream_options"})


class Prefix(Protocol):
    def bill(self, store: TTLStore, now: float) -> CacheUsage: ...


@dataclass(frozen=True, slots=True)
class Plan:
    model: str
    response_id: str
    digest: bytes
    input_tokens: int  # every prompt token, cached or not
    output: Output
    profile: ModelProfile
    prefix: Prefix
    # OpenAI `logprobs`: -1 when not asked, else how many `top_logprobs` per token.
    logprobs: int = -1


@dataclass(frozen=True, slots=True)
class Prepared:
    """A plan plus how this particular request wants it delivered."""

    plan: Plan
    stream: bool
    include_usage: bool = False


@dataclass(slots=True)
class Events:
    """A stream in three parts: `body` holds one event per output token (or
    tool-argument fragment) and is what latency paces and faults cut."""

    head: list[bytes]
    body: list[bytes]
    tail: list[bytes] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Context:
    """What a dialect needs from the running emulator to plan a request."""

    settings: EmulatorSettings
    tokens: Tokens
    writer: Writer
    models: ModelTable
    min_cacheable: Callable[[str], int]


class Dialect(Protocol):
    protocol: str  # as spelled in models.toml
    request_id_header: bytes

    def prepare(self, ctx: Context, raw: bytes) -> Prepared: ...

    def render_json(self, plan: Plan, usage: Usage, created: int) -> bytes: ...

    def render_stream(self, plan: Plan, usage: Usage, created: int,
                      include_usage: bool) -> Events: ...

    def error_body(self, error: FleetcostError) -> bytes: ...

    def models_body(self, model_ids: list[str]) -> bytes: ...


def request_digest(body: dict[str, Any], seed: int) -> bytes:
    """Identity of a request for answering: key order and delivery fields ignored."""
    content = {k: v for k, v in body.items() if k not in DELIVERY_FIELDS}
    canonical = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(canonical, key=seed.to_bytes(8, "big", signed=True),
                           digest_size=16).digest()


def rng_for(digest: bytes) -> random.Random:
    return random.Random(digest)


def choose_tool(rng: random.Random, tools: list[dict[str, Any]], forced: str | None,
                names: list[str]) -> dict[str, Any]:
    """The named tool when one is forced, else a seeded pick."""
    if forced is not None:
        return tools[names.index(forced)]
    return tools[rng.randrange(len(tools))]


def answer(ctx: Context, rng: random.Random, digest: bytes, limit: int | None,
           tool: dict[str, Any] | None, tool_name: str, id_prefix: str,
           reasoning: bool) -> Output:
    """A tool call when asked for one and it fits the limit, else text."""
    if tool is not None:
        call = ctx.writer.tool_call(rng, tool, tool_name, id_prefix + digest.hex()[:24],
                                    reasoning)
        if limit is None or call.tokens <= limit:
            return call
    return ctx.writer.text(rng, limit, reasoning)
