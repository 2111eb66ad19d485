"""The demo's routing quality line reads the real evaluation curve at the ledger's share."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleetcost.fleet.routing_quality import routing_quality, strong_share
from fleetcost.fleet.trajectories import DataNotFound, find_data_dir


def test_strong_share_counts_calls_left_on_the_requested_model() -> None:
    rows = [{"requested_model": "gpt-4o", "model": "gpt-4o"},
            {"requested_model": "gpt-4o", "model": "gpt-4o-mini"},
            {"requested_model": "gpt-4o", "model": "gpt-4o-mini"},
            {"requested_model": "claude-sonnet-4-6", "model": "claude-sonnet-4-6"}]
    assert strong_share(rows) == 0.5
    assert strong_share(rows, lambda m: m == "gpt-4o") == 1 / 3


def test_quality_between_all_weak_and_all_strong() -> None:
    try:
        data = find_data_dir(None, os.environ, Path.cwd())
    except DataNotFound:
        pytest.skip("evaluation data (../shared/data) not found")
    weak = {"requested_model": "gpt-4o", "model": "gpt-4o-mini"}
    strong = {"requested_model": "gpt-4o", "model": "gpt-4o"}
    small = {"requested_model": "gpt-4o-mini", "model": "gpt-4o-mini"}  # nothing cheaper
    none = routing_quality(data, [weak, small])
    every = routing_quality(data, [strong])
    half = routing_quality(data, [strong, weak, small])
    assert none is not None and every is not None and half is not None
    assert none.quality == pytest.approx(none.weak_quality, abs=1e-4)
    assert every.quality == pytest.approx(every.strong_quality, abs=1e-4)
    assert none.quality < half.quality < every.quality
    assert "GSM8K" in half.line() and half.as_json()["policy"] == "length"
