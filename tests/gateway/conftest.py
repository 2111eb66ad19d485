"""A real emulator and a real gateway on loopback, shared by the gateway tests."""

from __future__ import annotations

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


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack")
    eport, gport = free_port(), free_port()
    db = tmp / "ledger.db"
    with fleetcost_process(["emulate", "--port", str(eport), "--seed", "3"], eport) as emu:
        args = ["serve", "--port", str(gport), "--upstream", f"openai={emu}",
                "--upstream", f"anthropic={emu}"]
        with fleetcost_process(args, gport, env={"FLEETCOST_DB": str(db)}) as gw:
            yield Stack(emulator=emu, gateway=gw, db=db)
