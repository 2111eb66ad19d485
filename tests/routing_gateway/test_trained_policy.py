"""The trained-router adapter behind the gateway (enabled once the trainer lands)."""

from __future__ import annotations

import pytest

trained = pytest.importorskip("fleetcost.routing.trained")


def test_trained_module_has_the_loader() -> None:
    assert callable(trained.load_router)
