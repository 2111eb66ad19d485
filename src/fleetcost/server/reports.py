"""Attribution in the gateway: the report API and the periodic alert evaluator.

Both read the ledger on worker threads (and, for SQLite, on their own
connection), so neither can hold up a call. The evaluator runs every
`[alerts].interval_s`, looks back over the window plus the baseline, and
keeps its active alerts in an `AlertBook` that the admin API lists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

import orjson

from fleetcost.analytics.alert_ledger import ledger_buckets
from fleetcost.analytics.alerting import AlertBook, Sink, log_sink, webhook_sink
from fleetcost.analytics.alerts import Alert, AlertRules, buckets, evaluate
from fleetcost.analytics.report import build
from fleetcost.config import AlertsConfig
from fleetcost.errors import ConfigError
from fleetcost.pipeline.state import Reply
from fleetcost.server.handlers import Handler
from fleetcost.server.io import Scope
from fleetcost.storage.base import REPORT_KEYS, CallQuery, LedgerReader, UsageLog
from fleetcost.storage.sqlite import SQLiteUsageLog
from fleetcost.storage.sqlite_conn import connect

if TYPE_CHECKING:
    from fleetcost.server.app import GatewayApp

log = logging.getLogger("fleetcost.alerts")
JSON = (b"content-type", b"application/json")
ReaderFactory = Callable[[], LedgerReader]


def rules_of(cfg: AlertsConfig) -> AlertRules:
    values = cfg.model_dump(exclude={"enabled", "interval_s", "webhook_url"})
    values["spend_anomaly_min_usd"] = Decimal(values["spend_anomaly_min_usd"])
    return AlertRules(**values)


class AlertLoop:
    """Evaluates the rules on a timer; `book.active` is what is firing now."""

    def __init__(self, cfg: AlertsConfig, usage_log: UsageLog) -> None:
        sinks: list[Sink] = [log_sink]
        if cfg.webhook_url:
            sinks.append(webhook_sink(cfg.webhook_url))
        self.book = AlertBook(sinks)
        self._cfg, self._rules, self._log = cfg, rules_of(cfg), usage_log
        self._task: asyncio.Task[None] | None = None
        self._conn: sqlite3.Connection | None = None

    def check(self, now: datetime) -> None:
        """One evaluation at `now` (blocking: run it on a worker thread)."""
        at = now.replace(minute=0, second=0, microsecond=0)
        self.book.update(self.holding(at), at)

    def holding(self, at: datetime) -> list[Alert]:
        """The rules that hold at `at` (an hour): from a SQLite ledger's aggregates (on a
        connection of our own), else from the call records (`holding_from_calls`)."""
        log_ = self._log
        if not isinstance(log_, SQLiteUsageLog) or log_.path == ":memory:":
            return self.holding_from_calls(at)
        if self._conn is None:
            self._conn = connect(log_.path)
        data = ledger_buckets(self._conn, at, self._rules.window_hours,
                              self._rules.baseline_days)
        return evaluate(data, at, self._rules)

    def holding_from_calls(self, at: datetime) -> list[Alert]:
        """The reference: every call of the window and baseline as a record."""
        since = at - timedelta(hours=self._rules.window_hours, days=self._rules.baseline_days)
        rows = self._log.query(CallQuery(since=since.strftime("%Y-%m-%dT%H:%M:%S")))
        return evaluate(buckets(rows), at, self._rules)

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.check, datetime.now(UTC))
            except Exception:  # the evaluator must outlive a bad row or a locked file
                log.exception("alert evaluation failed")
            await asyncio.sleep(self._cfg.interval_s)

    def start(self) -> None:
        if self._cfg.enabled and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def route_table(app: GatewayApp, reader: ReaderFactory, alerts: AlertLoop,
                authorised: Callable[[Scope], bool]) -> dict[tuple[str, str], Handler]:
    async def report(scope: Scope, body: bytes) -> Reply:
        """`GET /fleetcost/v1/report?by=agent&since=...&until=...`: as `fleetcost report --json`."""
        if not authorised(scope):
            return _error(401, "admin API: missing or wrong admin key")
        qs = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        by = qs.get("by", "agent")
        if by not in REPORT_KEYS:
            return _error(400, f"by must be one of {', '.join(REPORT_KEYS)}")
        q = CallQuery(since=qs.get("since"), until=qs.get("until"))
        try:
            data = await asyncio.to_thread(_build, reader, by, q)
        except ConfigError as exc:
            return _error(400, exc.message)
        return Reply(200, [JSON], orjson.dumps(data))

    async def active(scope: Scope, body: bytes) -> Reply:
        if not authorised(scope):
            return _error(401, "admin API: missing or wrong admin key")
        items = [{**asdict(a), "key": a.key, "since": since.isoformat()}
                 for a, since in alerts.book.active.values()]
        return Reply(200, [JSON], orjson.dumps({"alerts": items}))

    return {("GET", "/fleetcost/v1/report"): report, ("GET", "/fleetcost/v1/alerts"): active}


def _build(reader: ReaderFactory, by: str, q: CallQuery) -> dict[str, object]:
    r = reader()
    try:
        return build(r, by, q)
    finally:
        r.close()


def _error(status: int, message: str) -> Reply:
    return Reply(status, [JSON], orjson.dumps({"error": {"message": message}}))
