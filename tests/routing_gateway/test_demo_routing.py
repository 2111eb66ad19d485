"""`fleetcost demo`'s routing scenario routes through the real gateway and proves its saving.

Its rows are in the ledger: short prompts answered by the requested model's
cheaper sibling with a positive `saved_usd`, long ones by the requested model
with none, and the baseline untouched by routing.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from decimal import Decimal
from pathlib import Path

import pytest

# The shared data sits beside the repository (main) or two levels up (a worktree).
DATA_HINT = str(next((p / "shared" / "data" for p in Path(__file__).resolve().parents
                      if (p / "shared" / "data").exists()), Path("shared/data")))
CHEAPER = {"gpt-4o": "gpt-4o-mini", "claude-sonnet-4-6": "claude-haiku-4-5"}


def test_routing_scenario_saves_on_short_prompts(tmp_path: Path) -> None:
    data = os.environ.get("FLEETCOST_DATA") or DATA_HINT
    if not Path(data, "tau-bench").exists():
        pytest.skip(f"no tau-bench data under {data}")
    db = tmp_path / "demo.db"
    env = {**os.environ, "FLEETCOST_DATA": data}
    env.pop("FLEETCOST_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-m", "fleetcost.cli.main", "demo", "--no-serve", "--json",
         "--sessions", "4", "--ledger", str(db)], env=env, capture_output=True, timeout=300,
        check=False)
    assert done.returncode == 0, done.stderr.decode()
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT session_id, requested_model, model, route_reason, "
                            "saved_usd FROM calls").fetchall()
    routed = [r for r in rows if r[0].startswith("routing/")]
    short = [r for r in routed if (r[3] or "").startswith("rules:short-prompt")]
    assert short, "some demo prompts are short enough to route down"
    for _, requested, model, _, saved in short:
        assert model == CHEAPER[requested] and Decimal(saved) > 0
    for _, requested, model, reason, saved in routed:
        if (reason or "").startswith("rules:long-prompt"):
            assert model == requested and Decimal(saved) == 0
    assert all(r[3] == "direct" for r in rows if r[0].startswith("baseline/"))
