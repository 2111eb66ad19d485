"""The contract every wire adapter fulfils.

The pipeline calls an adapter at four points: to validate and read the
client's request (`parse_request`), to build the upstream body
(`upstream_body`), to read usage from a finished response (`parse_response`)
or from a stream passing through (`stream_tap`), and to speak errors in the
client's own shape (`error_body`). Everything here is pure and synchronous.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from fleetcost.errors import FleetcostError
from fleetcost.types import Usage, WireKind


@dataclass(slots=True)
class ChatRequest:
    """A validated client request. `body` is the client's JSON, unmodified."""

    body: dict[str, Any]
    model: str
    stream: bool
    messages: list[dict[str, Any]]
    system: Any = None
    tools: list[dict[str, Any]] | None = None
    max_tokens: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    # OpenAI only: did the client itself ask for the usage chunk?
    client_wants_usage: bool = False


@dataclass(slots=True)
class ParsedResponse:
    usage: Usage
    model: str | None
    finish_reason: str | None
    # False when the response carried no usage block (missing or null): some
    # OpenAI-compatible hosts omit it, and the pipeline then estimates.
    usage_reported: bool = True


@dataclass(slots=True)
class Answer:
    """What a model said, as routing gates read it.

    `logprobs` holds one log-probability per generated token when the
    provider returned them (OpenAI with `logprobs: true`), else `None`:
    a gate must tell "no signal" from "low confidence".
    """

    text: str
    logprobs: list[float] | None = None
    tool_call: bool = False
    finish_reason: str | None = None
    # Tool-call names and arguments as generated (JSON answers only): output
    # tokens too, counted when usage must be estimated.
    tool_text: str = ""


class StreamTap(Protocol):
    """Watches a provider stream on its way to the client.

    `feed` takes raw upstream bytes and returns the bytes to forward (whole
    SSE events only; it may drop events the client did not ask for, such as
    the usage chunk the gateway requested on its own behalf). After the
    stream, `usage` holds what the provider reported, or what was counted so
    far if the stream was cut; `usage_final` says which. For a cut stream the
    pipeline estimates output tokens from `partial_output_chars()` (generated
    text, reasoning text and tool-call arguments seen so far). `error` is the
    message of an error the provider sent inside the stream, if any.
    """

    usage: Usage | None
    usage_final: bool
    model: str | None
    finish_reason: str | None
    first_token: bool
    error: str | None

    def feed(self, chunk: bytes) -> bytes: ...

    def finish(self) -> bytes: ...

    def partial_output_chars(self) -> int: ...


class WireAdapter(Protocol):
    kind: WireKind
    # Path of the chat endpoint, relative to a provider's base URL. Each kind
    # follows its own SDK's base-URL convention: OpenAI's ends in `/v1`
    # (so "/chat/completions"), Anthropic's is the bare host ("/v1/messages").
    chat_path: str
    # Request fields asking for token log-probabilities; None: the protocol has none.
    logprob_request: ClassVar[dict[str, Any] | None]

    def parse_request(self, body: bytes) -> ChatRequest: ...

    # `request.body` re-serialised with `model` and the protocol's own needs
    # (OpenAI streams: include_usage; both: fleetcost metadata keys removed).
    # `request.body` itself is never mutated, so a fallback can call it again.
    def upstream_body(self, request: ChatRequest, model: str) -> bytes: ...

    def upstream_headers(
        self, api_key: str | None, client_headers: Mapping[str, str]
    ) -> dict[str, str]: ...

    def parse_response(self, body: bytes) -> ParsedResponse: ...

    def stream_tap(self, request: ChatRequest) -> StreamTap: ...

    def error_body(self, error: FleetcostError) -> bytes: ...

    # The same error as one SSE event, for a stream that already started.
    def stream_error_event(self, error: FleetcostError) -> bytes: ...

    def usage_from_provider(self, usage: Mapping[str, Any]) -> Usage: ...

    # Inverse of usage_from_provider (the emulator writes usage blocks with it).
    def usage_to_provider(self, usage: Usage) -> dict[str, Any]: ...

    # What a finished answer said (JSON body, or the whole buffered SSE stream).
    def answer(self, body: bytes, streamed: bool) -> Answer: ...

    # A one-message request in this protocol, for the gateway's own helper calls
    # (LLM router, verifier); `schema` asks for JSON of that shape where the
    # protocol can enforce it.
    def prompt_body(self, model: str, prompt: str, max_tokens: int,
                    schema: dict[str, Any] | None) -> bytes: ...

    # Body of `GET /v1/models` in this protocol's list shape.
    def models_body(self, model_ids: Sequence[str]) -> bytes: ...
