"""Alert rules fire on the planted incidents of a synthetic month and stay silent on a clean one."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from fleetcost.analytics.alerting import AlertBook, log_sink, webhook_sink
from fleetcost.analytics.alerts import Alert, buckets, evaluate
from fleetcost.fleet.month import Incidents, generate
from fleetcost.pricing.catalog import load_catalog
from tests.analytics.test_compare import DATA

FIRST, LAST = datetime(2026, 10, 9, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
INCIDENTS_START = datetime(2026, 10, 16, tzinfo=UTC)


def _run(incidents: Incidents | None) -> list[tuple[str, Alert, datetime]]:
    if DATA is None:
        pytest.skip("evaluation data (../shared/data) not found")
    month = generate(DATA, load_catalog(), repeats=24, incidents=incidents)
    data = buckets(month.records)
    events: list[tuple[str, Alert, datetime]] = []
    book = AlertBook([lambda e, a, at: events.append((e, a, at)), log_sink])
    at = FIRST
    while at <= LAST:
        book.update(evaluate(data, at), at)
        at += timedelta(hours=1)
    return events


def test_clean_month_is_silent() -> None:
    clean = Incidents(switch_to="gpt-4o-mini", growth=Decimal(0), runaway_repeats=0)
    assert _run(clean) == []


def test_each_incident_fires_once_per_rule_after_it_starts() -> None:
    events = _run(None)
    fired = [(a.rule, a.subject, at) for e, a, at in events if e == "fired"]
    keys = [(rule, subject) for rule, subject, _ in fired]
    last: dict[str, str] = {}
    for event, alert, _ in events:  # an ongoing condition never fires twice
        assert last.get(alert.key) != event, (alert.key, event)
        last[alert.key] = event
    assert all(at >= INCIDENTS_START for _, _, at in fired)
    assert ("cost_per_agent_hour", "cancel-agent") in keys  # the model switch
    assert ("context_growth", "booking-agent") in keys  # the longer system prompt
    assert ("spend_anomaly", "fleet") in keys  # the runaway session's hour
    runaway_hour = next(at for r, _, at in fired if r == "spend_anomaly")
    assert any(r == "cost_per_agent_hour" and s == "changes-agent" for r, s, _ in fired)
    assert runaway_hour < INCIDENTS_START + timedelta(days=2)


def test_webhook_receives_fired_and_resolved_as_json() -> None:
    got: list[dict[str, object]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        book = AlertBook([webhook_sink(f"http://127.0.0.1:{server.server_port}/hook")])
        alert = Alert("escalation_rate", "agent-a", "agent-a: 55% of calls escalated", 0.55, 0.4)
        t0 = datetime(2026, 10, 1, tzinfo=UTC)
        book.update([alert], t0)
        book.update([alert], t0 + timedelta(hours=1))  # still active: no second event
        book.update([], t0 + timedelta(hours=2))
    finally:
        server.shutdown()
        server.server_close()
    assert [g["event"] for g in got] == ["fired", "resolved"]
    assert got[0]["rule"] == "escalation_rate" and got[0]["subject"] == "agent-a"
