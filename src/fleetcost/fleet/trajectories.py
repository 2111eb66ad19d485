"""Finding the evaluation data and loading tau-bench conversations.

The data lives outside the package (several of its licences allow evaluation
only, so it is never copied in): by default in `../shared/data` next to the
checkout. A conversation is kept exactly as recorded, in OpenAI chat format:
a system message (the airline policy), then user, assistant and tool
messages. Only the assistant turns become calls; the user and tool messages
are what the world said in between.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from fleetcost.errors import FleetcostError

DATA_ENV = "FLEETCOST_DATA"
TRAJECTORIES = Path("tau-bench/historical_trajectories/gpt-4o-airline.json")


class DataNotFound(FleetcostError):
    """The trajectories are not where we looked; the message says where that was."""


@dataclass(frozen=True, slots=True)
class Conversation:
    """One recorded agent session.

    `expected_actions` are the database-changing tool calls the benchmark
    task expected; they say what kind of work the session is (a booking, a
    cancellation...) without reading the dialogue.
    """

    task_id: int
    trial: int
    messages: tuple[dict[str, Any], ...]
    expected_actions: tuple[str, ...] = ()

    @property
    def assistant_turns(self) -> int:
        return sum(1 for m in self.messages if m.get("role") == "assistant")


def data_dir_candidates(
    explicit: str | None, env: Mapping[str, str], cwd: Path
) -> list[Path]:
    """Where to look, in order: the flag, the environment, then the defaults.

    An explicit choice is the only candidate, so a typo in `--data` is
    reported rather than silently replaced by the default. The second default
    (next to the source checkout) makes `fleetcost demo` work from any
    directory in an editable install.
    """
    if explicit:
        return [Path(explicit)]
    if env.get(DATA_ENV):
        return [Path(env[DATA_ENV])]
    checkout = Path(__file__).resolve().parents[3]
    found: list[Path] = []
    for path in (cwd / ".." / "shared" / "data", checkout.parent / "shared" / "data"):
        resolved = path.resolve()
        if resolved not in found:
            found.append(resolved)
    return found


def find_data_dir(explicit: str | None, env: Mapping[str, str], cwd: Path) -> Path:
    candidates = data_dir_candidates(explicit, env, cwd)
    for path in candidates:
        if (path / TRAJECTORIES).is_file():
            return path
    where = ", ".join(str(p) for p in candidates)
    raise DataNotFound(
        f"no tau-bench trajectories ({TRAJECTORIES}) under {where}; "
        f"pass --data DIR or set {DATA_ENV} to the shared data folder"
    )


def load_conversations(data_dir: Path) -> list[Conversation]:
    """All conversations, ordered by trial then task.

    The order spreads a small selection over many different tasks (the four
    trials of one task are near-duplicates), which is what a real fleet
    looks like over a short window.
    """
    path = data_dir / TRAJECTORIES
    try:
        raw = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise DataNotFound(f"cannot read {path}: {exc}") from exc
    conversations = [_conversation(item) for item in raw]
    conversations.sort(key=lambda c: (c.trial, c.task_id))
    return conversations


def _conversation(item: Mapping[str, Any]) -> Conversation:
    task = (item.get("info") or {}).get("task") or {}
    actions = tuple(str(a.get("name")) for a in task.get("actions") or ())
    return Conversation(
        task_id=int(item.get("task_id", 0)),
        trial=int(item.get("trial", 0)),
        messages=tuple(item["traj"]),
        expected_actions=actions,
    )
