"""A replay-based "what if" line for `fleetcost demo`.

The demo's fleet (tau-bench sessions dealt to agents and models, as in
`fleet.plan`) is recorded once as calls, then replayed twice through fresh
gateways: with every lever off, and with a policy. The line reports what
the policy would have changed on exactly that traffic, from the two ledgers,
so it is the same evidence `fleetcost replay` gives a team on its own traffic.

Call `what_if(demo_calls(conversations, n), policy_toml, work_dir)` and print
`.line()`; `.as_json()` for `--json`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from fleetcost.fleet.plan import Scenario, plan_sessions
from fleetcost.fleet.trajectories import Conversation
from fleetcost.planner import compare
from fleetcost.planner.replay import run_policy
from fleetcost.planner.sources import Recorded
from fleetcost.pricing import format_usd

LEVERS_OFF = '[cache]\nmode = "off"\n'
EXACT_CACHE_ON = '[cache]\nmode = "on"\ncache_sampled = true\n'
WHAT_IF = Scenario("whatif", "recorded for a what-if replay")


def demo_calls(conversations: Sequence[Conversation], sessions: int) -> list[Recorded]:
    """The demo fleet's calls, session after session, as a replay source."""
    out: list[Recorded] = []
    for session in plan_sessions(conversations, sessions, WHAT_IF):
        headers = tuple(session.headers(WHAT_IF).items())
        for call in session.calls():
            out.append(Recorded(len(out), call.path, call.body, headers, session.wire.kind))
    return out


@dataclass(frozen=True, slots=True)
class WhatIf:
    name: str
    calls: int
    actual: Decimal
    counterfactual: Decimal
    levers: dict[str, dict[str, Any]]

    @property
    def change(self) -> Decimal:
        return (self.counterfactual - self.actual) / self.actual if self.actual else Decimal(0)

    def line(self) -> str:
        saved = "; ".join(f"{k.replace('_', ' ')} served {v['calls']:,} calls, "
                          f"saved ${v['saved_usd']}" for k, v in self.levers.items())
        return (f"what if ({self.name}): the same {self.calls:,} calls replayed would have "
                f"cost ${format_usd(self.counterfactual)} instead of "
                f"${format_usd(self.actual)} ({self.change:+.1%})"
                + (f"; {saved}" if saved else ""))

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "calls": self.calls,
                "actual_usd": format_usd(self.actual),
                "counterfactual_usd": format_usd(self.counterfactual),
                "change": format_usd(self.change.quantize(Decimal("0.000001"))),
                "by_lever": self.levers}


def what_if(calls: Sequence[Recorded], policy_toml: str, work: Path,
            name: str = "exact cache on") -> WhatIf:
    """Replay `calls` with every lever off and with `policy_toml` (config text)."""
    off, cand = work / "whatif-off.toml", work / "whatif-policy.toml"
    off.write_text(LEVERS_OFF)
    cand.write_text(policy_toml)
    base_run = run_policy(calls, str(off), work, "whatif-off")
    cand_run = run_policy(calls, str(cand), work, "whatif-policy")
    doc = compare.report(base_run, cand_run, None)
    return WhatIf(name, len(calls), compare.cost(base_run), compare.cost(cand_run),
                  doc["candidate"]["by_lever"])
