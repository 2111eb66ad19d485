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


def test_quality_between_all_weak_and_all_strong() -> None:
    try:
        data = find_data_dir(None, os.environ, Path.cwd())
    except DataNotFound:
        pytest.skip("evaluation data (../shared/data) not found")
    none = routing_quality(data, [{"requested_model": "a", "model": "b"}])
    every = routing_quality(data, [{"requested_model": "a", "model": "a"}])
    half = routing_quality(data, [{"requested_model": "a", "model": "a"},
                                  {"requested_model": "a", "model": "b"}])
    assert none is not None and every is not None and half is not None
    assert none.quality == pytest.approx(none.weak_quality, abs=1e-4)
    assert every.quality == pytest.approx(every.strong_quality, abs=1e-4)
    assert none.quality < half.quality < every.quality
    assert "GSM8K" in half.line() and half.as_json()["policy"] == "length"
