"""Fixtures for the adapter tests: the canned loopback server (see canned.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from .canned import CannedServer, serve


@pytest.fixture(scope="module")
def canned() -> Iterator[CannedServer]:
    state, server = serve()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
