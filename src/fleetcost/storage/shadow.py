"""Shadow evaluations: did the cheap answer agree with the strong model's?

One row per shadowed call in `shadow_evals` (migration `m004_routing`),
next to the ledger, so a routing policy can be audited per task type in
production: `agreement_by_task` is the table an operator reads.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import astuple, dataclass
from pathlib import Path

from fleetcost.storage.migrations import migrate
from fleetcost.storage.sqlite_conn import connect


@dataclass(frozen=True, slots=True)
class ShadowRecord:
    call_id: str
    shadow_call_id: str
    ts: str
    tenant: str
    task_type: str | None
    weak_model: str | None
    strong_model: str | None
    similarity: float
    agree: bool


class MemoryShadowLog:
    def __init__(self) -> None:
        self.rows: list[ShadowRecord] = []

    def append(self, record: ShadowRecord) -> None:
        self.rows.append(record)

    def agreement_by_task(self) -> dict[str, tuple[int, float]]:
        groups: dict[str, list[bool]] = defaultdict(list)
        for row in self.rows:
            groups[row.task_type or ""].append(row.agree)
        return {k: (len(v), sum(v) / len(v)) for k, v in groups.items()}


class SQLiteShadowLog:
    def __init__(self, path: str | Path) -> None:
        self._conn = connect(str(path))
        self._lock = threading.Lock()
        migrate(self._conn)

    def append(self, record: ShadowRecord) -> None:
        with self._lock:
            self._conn.execute("INSERT INTO shadow_evals VALUES (?,?,?,?,?,?,?,?,?)",
                               astuple(record))

    def agreement_by_task(self) -> dict[str, tuple[int, float]]:
        """task type -> (shadowed calls, share that agreed)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT COALESCE(task_type, ''), COUNT(*), AVG(agree) FROM shadow_evals "
                "GROUP BY 1").fetchall()
        return {task: (n, float(share)) for task, n, share in rows}

    def close(self) -> None:
        self._conn.close()
