"""A real emulator and a real gateway on loopback, shared by the gateway tests."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.procs import fleetcost_process, free_port


@dataclass
class Stack:
    emulator: str
    gateway: str
    db: Path

    def call(self, call_id: str, timeout: float = 10.0) -> dict:
        """The ledger row of a call, once the batched writer has flushed it."""
        deadline = time.monotonic() + timeout
        while True:
            r = httpx.get(f"{self.gateway}/fleetcost/v1/calls/{call_id}")
            if r.status_code == 200:
                return r.json()
            if time.monotonic() > deadline:
                raise AssertionError(f"call {call_id} never reached the ledger: {r.text}")
            time.sleep(0.05)

    def emulator_stats(self) -> dict:
        return httpx.get(f"{self.emulator}/emulator/stats").json()


    def ledger(self, expected: int, timeout: float = 30.0) -> list[dict]:
        """All ledger rows, once `expected` of them have been flushed."""
        deadline = time.monotonic() + timeout
        while True:
            rows = httpx.get(f"{self.gateway}/fleetcost/v1/calls",
                             params={"limit": expected + 1000}).json()
            if len(rows) >= expected or time.monotonic() > deadline:
                return rows
            time.sleep(0.1)


@contextlib.contextmanager
def run_stack(
    tmp: Path, emulator_args: tuple[str, ...] = (), config: str | None = None,
    gateway_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """Start an emulator and a gateway in front of it, each its own process."""
    eport, gport = free_port(), free_port()
    db = tmp / "ledger.db"
    emu_cmd = ["emulate", "--port", str(eport), "--seed", "3", *emulator_args]
    with fleetcost_process(emu_cmd, eport) as emu:
        args = ["serve", "--port", str(gport), "--upstream", f"openai={emu}",
                "--upstream", f"anthropic={emu}"]
        if config is not None:
            cfg = tmp / "fleetcost.toml"
            cfg.write_text(config)
            args += ["--config", str(cfg)]
        with fleetcost_process(args, gport, env={"FLEETCOST_DB": str(db), **(gateway_env or {})},
                               log_path=tmp / "gateway.log") as gw:
            yield Stack(emulator=emu, gateway=gw, db=db)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with run_stack(tmp_path_factory.mktemp("stack")) as s:
        yield s
