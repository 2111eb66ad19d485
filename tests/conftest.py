"""Tests that read ../shared/data skip, with the reason, where the data is not there.

CI clones the project with `shared/` beside it; a clone elsewhere (or a
worktree) has no evaluation data, and a test that needs it should say so and
skip rather than error. Set FLEETCOST_DATA to point at the data instead.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from fleetcost.fleet.trajectories import DataNotFound


def _skip_without_data() -> Generator[None, object, object]:
    try:
        return (yield)
    except DataNotFound as exc:
        pytest.skip(f"evaluation data not found: {exc.message}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _skip_without_data())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _skip_without_data())
