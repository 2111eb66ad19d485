"""Contract tests run against every UsageLog backend, plus the batched writer."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from fleetcost.storage.base import CallQuery, UsageLog
from fleetcost.storage.memory import MemoryUsageLog
from fleetcost.storage.migrations import MIGRATIONS, migrate
from fleetcost.storage.sqlite import SQLiteUsageLog
from fleetcost.storage.writer import LedgerWriter
from fleetcost.types import CallRecord


@pytest.fixture(params=["memory", "sqlite"])
def usage_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UsageLog]:
    log: UsageLog = MemoryUsageLog() if request.param == "memory" else SQLiteUsageLog(
        tmp_path / "ledger.db")
    yield log
    log.close()


def _rec(i: int, cost: str | None = "0.000012345678901") -> CallRecord:
    return CallRecord(
        call_id=f"call_{i:04d}", ts=f"2026-11-23T10:00:{i % 60:02d}.000000+00:00",
        agent_id=f"agent-{i % 3}", model="gpt-4o", input_tokens=100 + i, output_tokens=i,
        cost_usd=Decimal(cost) if cost is not None else None, saved_usd=Decimal("0.5"),
        escalated=bool(i % 2), outcome="success",
    )


def test_roundtrip_is_exact(usage_log: UsageLog) -> None:
    usage_log.append([_rec(1), _rec(2, None)])
    rows = usage_log.query(CallQuery())
    assert [r.call_id for r in rows] == ["call_0001", "call_0002"]
    assert rows[0].cost_usd == Decimal("0.000012345678901")
    assert rows[1].cost_usd is None
    assert rows[0].saved_usd == Decimal("0.5")
    assert rows[0].escalated is True and rows[1].escalated is False


def test_query_filters(usage_log: UsageLog) -> None:
    usage_log.append([_rec(i) for i in range(10)])
    assert usage_log.count() == 10
    assert len(usage_log.query(CallQuery(since="2026-11-23T10:00:05"))) == 5
    assert usage_log.query(CallQuery(call_id="call_0003"))[0].input_tokens == 103
    newest = usage_log.query(CallQuery(limit=2, newest_first=True))
    assert [r.call_id for r in newest] == ["call_0009", "call_0008"]


def test_migrations_are_idempotent(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    assert migrate(conn) == [name for name, _ in MIGRATIONS]
    assert migrate(conn) == []
    conn.close()


async def test_writer_batches_and_drains(tmp_path: Path) -> None:
    log = SQLiteUsageLog(tmp_path / "w.db")
    writer = LedgerWriter(log, batch_size=64, flush_ms=10_000)
    for i in range(1000):
        writer.submit(_rec(i))
    await asyncio.sleep(0.05)
    assert log.count() >= 64  # size-triggered flushes happened without the timer
    await writer.drain()
    assert log.count() == 1000
    log.close()


class _FlakyLog(MemoryUsageLog):
    """A real store that refuses its first two writes, like a locked database."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 2

    def append(self, records: list[CallRecord]) -> None:  # type: ignore[override]
        if self.failures:
            self.failures -= 1
            raise sqlite3.OperationalError("database is locked")
        super().append(records)


async def test_writer_retries_failed_flush(caplog: pytest.LogCaptureFixture) -> None:
    log = _FlakyLog()
    writer = LedgerWriter(log, batch_size=10, flush_ms=5)
    for i in range(25):
        writer.submit(_rec(i))
    await writer.drain()
    assert log.count() == 25
    assert "ledger write failed" in caplog.text
