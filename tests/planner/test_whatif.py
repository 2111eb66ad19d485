"""The demo's replay-based "what if" line, on a small fleet."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from fleetcost.fleet.trajectories import load_conversations
from fleetcost.planner.whatif import EXACT_CACHE_ON, demo_calls, what_if
from tests.planner.paths import SHARED

DATA = SHARED
pytestmark = pytest.mark.skipif(not (DATA / "tau-bench").is_dir(), reason="no shared data")


def test_what_if_line(tmp_path: Path) -> None:
    calls = demo_calls(load_conversations(DATA), 2)
    # A fleet that re-runs its tasks: the second pass is what the cache can save.
    calls = calls + calls
    result = what_if(calls, EXACT_CACHE_ON, tmp_path)
    assert result.calls == len(calls)
    assert result.levers["cache.exact"]["calls"] == len(calls) // 2
    saved = Decimal(result.levers["cache.exact"]["saved_usd"])
    delta = result.actual - result.counterfactual
    # A hit records the original call's price as its saving; without the cache
    # the repeat would have been cheaper (its prefix warm in the provider's
    # cache), so the ledger-recorded saving bounds the true difference above.
    assert 0 < delta <= saved
    line = result.line()
    assert line.startswith(f"what if (exact cache on): the same {len(calls):,} calls replayed")
    assert f"saved ${result.levers['cache.exact']['saved_usd']}" in line
    assert result.as_json()["change"].startswith("-0.")
