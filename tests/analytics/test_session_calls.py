"""The drill-down's session calls equal the reference and add up to `report --by session`.

On the roll-up test ledger (children written before their parents, a parent
cycle, unknown parents, calls replaced by id), for every session: the SQLite
reader's list equals the plain-Python one (same calls, same sub-agent marks),
and its calls sum to that session's group in the report.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from fleetcost.storage.base import CallQuery
from fleetcost.storage.memory import MemoryUsageLog
from fleetcost.storage.report_memory import MemoryLedgerReader
from fleetcost.storage.report_sqlite import SQLiteLedgerReader
from fleetcost.storage.sqlite import SQLiteUsageLog
from tests.analytics.test_rollup import _write


def test_session_calls_equal_reference_and_the_report(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    _write(path, 1500, seed=5)
    log = SQLiteUsageLog(path)
    mem = MemoryUsageLog()
    mem.append(log.query(CallQuery()))
    log.close()
    sql, ref = SQLiteLedgerReader(path), MemoryLedgerReader(mem)
    try:
        groups = {g.key: g for g in sql.groups("session", CallQuery()) if g.key is not None}
        marked = 0
        for key, g in groups.items():
            got = sql.session_calls(key, 10_000)
            want = ref.session_calls(key, 10_000)
            assert sorted((c.call_id, s) for c, s in got) == \
                sorted((c.call_id, s) for c, s in want), key
            assert [c.ts for c, _ in got] == sorted((c.ts for c, _ in got), reverse=True)
            assert len(got) == g.calls, key
            assert sum((c.cost_usd or Decimal(0) for c, _ in got), Decimal(0)) == g.cost_usd
            marked += sum(s for _, s in got)
        assert marked > 0  # the ledger does roll sub-agent calls up
        some = next(iter(groups))
        assert len(sql.session_calls(some, 1)) == 1
        assert sql.session_calls("no-such-session", 10) == []
    finally:
        sql.close()
