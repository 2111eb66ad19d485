"""Counterfactual replay against a live run through the gateway, and the CI gate.

The source is a few tau-bench conversations run twice (a fleet re-running a
batch of tasks): with the exact cache on, the second pass is served from the
cache. The replay's per-lever saving and totals must match a live run of the
same calls, sent with the official OpenAI SDK through a gateway configured
with the same policy, within 1%.
"""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from fleetcost.planner.replay import post_lengths
from fleetcost.planner.sources import Recorded, load_source
from tests.gateway.conftest import run_stack
from tests.planner.paths import SHARED

REPO = Path(__file__).resolve().parents[2]
TAU = SHARED / "tau-bench" / "historical_trajectories" / "gpt-4o-airline.json"
pytestmark = pytest.mark.skipif(not TAU.is_file(), reason="shared tau-bench data not present")

CACHE_OFF = '[cache]\nmode = "off"\n'
CACHE_ON = '[cache]\nmode = "on"\ncache_sampled = true\n'
SEED = "7"


def _source(tmp: Path, picks: tuple[int, ...] = (149, 141, 75)) -> Path:
    trajectories = orjson.loads(TAU.read_bytes())
    chosen = [trajectories[i] for i in picks]
    path = tmp / "fleet.json"
    path.write_bytes(orjson.dumps(chosen + chosen))
    return path


def _replay(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "fleetcost.cli.main", "replay", *args],
                          cwd=REPO, capture_output=True, timeout=300, check=False)


def _live(tmp: Path, config: str, calls: list[Recorded]) -> list[dict[str, Any]]:
    """The same calls through a gateway with `config`, sent by the OpenAI SDK."""
    tmp.mkdir()
    with run_stack(tmp, emulator_args=("--seed", SEED, "--latency", "zero"),
                   config=config) as stack, \
            openai.OpenAI(base_url=stack.gateway + "/v1", api_key="k", max_retries=0) as client:
        post_lengths(stack.emulator, calls)  # the emulator answers at the recorded lengths
        for call in calls:
            body = orjson.loads(call.body)
            client.chat.completions.create(**body, extra_headers=dict(call.headers))
        return stack.ledger(len(calls))


def _sum(rows: list[dict[str, Any]], key: str, where: Any = lambda r: True) -> Decimal:
    return sum((Decimal(str(r[key] or 0)) for r in rows if where(r)), Decimal(0))


def test_replay_matches_the_live_run(tmp_path: Path) -> None:
    source = _source(tmp_path)
    (tmp_path / "off.toml").write_text(CACHE_OFF)
    (tmp_path / "on.toml").write_text(CACHE_ON)
    done = _replay(str(source), "--baseline", str(tmp_path / "off.toml"),
                   "--policy", str(tmp_path / "on.toml"), "--emulator-seed", SEED, "--json")
    assert done.returncode == 0, done.stderr
    doc = orjson.loads(done.stdout)
    calls = load_source(str(source), "gpt-4o")
    assert doc["calls"] == len(calls) == 2 * (2 + 3 + 4)
    # Cache off, every call reaches the emulator, which answers at the recorded length.
    recorded = sum(c.output_tokens or 0 for c in calls)
    assert doc["baseline"]["total"]["output_tokens"] == recorded

    live_off = _live(tmp_path / "off", CACHE_OFF, calls)
    live_on = _live(tmp_path / "on", CACHE_ON, calls)
    hits = [r for r in live_on if r["response_cache"] == "exact"]
    assert len(hits) == len(calls) // 2  # the whole second pass
    live_lever = _sum(live_on, "saved_usd", lambda r: r["response_cache"] == "exact")
    live_saving = _sum(live_off, "cost_usd") - _sum(live_on, "cost_usd")

    replay_lever = Decimal(doc["candidate"]["by_lever"]["cache.exact"]["saved_usd"])
    replay_saving = -Decimal(doc["delta_usd"])
    assert doc["candidate"]["by_lever"]["cache.exact"]["calls"] == len(hits)
    assert live_lever > 0 and live_saving > 0
    assert abs(replay_lever - live_lever) <= live_lever / 100
    assert abs(replay_saving - live_saving) <= live_saving / 100
    assert abs(Decimal(doc["candidate"]["total"]["cost_usd"]) - _sum(live_on, "cost_usd")) \
        <= _sum(live_on, "cost_usd") / 100
    assert doc["policy_changes"] == ["cache.cache_sampled: False -> True",
                                     "cache.mode: off -> on"]


def test_cost_gate_exit_codes(tmp_path: Path) -> None:
    source = _source(tmp_path, picks=(149,))
    off, on = tmp_path / "off.toml", tmp_path / "on.toml"
    off.write_text(CACHE_OFF)
    on.write_text(CACHE_ON)
    # Turning the cache off doubles the bill of a re-run batch: the gate fails.
    worse = _replay(str(source), "--baseline", str(on), "--policy", str(off),
                    "--fail-above", "5%", "--json")
    assert worse.returncode == 3, worse.stderr
    gate = orjson.loads(worse.stdout)["gate"]
    assert gate == {"fail_above": "0.05", "passed": False}
    better = _replay(str(source), "--baseline", str(off), "--policy", str(on),
                     "--fail-above", "5%")
    assert better.returncode == 0, better.stderr
    assert b"cost gate (fail above 5.00%): passed" in better.stdout


def test_bad_policy_fails_before_any_server(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[cache]\nmode = "sometimes"\n')
    done = _replay(str(_source(tmp_path, picks=(149,))), "--policy", str(bad))
    assert done.returncode == 1
    assert b"cache.mode" in done.stderr
