"""The memoised prompt count never bounds a prompt below the whole-prompt count."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from fleetcost.pipeline.token_memo import TokenMemo
from fleetcost.pricing.tokens import count_messages

DATA = Path("/work/shared/data/tau-bench/historical_trajectories/gpt-4o-airline.json")
TOOLS = [{"type": "function", "function": {
    "name": "get_reservation", "description": "Look up a reservation",
    "parameters": {"type": "object", "properties": {"code": {"type": "string"}}}}}]


@pytest.mark.skipif(not DATA.exists(), reason=f"shared data missing: {DATA}")
@pytest.mark.parametrize("model", ["gpt-4o", "claude-sonnet-4-6"])
def test_upper_bound_covers_the_whole_count_on_real_conversations(model: str) -> None:
    memo = TokenMemo(max_entries=500)
    trajectories = orjson.loads(DATA.read_bytes())[:40]
    for t in trajectories:
        messages = [{k: v for k, v in m.items() if k in ("role", "content", "tool_calls",
                                                         "tool_call_id", "name")}
                    for m in t["traj"] if isinstance(m, dict)]
        for end in range(2, len(messages), 3):
            prefix = messages[:end]
            whole = count_messages(prefix, model, tools=TOOLS)
            parts = memo.count(prefix, model, TOOLS, None)
            assert parts.upper_bound >= whole.upper_bound
            # Conservative, but not loose: within 2% + 2 tokens per message.
            assert parts.upper_bound <= whole.upper_bound * 1.02 + 2 * len(prefix)
            assert parts.tokens >= whole.tokens - 1
    assert memo.hits > memo.misses  # histories repeat: most parts come from the memo
