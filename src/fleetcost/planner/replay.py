"""Counterfactual replay: recorded traffic re-run through the real gateway.

Each run starts a fresh emulator (fixed seed, zero latency) and a fresh
gateway configured by one policy file, with its own ledger and caches, and
sends every recorded call in arrival order, one at a time, as the agents sent
them. The gateway's own ledger is then read back, so the counterfactual bill
is what fleetcost would have charged, call by call, not an estimate. Because
both runs see the same prompts in the same order against the same
deterministic emulator, the difference between two runs is the policy's.

A policy is a fleetcost config file, or a fragment of one: any section the
config model knows (`[cache]` today; routing, compression and others as
they land) is validated by the same strict model the gateway uses. Runs
never leave the machine: every provider the policy declares is pointed at
the emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from fleetcost.config import Settings, load_settings
from fleetcost.emulator.lengths import LENGTHS_PATH, prompt_key
from fleetcost.errors import ConfigError, FleetcostError
from fleetcost.fleet import ledger, procs
from fleetcost.fleet.wire import WIRES
from fleetcost.planner.sources import Recorded

EMULATOR_SEED = 7
REPLAY_KEY = "sk-fleetcost-replay"
CALL_TIMEOUT_S = 120.0
NOT_INHERITED = ("FLEETCOST_CONFIG", "FLEETCOST_DB")


@dataclass(slots=True)
class Run:
    name: str
    policy: str  # the file, or "defaults"
    settings: Settings
    rows: list[ledger.Row] = field(default_factory=list)
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def load_policy(path: str | None) -> Settings:
    """The policy as the gateway will read it; replay-specific checks on top."""
    settings = load_settings(path) if path else Settings()
    if settings.storage.kind != "sqlite":
        raise ConfigError(f"policy {path}: replay reads the run's SQLite ledger; "
                          "remove [storage] kind from the policy")
    if settings.cache.path:
        raise ConfigError(f"policy {path}: [cache] path would share one cache between runs; "
                          "remove it (each run gets its own)")
    return settings


def run_policy(calls: Sequence[Recorded], policy: str | None, work: Path, name: str,
               *, seed: int = EMULATOR_SEED, recorded_lengths: bool = True) -> Run:
    """Replay `calls` through a gateway configured by `policy`; the ledger rows it wrote."""
    run = Run(name, policy or "defaults", load_policy(policy))
    db = work / f"{name}.db"
    with _stack(work, db, policy, run.settings, name, seed) as (emulator, gateway):
        if recorded_lengths:
            post_lengths(emulator.url, calls)
        asyncio.run(_send_all(gateway, calls, run))
        procs.stop(gateway)  # a clean stop drains the ledger writer
    run.rows = ledger.read_rows(db)
    if run.sent and run.failed == run.sent:
        raise FleetcostError(f"replay {name}: every call failed, first: {run.errors[0]}")
    return run


@contextlib.contextmanager
def _stack(work: Path, db: Path, policy: str | None, settings: Settings,
           name: str, seed: int) -> Iterator[tuple[procs.Child, procs.Child]]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env[ledger.DB_ENV] = str(db)
    eport, gport = procs.free_port(), procs.free_port()
    upstream = f"http://127.0.0.1:{eport}"
    args = ["serve", "--port", str(gport)]
    if policy:
        args += ["--config", str(Path(policy).resolve())]
    for provider in sorted({"openai", "anthropic", *settings.providers}):
        args += ["--upstream", f"{provider}={upstream}"]
    emu_args = ["emulate", "--port", str(eport), "--latency", "zero",
                "--seed", str(seed)]
    with contextlib.ExitStack() as stack:
        emulator = stack.enter_context(procs.running(
            procs.start(f"emulator-{name}", emu_args, eport, log_dir=work, env=env)))
        gateway = stack.enter_context(procs.running(
            procs.start(f"gateway-{name}", args, gport, log_dir=work, env=env)))
        procs.wait_healthy(emulator)
        procs.wait_healthy(gateway)
        yield emulator, gateway


def length_table(calls: Sequence[Recorded]) -> dict[str, int]:
    """Prompt key -> recorded output tokens (the first positive one per prompt: a
    recorded cache hit has no output of its own)."""
    table: dict[str, int] = {}
    for call in calls:
        if call.output_tokens and call.output_tokens > 0:
            table.setdefault(prompt_key(orjson.loads(call.body)), call.output_tokens)
    return table


def post_lengths(emulator_url: str, calls: Sequence[Recorded]) -> int:
    """Tell the emulator to answer each recorded prompt at its recorded length."""
    table = length_table(calls)
    if not table:
        return 0
    req = urllib.request.Request(
        emulator_url + LENGTHS_PATH, data=orjson.dumps({"lengths": table}),
        headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return int(orjson.loads(resp.read())["lengths"])


def _progress(name: str, done: int, total: int) -> None:
    """`replaying NAME: done/total calls` on one line of stderr, only on a terminal."""
    if sys.stderr.isatty() and (done == total or done % 25 == 0):
        end = "\n" if done == total else ""
        sys.stderr.write(f"\rreplaying {name}: {done}/{total} calls{end}")
        sys.stderr.flush()


async def _send_all(gateway: procs.Child, calls: Sequence[Recorded], run: Run) -> None:
    timeout = aiohttp.ClientTimeout(total=CALL_TIMEOUT_S)
    async with aiohttp.ClientSession(gateway.url, timeout=timeout) as http:
        for call in calls:
            _progress(run.name, run.sent, len(calls))
            headers = {"Content-Type": "application/json", **WIRES[call.wire].auth(REPLAY_KEY),
                       **dict(call.headers)}
            run.sent += 1
            try:
                async with http.post(call.path, data=call.body, headers=headers) as resp:
                    body = await resp.read()
                    if resp.status != 200:
                        _fail(run, f"call {call.seq}: HTTP {resp.status} {body[:200]!r}")
            except (aiohttp.ClientError, TimeoutError) as exc:
                _fail(run, f"call {call.seq}: {type(exc).__name__}: {exc}")
        _progress(run.name, run.sent, len(calls))


def _fail(run: Run, message: str) -> None:
    run.failed += 1
    if len(run.errors) < 5:
        run.errors.append(message)


def policy_diff(base: Settings, cand: Settings) -> list[str]:
    """`section.key: old -> new` for every config value the candidate changes."""
    return _diff(base.model_dump(mode="json"), cand.model_dump(mode="json"), "")


def _diff(a: Any, b: Any, where: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            out += _diff(a.get(key), b.get(key), f"{where}.{key}" if where else str(key))
        return out
    return [] if a == b else [f"{where}: {a} -> {b}"]
