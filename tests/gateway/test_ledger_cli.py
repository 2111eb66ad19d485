"""Ledger round trips: shutdown drains the writer; `calls`, `doctor`, `/metrics`, `/v1/models`."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import httpx
import openai
import pytest

from fleetcost.cli.main import main
from fleetcost.storage.sqlite import SQLiteUsageLog
from fleetcost.types import CallRecord
from tests.gateway.conftest import Stack, run_stack


def test_shutdown_drains_pending_records(tmp_path: Path) -> None:
    # The writer would wait a minute or 10,000 records: only the drain on
    # SIGTERM can have written these rows.
    config = "[storage]\nflush_ms = 60000\nbatch_size = 10000\n"
    with run_stack(tmp_path, config=config) as stack:
        client = openai.OpenAI(base_url=stack.gateway + "/v1", api_key="k", max_retries=0)
        for i in range(25):
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}])
        assert httpx.get(stack.gateway + "/healthz").json()["ledger_pending"] == 25
    log = SQLiteUsageLog(stack.db)
    assert log.count() == 25
    log.close()


def _ledger(path: Path) -> Path:
    log = SQLiteUsageLog(path)
    log.append([
        CallRecord(call_id="call_a", ts="2026-11-23T10:00:00+00:00", model="gpt-4o",
                   input_tokens=1000, output_tokens=10, cost_usd=Decimal("0.0026")),
        CallRecord(call_id="call_b", ts="2026-11-23T10:00:01+00:00", model="house-llm",
                   input_tokens=500, output_tokens=50, cost_usd=None),
        CallRecord(call_id="call_c", ts="2026-11-23T10:00:02+00:00", model="gpt-4o",
                   outcome="error", error="upstream openai answered 500", cost_usd=Decimal(0)),
    ])
    log.close()
    return path


def test_calls_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = _ledger(tmp_path / "l.db")
    assert main(["calls", "--db", str(db), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["call_id"] for r in rows] == ["call_a", "call_b", "call_c"]
    assert rows[0]["cost_usd"] == "0.0026" and rows[1]["cost_usd"] is None


def test_doctor_lists_unpriced_and_errors(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    db = _ledger(tmp_path / "l.db")
    assert main(["doctor", "--db", str(db), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    kinds = {f["kind"]: f for f in report["findings"]}
    assert kinds["unpriced_model"]["sample_call_ids"] == ["call_b"]
    assert "house-llm" in kinds["unpriced_model"]["summary"]
    assert kinds["errors"]["sample_call_ids"] == ["call_c"]


def test_missing_ledger_is_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calls", "--db", str(tmp_path / "none.db")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fleetcost: no ledger at") and err.count("\n") == 1


def test_metrics_and_models(stack: Stack) -> None:
    client = openai.OpenAI(base_url=stack.gateway + "/v1", api_key="k", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini",
                                   messages=[{"role": "user", "content": "metrics"}],
                                   extra_headers={"X-Fleetcost-Tenant": "metrics-t"})
    text = httpx.get(stack.gateway + "/metrics").text
    labels = 'model="gpt-4o-mini",provider="openai",tenant="metrics-t",outcome="success"'
    assert f"fleetcost_requests_total{{{labels}}}" in text
    assert 'fleetcost_cost_usd_total{model="gpt-4o-mini",tenant="metrics-t",outcome="success"}' \
        in text
    assert 'fleetcost_tokens_total{model="gpt-4o-mini",tenant="metrics-t",type="input"}' in text
    ids = [m.id for m in client.models.list()]
    assert "gpt-4o" in ids and all(not i.startswith("claude") for i in ids)
    anthropic_list = httpx.get(stack.gateway + "/v1/models",
                               headers={"anthropic-version": "2023-06-01"}).json()
    assert any(m["id"].startswith("claude") for m in anthropic_list["data"])
