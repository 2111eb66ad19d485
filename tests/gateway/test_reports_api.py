"""The gateway's report and alert APIs answer with the same figures as the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import openai
from anthropic import Anthropic

from tests.gateway.conftest import run_stack


def _cli_report(db: Path, by: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "fleetcost.cli.main", "report", "--by", by,
                          "--db", str(db), "--json"], check=True, capture_output=True).stdout
    return json.loads(out)


def test_report_api_equals_cli_and_alerts_listed(tmp_path: Path) -> None:
    with run_stack(tmp_path, config="[alerts]\ninterval_s = 0.2\n") as stack:
        oai = openai.OpenAI(base_url=stack.gateway + "/v1", api_key="k", max_retries=0)
        ant = Anthropic(base_url=stack.gateway, api_key="k", max_retries=0)
        for i in range(6):
            oai.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}],
                extra_headers={"X-Fleetcost-Agent": f"agent-{i % 2}",
                               "X-Fleetcost-Session": f"s{i % 3}"})
        ant.messages.create(model="claude-haiku-4-5", max_tokens=64,
                            messages=[{"role": "user", "content": "hello"}],
                            extra_headers={"X-Fleetcost-Agent": "agent-2"})
        stack.ledger(7)
        for by in ("agent", "model", "session"):
            api = httpx.get(stack.gateway + "/fleetcost/v1/report", params={"by": by}).json()
            assert api == _cli_report(stack.db, by)
        by_agent = {g["key"]: g for g in api_groups(stack.gateway, "agent")}
        assert set(by_agent) == {"agent-0", "agent-1", "agent-2"}
        assert by_agent["agent-0"]["calls"] == 3
        bad = httpx.get(stack.gateway + "/fleetcost/v1/report", params={"by": "colour"})
        assert bad.status_code == 400 and "by must be one of" in bad.json()["error"]["message"]
        alerts = httpx.get(stack.gateway + "/fleetcost/v1/alerts").json()
        assert alerts == {"alerts": []}  # seven calls break no rule


def api_groups(gateway: str, by: str) -> list[dict]:
    return httpx.get(gateway + "/fleetcost/v1/report", params={"by": by}).json()["groups"]
