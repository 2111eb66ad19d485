"""`[ledger] store_bodies`: bodies kept (redacted) off the hot path, replayed from the ledger."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import anthropic
import openai
import orjson

from tests.gateway.conftest import run_stack

REPO = Path(__file__).resolve().parents[2]
SECRET = "sk-proj-" + "A1b2C3d4E5f6G7h8J9k0" * 2
STORE = '[ledger]\nstore_bodies = true\nredact = ["ACCT-[0-9]{6}"]\n'


def _record(tmp: Path) -> tuple[Path, int]:
    """A few calls through a gateway that keeps bodies; the ledger file and the call count."""
    with run_stack(tmp, emulator_args=("--latency", "zero"), config=STORE) as stack:
        with openai.OpenAI(base_url=stack.gateway + "/v1", api_key="k", max_retries=0) as oai:
            question = f"My key is {SECRET}, account ACCT-123456. {uuid.uuid4()}"
            for _ in range(2):
                oai.chat.completions.create(
                    model="gpt-4o-mini", temperature=0,
                    messages=[{"role": "user", "content": question}],
                    extra_headers={"X-Fleetcost-Task": "billing"})
        with anthropic.Anthropic(base_url=stack.gateway, api_key="k", max_retries=0) as ant:
            ant.messages.create(model="claude-haiku-4-5", max_tokens=50,
                                messages=[{"role": "user", "content": "Summarise the refund."}],
                                extra_headers={"X-Fleetcost-Task": "refund"})
        stack.ledger(3)
    return stack.db, 3


def test_bodies_are_redacted_and_replayable(tmp_path: Path) -> None:
    db, calls = _record(tmp_path)
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT b.wire, b.body, b.redactions, c.task_type FROM call_bodies b "
                        "JOIN calls c USING (call_id) ORDER BY c.ts").fetchall()
    conn.close()
    assert [(r[0], r[3]) for r in rows] == [("openai", "billing"), ("openai", "billing"),
                                           ("anthropic", "refund")]
    first = orjson.loads(rows[0][1])
    text = first["messages"][0]["content"]
    assert SECRET not in text and "ACCT-123456" not in text
    assert text.count("[REDACTED]") == 2 and rows[0][2] == 2

    policy = tmp_path / "on.toml"
    policy.write_text('[cache]\nmode = "on"\n')
    off = tmp_path / "off.toml"
    off.write_text('[cache]\nmode = "off"\n')
    done = subprocess.run(
        [sys.executable, "-m", "fleetcost.cli.main", "replay", str(db), "--baseline", str(off),
         "--policy", str(policy), "--json"],
        cwd=REPO, capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    doc = orjson.loads(done.stdout)
    assert doc["calls"] == calls
    assert doc["baseline"]["calls_failed"] == 0 and doc["candidate"]["calls_failed"] == 0
    assert doc["candidate"]["by_lever"]["cache.exact"]["calls"] == 1
    assert set(doc["by_task"]) == {"billing", "refund"}
    # The ledger's own bill rides along.
    conn = sqlite3.connect(db)
    billed = [Decimal(r[0]) for r in conn.execute("SELECT cost_usd FROM calls")]
    conn.close()
    assert doc["recorded"]["calls"] == 3
    assert Decimal(doc["recorded"]["cost_usd"]) == sum(billed, Decimal(0)) > 0


def test_bodies_are_not_kept_by_default(tmp_path: Path) -> None:
    with run_stack(tmp_path, emulator_args=("--latency", "zero")) as stack, \
            openai.OpenAI(base_url=stack.gateway + "/v1", api_key="k", max_retries=0) as oai:
        oai.chat.completions.create(model="gpt-4o-mini",
                                    messages=[{"role": "user", "content": "hello"}])
        stack.ledger(1)
    conn = sqlite3.connect(stack.db)
    assert conn.execute("SELECT COUNT(*) FROM call_bodies").fetchone()[0] == 0
    conn.close()
