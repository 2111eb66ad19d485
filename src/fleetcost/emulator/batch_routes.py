"""Routes of both batch APIs, matched on path segments.

Batch and file ids are path parameters, so these cannot live in the
emulator's exact-match route table; they are tried after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fleetcost.emulator.anthropic_batch import AnthropicBatches
from fleetcost.emulator.batches import BatchRunner
from fleetcost.emulator.core import Emulator
from fleetcost.emulator.openai_batch import OpenAIBatches
from fleetcost.emulator.plan import Dialect

Answer = tuple[int, bytes]
Call = Callable[[dict[str, Any], bytes], Answer]


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _base_url(scope: dict[str, Any]) -> str:
    host = _header(scope, b"host")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


class BatchRoutes:
    def __init__(self, emulator: Emulator, openai: Dialect, anthropic: Dialect) -> None:
        self.runner = BatchRunner(emulator)
        self.openai = OpenAIBatches(self.runner, openai)
        self.anthropic = AnthropicBatches(self.runner, anthropic)

    def match(self, method: str, path: str) -> tuple[Call, Dialect] | None:
        """The handler for a batch or file route, with the dialect its errors speak."""
        parts = path.strip("/").split("/")
        if parts[:3] == ["v1", "messages", "batches"]:
            call = self._anthropic(method, parts[3:])
            return (call, self.anthropic.dialect) if call else None
        if parts[:2] == ["v1", "files"]:
            call = self._files(method, parts[2:])
        elif parts[:2] == ["v1", "batches"]:
            call = self._batches(method, parts[2:])
        else:
            return None
        return (call, self.openai.dialect) if call else None

    def _files(self, method: str, rest: list[str]) -> Call | None:
        o = self.openai
        if method == "POST" and not rest:
            return lambda scope, body: o.upload(_header(scope, b"content-type"), body)
        if method == "GET" and len(rest) == 1:
            return lambda scope, body: o.file_meta(rest[0])
        if method == "GET" and len(rest) == 2 and rest[1] == "content":
            return lambda scope, body: o.file_content(rest[0])
        return None

    def _batches(self, method: str, rest: list[str]) -> Call | None:
        o = self.openai
        if method == "POST" and not rest:
            return lambda scope, body: o.create(body)
        if method == "GET" and len(rest) == 1:
            return lambda scope, body: o.get(rest[0])
        if method == "POST" and len(rest) == 2 and rest[1] == "cancel":
            return lambda scope, body: o.cancel(rest[0])
        return None

    def _anthropic(self, method: str, rest: list[str]) -> Call | None:
        a = self.anthropic
        if method == "POST" and not rest:
            return lambda scope, body: a.create(body, _base_url(scope))
        if method == "GET" and len(rest) == 1:
            return lambda scope, body: a.get(rest[0])
        if method == "GET" and len(rest) == 2 and rest[1] == "results":
            return lambda scope, body: a.results(rest[0])
        if method == "POST" and len(rest) == 2 and rest[1] == "cancel":
            return lambda scope, body: a.cancel(rest[0])
        return None
