"""Reading the gateway's ledger back, through `fleetcost calls --json`.

The demo reports what the gateway recorded, not what the client counted, so
its table is the bill a user would get. It reads the ledger the way a user
would, with the `calls` command pointed at the same database; that keeps
the demo independent of the storage layer's internals.

Ledger writes happen off the response path, so right after the last reply a
few rows may still be in flight: `wait_for_rows` polls until the expected
number of rows is there (or gives up and returns what it found, so the demo
can say how many are missing).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from fleetcost.errors import FleetcostError

DB_ENV = "FLEETCOST_DB"
Row = dict[str, Any]


class LedgerUnreadable(FleetcostError):
    """`fleetcost calls --json` failed or printed something that is not a list of rows."""


def read_rows(db_path: Path, timeout: float = 120.0) -> list[Row]:
    env = {**os.environ, DB_ENV: str(db_path)}
    done = subprocess.run(
        [sys.executable, "-m", "fleetcost.cli.main", "calls", "--json"],
        env=env, capture_output=True, timeout=timeout, check=False,
    )
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        raise LedgerUnreadable(
            f"`fleetcost calls --json` failed on {db_path} with code {done.returncode}: "
            f"{why[-1] if why else 'no message'}"
        )
    try:
        rows = orjson.loads(done.stdout)
    except orjson.JSONDecodeError as exc:
        raise LedgerUnreadable(f"`fleetcost calls --json` printed invalid JSON: {exc}") from exc
    if isinstance(rows, dict):
        # Tolerate an envelope such as {"calls": [...]}.
        rows = next((v for v in rows.values() if isinstance(v, list)), None)
    if not isinstance(rows, list):
        raise LedgerUnreadable("`fleetcost calls --json` did not print a list of calls")
    return [r for r in rows if isinstance(r, dict)]


def wait_for_rows(
    db_path: Path,
    expected: int,
    keep: Callable[[Row], bool] = lambda row: True,
    timeout: float = 10.0,
) -> list[Row]:
    """Rows that `keep` selects, once there are at least `expected` of them."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            rows = [r for r in read_rows(db_path) if keep(r)]
        except LedgerUnreadable:
            # The gateway may not have created the file yet; give it until the deadline.
            if time.monotonic() >= deadline:
                raise
            rows = []
        if len(rows) >= expected or time.monotonic() >= deadline:
            return rows
        time.sleep(0.25)
