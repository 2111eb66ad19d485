"""One demo run: emulator and gateway up, every scenario replayed, ledger read back.

The emulator stands in for OpenAI and Anthropic (both wire protocols on one
port, zero latency, a fixed seed so runs are reproducible); the gateway runs
on its embedded defaults with a fresh SQLite ledger, so the rows it holds
are exactly this run's calls. Each scenario replays the same sessions; its
rows are found again by their session id prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetcost.fleet import ledger, procs
from fleetcost.fleet.driver import ReplayStats, replay
from fleetcost.fleet.plan import SCENARIOS, Scenario, plan_sessions, scenario_of
from fleetcost.fleet.table import Totals, aggregate, grand_total
from fleetcost.fleet.trajectories import Conversation

EMULATOR_SEED = 7
# Settings a user may have exported that would take the gateway off its defaults.
NOT_INHERITED = ("FLEETCOST_CONFIG",)


@dataclass(slots=True)
class Servers:
    emulator: procs.Child
    gateway: procs.Child
    db_path: Path


@dataclass(slots=True)
class ScenarioResult:
    scenario: Scenario
    sessions: int
    stats: ReplayStats
    rows: list[ledger.Row]

    def by(self, key: str) -> list[Totals]:
        return aggregate(self.rows, key)

    def total(self) -> Totals:
        return grand_total(self.by("agent_id"))

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.scenario.name,
            "description": self.scenario.description,
            "sessions": self.sessions,
            "calls_sent": self.stats.sent,
            "calls_failed": self.stats.failed,
            "ledger_rows": len(self.rows),
            "replay_seconds": round(self.stats.seconds, 3),
            "by_agent": [t.as_json() for t in self.by("agent_id")],
            "by_model": [t.as_json() for t in self.by("model")],
            "total": self.total().as_json(),
        }


@contextlib.contextmanager
def servers(
    work_dir: Path, db_path: Path, gateway_port: int = 0, config: Path | None = None
) -> Iterator[Servers]:
    """Emulator and gateway on loopback until the block exits (gateway stopped first).

    `config`: a fleetcost.toml for the gateway (default: embedded defaults).
    """
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env[ledger.DB_ENV] = str(db_path)
    emulator_port = procs.free_port()
    port = gateway_port or procs.free_port()
    upstream = f"http://127.0.0.1:{emulator_port}"
    emulator_args = [
        "emulate", "--port", str(emulator_port), "--latency", "zero",
        "--seed", str(EMULATOR_SEED),
    ]
    gateway_args = [
        "serve", "--port", str(port),
        "--upstream", f"openai={upstream}", "--upstream", f"anthropic={upstream}",
        *(["--config", str(config)] if config is not None else []),
    ]
    with contextlib.ExitStack() as stack:
        # Both start at once (neither needs the other to boot); the exit stack
        # stops the gateway before the emulator it forwards to.
        emulator = stack.enter_context(procs.running(
            procs.start("emulator", emulator_args, emulator_port, log_dir=work_dir, env=env)
        ))
        gateway = stack.enter_context(procs.running(
            procs.start("gateway", gateway_args, port, log_dir=work_dir, env=env)
        ))
        procs.wait_healthy(emulator)
        procs.wait_healthy(gateway)
        yield Servers(emulator, gateway, db_path)


def replay_scenarios(
    servers: Servers,
    conversations: Sequence[Conversation],
    sessions: int,
    *,
    concurrency: int,
    on_call: Callable[[Scenario], Callable[[], None] | None] = lambda s: None,
    scenarios: Sequence[Scenario] = SCENARIOS,
) -> list[tuple[Scenario, int, ReplayStats]]:
    """Replay the same sessions once per scenario, one scenario after the other."""
    done = []
    for scenario in scenarios:
        # Empty provider caches: no scenario rides on the prefixes an earlier one cached.
        _reset_emulator(servers.emulator.url)
        planned = plan_sessions(conversations, sessions, scenario)
        stats = asyncio.run(replay(
            servers.gateway.url, planned, scenario,
            concurrency=concurrency, on_call=on_call(scenario),
        ))
        done.append((scenario, len(planned), stats))
    return done


def _reset_emulator(url: str) -> None:
    request = urllib.request.Request(f"{url}/emulator/reset", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=30) as resp:
        resp.read()


def collect(
    servers: Servers,
    replays: Sequence[tuple[Scenario, int, ReplayStats]],
    *,
    stop_gateway: bool,
) -> list[ScenarioResult]:
    """Read the ledger and split it by scenario.

    Stopping the gateway first makes its shutdown drain the ledger writer,
    so one read sees every row; a gateway that stays up is polled instead.
    """
    expected = sum(stats.sent for _, _, stats in replays)
    if stop_gateway:
        procs.stop(servers.gateway)
        rows = ledger.read_rows(servers.db_path)
    else:
        rows = ledger.wait_for_rows(servers.db_path, expected)
    grouped: Mapping[str | None, list[ledger.Row]] = _split(rows)
    return [
        ScenarioResult(scenario, count, stats, list(grouped.get(scenario.name, ())))
        for scenario, count, stats in replays
    ]


def _split(rows: Sequence[ledger.Row]) -> dict[str | None, list[ledger.Row]]:
    grouped: dict[str | None, list[ledger.Row]] = {}
    for row in rows:
        grouped.setdefault(scenario_of(row.get("session_id")), []).append(row)
    return grouped
