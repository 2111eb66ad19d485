"""Finding the data and loading the recorded conversations."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcost.cli.main import main
from fleetcost.fleet.trajectories import (
    DATA_ENV,
    TRAJECTORIES,
    Conversation,
    DataNotFound,
    find_data_dir,
)


def test_loads_every_conversation_in_trial_then_task_order(
    conversations: list[Conversation],
) -> None:
    assert len(conversations) == 152
    keys = [(c.trial, c.task_id) for c in conversations]
    assert keys == sorted(keys)
    # The first few span different tasks, not four trials of one task.
    assert len({c.task_id for c in conversations[:24]}) == 24
    for conv in conversations:
        assert conv.messages[0]["role"] == "system"
        assert conv.assistant_turns >= 1
    assert sum(c.assistant_turns for c in conversations) == 1848


def _fake_data(root: Path) -> Path:
    target = root / TRAJECTORIES
    target.parent.mkdir(parents=True)
    target.write_text("[]")
    return root


def test_explicit_dir_wins_over_environment(tmp_path: Path) -> None:
    flag = _fake_data(tmp_path / "flag")
    env = _fake_data(tmp_path / "env")
    assert find_data_dir(str(flag), {DATA_ENV: str(env)}, tmp_path) == flag
    assert find_data_dir(None, {DATA_ENV: str(env)}, tmp_path) == env


def test_default_is_shared_data_next_to_the_project(tmp_path: Path) -> None:
    shared = _fake_data(tmp_path / "shared" / "data")
    project = tmp_path / "project"
    project.mkdir()
    assert find_data_dir(None, {}, project) == shared.resolve()


def test_missing_data_names_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(DataNotFound) as err:
        find_data_dir(str(tmp_path / "nowhere"), {}, tmp_path)
    message = err.value.message
    assert str(tmp_path / "nowhere") in message
    assert "--data" in message
    assert "\n" not in message


def test_demo_fails_in_one_sentence_without_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--no-serve", "--data", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("fleetcost: no tau-bench trajectories")
    assert str(tmp_path) in err
    assert len(err.splitlines()) == 1
