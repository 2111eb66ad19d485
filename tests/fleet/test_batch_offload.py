"""The demo's batch lever against a real gateway and emulator: the saving it
reports is the ledger's, and equals live price minus batch price."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from fleetcost.fleet.batch_offload import BATCH_SCENARIO, batch_share, offload, saving
from fleetcost.fleet.plan import plan_sessions
from fleetcost.fleet.trajectories import Conversation
from tests.gateway.conftest import run_stack

CONFIG = "[batch]\nflush_s = 0.2\npoll_s = 0.1\n"


def test_offloaded_share_saves_the_batch_discount(
    tmp_path: Path, conversations: list[Conversation]
) -> None:
    sessions = plan_sessions(conversations, 8, BATCH_SCENARIO)
    share = batch_share(sessions, 0.25)
    assert len(share) == 2
    with run_stack(tmp_path, ("--batch-delay", "0.2"), config=CONFIG) as stack:
        stats = asyncio.run(offload(stack.gateway, share, timeout_s=60))
        assert stats.refused == 0 and stats.accepted
        assert set(stats.finished) == set(stats.accepted)
        assert set(stats.finished.values()) == {"succeeded"}
        rows = stack.ledger(len(stats.accepted))
    assert len(rows) == len(stats.accepted)
    assert all(r["session_id"].startswith("batch/") for r in rows)
    result = saving(rows)
    assert result.calls == len(stats.accepted)
    # Every demo model has a 50% batch discount: the saving is exactly what was paid.
    assert result.saved_usd == result.batch_usd > 0
    assert result.live_usd == 2 * result.batch_usd
    assert Decimal(result.as_json()["saved_usd"]) == result.saved_usd
