"""The dashboard in a real headless Chromium: it renders, and its figures are the CLI's figures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import httpx
import openai
import pytest

from tests.gateway.conftest import run_stack

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts"
# Flags that keep Chromium from reaching for the network this machine does not have.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _cli(db: Path, by: str, *extra: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "fleetcost.cli.main", "report", "--by", by,
                          "--db", str(db), "--json", *extra], check=True,
                         capture_output=True).stdout
    return json.loads(out)


def test_dashboard_figures_equal_the_report(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not installed at {CHROMIUM} (make test installs the Debian package)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with run_stack(tmp_path) as stack:
        client = openai.OpenAI(base_url=stack.gateway + "/v1", api_key="k", max_retries=0)
        for i in range(9):
            client.chat.completions.create(
                model=("gpt-4o-mini", "gpt-4o")[i % 2],
                messages=[{"role": "user", "content": f"question {i}"}],
                extra_headers={"X-Fleetcost-Agent": f"agent-{i % 3}",
                               "X-Fleetcost-Session": f"session-{i % 4}",
                               "X-Fleetcost-Task": ("booking", "refund")[i % 2]})
        parent = next(r for r in stack.ledger(9) if r["session_id"] == "session-0")
        for i in range(2):  # a sub-agent working for session-0, in a session of its own
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"sub {i}"}],
                extra_headers={"X-Fleetcost-Agent": "helper", "X-Fleetcost-Session": "helper-1",
                               "X-Fleetcost-Parent": parent["call_id"]})
        stamps = sorted(r["ts"] for r in stack.ledger(11))
        by_agent, by_session = _cli(stack.db, "agent"), _cli(stack.db, "session")
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.goto(stack.gateway + "/dashboard")
            page.wait_for_selector("body[data-loaded]")
            assert page.get_attribute("body", "data-loaded") == "1", page.inner_text("#error")
            for field in ("cost_usd", "calls", "input_tokens", "cached_tokens", "output_tokens",
                          "saved_usd", "cost_per_session", "sessions"):
                shown = page.inner_text(f'[data-figure="totals.{field}"]')
                assert shown == str(by_agent["totals"][field]), field
            for g in by_agent["groups"]:
                row = f'table[data-group="agent"] tr[data-key="{g["key"]}"]'
                assert page.inner_text(f'{row} td[data-field="cost_usd"]') == g["cost_usd"]
                assert page.inner_text(f'{row} td[data-field="calls"]') == str(g["calls"])
            for p in ("p50", "p95", "p99"):
                shown = page.inner_text(f'[data-figure="session_cost.{p}"]')
                assert shown == str(by_session["session_cost"][p]), p
            sessions = {g["key"]: g for g in by_session["groups"]}
            for row in page.locator('table[data-group="session"] tr[data-key]').all():
                key = row.get_attribute("data-key")
                for field in ("cost_usd", "calls"):
                    shown = row.locator(f'td[data-field="{field}"]').inner_text()
                    assert shown == str(sessions[key][field]), (key, field)
            page.click('table[data-group="session"] tr[data-key="session-0"]')
            page.wait_for_selector('table[data-group="calls"]')
            # The drill-down lists what the report counts: its own 3 calls and the
            # sub-agent's 2 rolled up into it, marked, adding up to the session's cost.
            assert sessions["session-0"]["calls"] == 5 and "helper-1" not in sessions
            assert page.locator('table[data-group="calls"] tr').count() == 1 + 5
            subs = page.locator('table[data-group="calls"] tr[data-subagent]')
            assert subs.count() == 2 and "sub-agent (helper-1)" in subs.first.inner_text()
            drilled = httpx.get(stack.gateway + "/fleetcost/v1/session_calls",
                                params={"session": "session-0"}).json()["calls"]
            assert sum(Decimal(c["cost_usd"]) for c in drilled) == \
                Decimal(sessions["session-0"]["cost_usd"])
            assert [c["agent_id"] for c in drilled if c["subagent"]] == ["helper", "helper"]
            SCREENSHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
            # A range whose bounds are not on hour edges: the figures still equal the CLI's.
            since, until = stamps[4], stamps[-1][:19] + ".999999999"
            ranged = _cli(stack.db, "agent", "--since", since, "--until", until)
            page.evaluate("document.body.removeAttribute('data-loaded')")
            page.fill("input[name=since]", since)
            page.fill("input[name=until]", until)
            page.click("#filters button")
            page.wait_for_selector("body[data-loaded]")
            assert ranged["totals"]["calls"] > 0, (since, until, ranged["totals"])
            for field in ("cost_usd", "calls", "sessions", "cost_per_agent_hour"):
                shown = page.inner_text(f'[data-figure="totals.{field}"]')
                assert shown == str(ranged["totals"][field]), (field, ranged["totals"])
            browser.close()
        assert httpx.get(stack.gateway + "/fleetcost/v1/series",
                         params={"by": "colour"}).status_code == 400
