"""Every workload key is documented in docs/planning.md."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from fleetcost.planner import workload as w

DOCS = (Path(__file__).resolve().parents[2] / "docs" / "planning.md").read_text()


def _models() -> list[type[BaseModel]]:
    return [w.Workload, w.PriceSpec, w.TaskSpec, w.DistSpec, w.BreakevenSpec, w.Constraint,
            w.Penalty, w.ReportSpec, w.CacheLever, w.CascadeLever, w.CompressionLever,
            w.PrefixCacheLever, w.BatchLever, w.OutputCapLever, w.StepCapLever]


def test_every_key_is_documented() -> None:
    missing = [f"{m.__name__}.{name}" for m in _models() for name in m.model_fields
               if f"`{name}`" not in DOCS and f"[{name}" not in DOCS]
    assert not missing, f"undocumented workload keys: {missing}"
