"""Shared fixtures: the real tau-bench conversations from the shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleetcost.fleet.trajectories import Conversation, find_data_dir, load_conversations

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return find_data_dir(None, os.environ, REPO)


@pytest.fixture(scope="session")
def conversations(data_dir: Path) -> list[Conversation]:
    return load_conversations(data_dir)
