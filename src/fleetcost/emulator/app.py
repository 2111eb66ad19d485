"""The emulator as a bare ASGI application.

No framework: the benchmarks measure "client -> emulator" as the floor the
gateway is compared against, so the emulator must cost as little per request
as the server under it. Routing is two dictionary lookups; a repeated request
is a digest, a plan lookup, a cache check and one `orjson.dumps`.

Latency: at `zero` a stream goes out in one write. At `realistic` the first
body event waits for the model's time to first token (plus prefill of the
uncached prompt and any hidden reasoning), the rest follow at its decode
speed, sent in ticks of at least 10 ms so a thousand concurrent streams do
not mean a hundred thousand timers. A task watches for the client hanging up
so an abandoned stream stops and counts only what it sent.

A `cut-stream` fault returns from the application mid-response; the server
then closes the connection, which clients see as a broken chunked body, the
way a dropped upstream connection looks.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from fleetcost.emulator.anthropic_wire import AnthropicDialect
from fleetcost.emulator.batch_routes import BatchRoutes
from fleetcost.emulator.core import Emulator
from fleetcost.emulator.faults import Fault
from fleetcost.emulator.lengths import LENGTHS_PATH
from fleetcost.emulator.no_usage import strip_events, strip_json, wants_omitted
from fleetcost.emulator.openai_wire import OpenAIDialect
from fleetcost.emulator.plan import Dialect, Events, Plan, Prepared
from fleetcost.emulator.settings import FAULT_STATUSES, EmulatorSettings
from fleetcost.errors import FleetcostError, NotFound
from fleetcost.types import Usage

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MIN_TICK = 0.01
_JSON = [(b"content-type", b"application/json")]
_SSE = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
_FAULT_TYPES = {"429": "rate_limit_error", "529": "overloaded_error", "503": "overloaded_error"}


class InjectedFault(FleetcostError):
    """An error the emulator was told to produce; shaped like the provider's own."""


def create_app(settings: EmulatorSettings) -> EmulatorApp:
    return EmulatorApp(Emulator(settings))


class EmulatorApp:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self._openai = OpenAIDialect()
        self._anthropic = AnthropicDialect()
        self._chat: dict[str, Dialect] = {
            "/v1/chat/completions": self._openai,
            "/v1/messages": self._anthropic,
        }
        self._batches = BatchRoutes(emulator, self._openai, self._anthropic)
        self._routes: dict[tuple[str, str], Callable[[Scope, Send], Awaitable[None]]] = {
            ("GET", "/healthz"): self._healthz,
            ("GET", "/v1/models"): self._models,
            ("GET", "/emulator/stats"): self._stats,
            ("POST", "/emulator/reset"): self._reset,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            chat = self._chat.get(scope["path"]) if scope["method"] == "POST" else None
            if chat is not None:
                omit = wants_omitted(self.emulator.settings.omit_usage, scope["headers"])
                await self._chat_request(chat, receive, send, omit)
                return
            if scope["path"] == LENGTHS_PATH and scope["method"] == "POST":
                await self._lengths(receive, send)
                return
            route = self._routes.get((scope["method"], scope["path"]))
            if route is None and await self._batch_request(scope, receive, send):
                return
            if route is None:
                error = NotFound(f"No route for {scope['method']} {scope['path']}.")
                await _respond(send, 404, self._dialect_for(scope).error_body(error))
                return
            await route(scope, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)

    async def _chat_request(self, dialect: Dialect, receive: Receive, send: Send,
                            omit: bool = False) -> None:
        raw = await _read_body(receive)
        if raw is None:
            return
        emulator = self.emulator
        try:
            prepared = emulator.prepare(dialect, raw)
        except FleetcostError as exc:
            emulator.stats.errors += 1
            await _respond(send, exc.status, dialect.error_body(exc))
            return
        fault = self._fault(prepared)
        if fault is not None and fault.kind in FAULT_STATUSES:
            await self._fault_status(dialect, fault.kind, send)
            return
        hang = emulator.settings.fault_timeout_seconds
        if fault is not None and fault.kind == "timeout" and not await _client_waits(receive, hang):
            return
        usage = emulator.bill(prepared.plan)
        if prepared.stream:
            cut = fault.rng if fault is not None and fault.kind == "cut-stream" else None
            await self._stream(dialect, prepared, usage, cut, receive, send, omit)
        else:
            await self._json(dialect, prepared.plan, usage, receive, send, omit)

    async def _batch_request(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Files, batches and message batches; False when the path is none of them."""
        found = self._batches.match(scope["method"], scope["path"])
        if found is None:
            return False
        call, dialect = found
        raw = await _read_body(receive) if scope["method"] == "POST" else b""
        if raw is None:
            return True
        try:
            status, body = call(scope, raw)
        except FleetcostError as exc:
            await _respond(send, exc.status, dialect.error_body(exc))
            return True
        await _respond(send, status, body)
        return True

    def _fault(self, prepared: Prepared) -> Fault | None:
        faults = self.emulator.faults
        fault = faults.draw(prepared.plan.digest) if faults.enabled else None
        if fault is not None and fault.kind == "cut-stream" and not prepared.stream:
            return None
        if fault is not None and fault.kind == "expire":  # batch requests only
            return None
        if fault is not None:
            self.emulator.stats.faults[fault.kind] += 1
        return fault

    async def _fault_status(self, dialect: Dialect, kind: str, send: Send) -> None:
        error = InjectedFault(f"Injected fault: the emulator answered {kind}.")
        error.status = int(kind)
        error.error_type = _FAULT_TYPES.get(kind, "api_error")
        extra = []
        if kind == "429":
            extra = [(b"retry-after", str(self.emulator.settings.retry_after_seconds).encode())]
        await _respond(send, error.status, dialect.error_body(error), extra)

    async def _json(self, dialect: Dialect, plan: Plan, usage: Usage, receive: Receive,
                    send: Send, omit: bool = False) -> None:
        if self.emulator.settings.latency == "realistic":
            output = plan.output
            delay = _first_delay(plan, usage) + (
                output.tokens - output.reasoning_tokens) / plan.profile.tokens_per_second
            if not await _client_waits(receive, delay):
                return
        body = dialect.render_json(plan, usage, int(time.time()))
        if omit:
            body = strip_json(body)
        await _respond(send, 200, body, [(dialect.request_id_header, plan.response_id.encode())])
        self.emulator.record(plan, usage)

    async def _stream(self, dialect: Dialect, prepared: Prepared, usage: Usage,
                      cut: random.Random | None, receive: Receive, send: Send,
                      omit: bool = False) -> None:
        plan = prepared.plan
        events = dialect.render_stream(plan, usage, int(time.time()),
                                       prepared.include_usage and not omit)
        if omit:
            events = strip_events(events)
        start = {"type": "http.response.start", "status": 200,
                 "headers": [*_SSE, (dialect.request_id_header, plan.response_id.encode())]}
        realistic = self.emulator.settings.latency == "realistic"
        if not realistic and cut is None:
            await send(start)
            await send({"type": "http.response.body",
                        "body": b"".join([*events.head, *events.body, *events.tail])})
            self.emulator.record(plan, usage)
            return
        stop = len(events.body) if cut is None else cut.randint(0, max(len(events.body) - 1, 0))
        watcher = asyncio.ensure_future(receive()) if realistic else None
        timing = _timing(plan, usage, events) if realistic else (0.0, 0.0)
        try:
            sent = await _paced(send, start, events, stop, watcher, timing)
            gone = watcher is not None and watcher.done()
        finally:
            if watcher is not None:
                watcher.cancel()
        if sent is None:  # the client left before the first token: nothing served
            return
        if cut is None and not gone:
            await send({"type": "http.response.body", "body": b"".join(events.tail)})
            self.emulator.record(plan, usage)
            return
        if cut is None:
            self.emulator.stats.client_disconnects += 1
        self.emulator.record(plan, usage, body_events_sent=sent)

    def _dialect_for(self, scope: Scope) -> Dialect:
        """Anthropic's SDKs send `anthropic-version` / `x-api-key`; OpenAI's send neither."""
        for name, _ in scope["headers"]:
            if name in (b"anthropic-version", b"x-api-key"):
                return self._anthropic
        return self._openai

    async def _healthz(self, scope: Scope, send: Send) -> None:
        await _respond(send, 200, b'{"status":"ok"}')

    async def _models(self, scope: Scope, send: Send) -> None:
        dialect = self._dialect_for(scope)
        listed = self.emulator.models.listed(dialect.protocol)
        await _respond(send, 200, dialect.models_body(listed))

    async def _stats(self, scope: Scope, send: Send) -> None:
        await _respond(send, 200, orjson.dumps(self.emulator.stats.as_dict()))

    async def _lengths(self, receive: Receive, send: Send) -> None:
        raw = await _read_body(receive)
        if raw is None:
            return
        try:
            count = self.emulator.lengths.replace(raw)
        except FleetcostError as exc:
            await _respond(send, exc.status, self._openai.error_body(exc))
            return
        await _respond(send, 200, orjson.dumps({"lengths": count}))

    async def _reset(self, scope: Scope, send: Send) -> None:
        self.emulator.reset()
        await _respond(send, 200, b'{"status":"reset"}')


def _first_delay(plan: Plan, usage: Usage) -> float:
    profile = plan.profile
    uncached = usage.input_tokens - usage.cached_tokens
    return (profile.ttft + uncached / profile.prefill_tokens_per_second
            + plan.output.reasoning_tokens / profile.tokens_per_second)


def _timing(plan: Plan, usage: Usage, events: Events) -> tuple[float, float]:
    """(delay to the first body event, interval between body events)."""
    visible = plan.output.tokens - plan.output.reasoning_tokens
    per_event = visible / max(len(events.body), 1)
    return _first_delay(plan, usage), per_event / plan.profile.tokens_per_second


async def _paced(send: Send, start: dict[str, Any], events: Events, stop: int,
                 watcher: asyncio.Future[Any] | None, timing: tuple[float, float]) -> int | None:
    """Send head and body[:stop] on schedule; the count sent, or None if the client left
    before anything was sent."""
    loop = asyncio.get_running_loop()
    delay, interval = timing
    first_at = loop.time() + delay
    if not await _sleep(watcher, delay):
        return None
    await send(start)
    pending = b"".join(events.head)
    sent = 0
    while True:
        due = stop if interval <= 0 else min(stop, int((loop.time() - first_at) / interval) + 1)
        due = max(due, min(sent + 1, stop))
        await send({"type": "http.response.body", "more_body": True,
                    "body": pending + b"".join(events.body[sent:due])})
        pending, sent = b"", due
        if sent >= stop:
            return sent
        wait = first_at + sent * interval - loop.time()
        if not await _sleep(watcher, max(wait, MIN_TICK)):
            return sent


async def _sleep(watcher: asyncio.Future[Any] | None, seconds: float) -> bool:
    """Sleep unless the client hangs up first; True if it is still there."""
    if watcher is None:
        if seconds > 0:
            await asyncio.sleep(seconds)
        return True
    if seconds > 0 and not watcher.done():
        await asyncio.wait((watcher,), timeout=seconds)
    return not watcher.done()


async def _client_waits(receive: Receive, seconds: float) -> bool:
    """Wait `seconds` for the client to hang up; True if it waited the whole time."""
    try:
        message = await asyncio.wait_for(receive(), seconds)
    except TimeoutError:
        return True
    return message["type"] != "http.disconnect"


async def _read_body(receive: Receive) -> bytes | None:
    message = await receive()
    if message["type"] != "http.request":
        return None
    body = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    parts = [body]
    while message.get("more_body", False):
        message = await receive()
        if message["type"] != "http.request":
            return None
        parts.append(message.get("body", b""))
    return b"".join(parts)


async def _respond(send: Send, status: int, body: bytes,
                   extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [*_JSON, (b"content-length", str(len(body)).encode()), *(extra or ())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
