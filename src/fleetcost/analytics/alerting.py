"""Alert delivery: fire once when a rule starts to hold, resolve when it stops.

The evaluator (alerts.py) is pure and says what holds now; this keeps what
was already announced, so a condition that lasts a day is one alert, not
twenty-four. Sinks receive `fired` and `resolved` events; the log sink and
the webhook sink (JSON body, POSTed off the request path by the caller's
worker thread) are built in, and the dashboard reads `active`.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from fleetcost.analytics.alerts import Alert

log = logging.getLogger("fleetcost.alerts")
Sink = Callable[[str, Alert, datetime], None]


def log_sink(event: str, alert: Alert, at: datetime) -> None:
    level = logging.WARNING if event == "fired" else logging.INFO
    log.log(level, "alert %s %s: %s", event, alert.key, alert.message)


def webhook_sink(url: str, timeout: float = 5.0) -> Sink:
    def send(event: str, alert: Alert, at: datetime) -> None:
        body = json.dumps(event_body(event, alert, at)).encode()
        req = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                resp.read()
        except OSError as exc:  # a dead webhook must not stop the evaluator
            log.warning("alert webhook %s failed: %s", url, exc)
    return send


def event_body(event: str, alert: Alert, at: datetime) -> dict[str, Any]:
    return {"event": event, "at": at.isoformat(), "key": alert.key, **asdict(alert)}


class AlertBook:
    """The active alerts, and the sinks told when one fires or resolves."""

    def __init__(self, sinks: list[Sink]) -> None:
        self._sinks = sinks
        self.active: dict[str, tuple[Alert, datetime]] = {}

    def update(self, holding: list[Alert], at: datetime) -> tuple[list[Alert], list[Alert]]:
        now = {a.key: a for a in holding}
        fired = [a for k, a in now.items() if k not in self.active]
        resolved = [a for k, (a, _) in self.active.items() if k not in now]
        for a in resolved:
            del self.active[a.key]
        for a in holding:
            since = self.active[a.key][1] if a.key in self.active else at
            self.active[a.key] = (a, since)
        for event, alerts in (("fired", fired), ("resolved", resolved)):
            for a in alerts:
                for sink in self._sinks:
                    sink(event, a, at)
        return fired, resolved
