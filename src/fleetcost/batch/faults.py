"""Test-only crash points for batch settlement.

The window between the ledger commit of a job's results and the budget
charge of its items is microseconds wide, too narrow for a test to hit with
a SIGKILL from outside. When (and only when) the environment variable
`FLEETCOST_TEST_CRASH_AT` names a point, the gateway kills itself with
SIGKILL there, as a crash would: no clean-up, no flush. Nothing sets it
outside tests/batch; unset, a crash point is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "FLEETCOST_TEST_CRASH_AT"
# After a job's results and ledger rows commit, before any budget charge.
LEDGER_COMMITTED = "batch-ledger-committed"
# After the budget store charged, before the batch store notes it.
BUDGET_CHARGED = "batch-budget-charged"


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
