"""`fleetcost demo`: a realistic fleet through emulator + gateway, and its bill.

Starts the provider emulator and the gateway as child processes, replays
tau-bench airline conversations as a fleet of agents on four models, reads
the gateway's ledger back and prints calls, tokens and exact cost per agent
and per model. Each scenario (today the baseline with every lever off; the
levers join as they land) gets its own table. Last, a scripted agent stuck
in a tool-call loop runs through the same gateway until the default guard
stops it, and what it cost until then is read from the ledger.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import orjson

from fleetcost.errors import FleetcostError
from fleetcost.fleet import ledger, runaway
from fleetcost.fleet.batch_offload import (
    BATCH_SCENARIO,
    BatchSaving,
    batch_share,
    offload,
    saving,
)
from fleetcost.fleet.driver import ReplayStats
from fleetcost.fleet.levers import lever_rows, render_levers
from fleetcost.fleet.plan import Scenario, plan_sessions
from fleetcost.fleet.routing_quality import routing_quality
from fleetcost.fleet.run import ScenarioResult, Servers, collect, replay_scenarios, servers
from fleetcost.fleet.table import render
from fleetcost.fleet.trajectories import Conversation, find_data_dir, load_conversations
from fleetcost.planner.whatif import demo_calls, what_if
from fleetcost.storage.base import CallQuery

DEFAULT_SESSIONS = 24
DEFAULT_CONCURRENCY = 8


def register(sub: Any, name: str, help_text: str) -> None:
    parser = sub.add_parser(
        name, help=help_text,
        description="Replay a realistic fleet through emulator and gateway; print its bill.",
    )
    parser.add_argument("--no-serve", action="store_true",
                        help="exit after printing the table instead of keeping the gateway up")
    parser.add_argument("--json", action="store_true",
                        help="print the tables as JSON (money as decimal strings)")
    parser.add_argument("--sessions", type=_positive, metavar="N", default=DEFAULT_SESSIONS,
                        help=f"conversations to replay (default {DEFAULT_SESSIONS}, at most 152)")
    parser.add_argument("--concurrency", type=_positive, metavar="N", default=DEFAULT_CONCURRENCY,
                        help=f"sessions in flight at once (default {DEFAULT_CONCURRENCY})")
    parser.add_argument("--data", metavar="DIR",
                        help="the shared data folder (default: $FLEETCOST_DATA or ../shared/data)")
    parser.add_argument("--ledger", metavar="PATH",
                        help="keep the demo's SQLite ledger at PATH (a new file) to explore "
                             "it afterwards with FLEETCOST_DB=PATH fleetcost calls")
    parser.add_argument("--port", type=int, default=0,
                        help="gateway port (default: any free port)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    data_dir = find_data_dir(args.data, os.environ, Path.cwd())
    conversations = load_conversations(data_dir)
    if args.sessions > len(conversations):
        raise FleetcostError(
            f"--sessions {args.sessions} is more than the {len(conversations)} conversations "
            "in the data; pass a smaller number"
        )
    with _terminate_as_interrupt(), tempfile.TemporaryDirectory(prefix="fleetcost-demo-") as tmp:
        db_path = _ledger_path(args.ledger, Path(tmp))
        config = Path(tmp) / "demo.toml"
        config.write_text(DEMO_CONFIG)
        with servers(Path(tmp), db_path, args.port, config=config) as up:
            replays = replay_scenarios(
                up, conversations, args.sessions,
                concurrency=args.concurrency, on_call=_progress_for(conversations, args.sessions),
            )
            _fail_if_nothing_went_through(up, [stats for _, _, stats in replays])
            stuck = _runaway(up, conversations[0])
            offloaded = _batch(up, conversations, args.sessions)
            whatif = what_if(demo_calls(conversations, args.sessions), WHAT_IF_POLICY,
                             Path(tmp), name="compression on")
            results = collect(up, replays, stop_gateway=args.no_serve)
            quality = routing_quality(data_dir, next(
                (r.rows for r in results if r.scenario.name == "routing"), []))
            elapsed = time.perf_counter() - started
            _print_results(results, data_dir, elapsed, as_json=args.json,
                           extra={"runaway": stuck.as_json(), "batch": offloaded.as_json(),
                                  "what_if": whatif.as_json(),
                                  "routing_quality": quality.as_json() if quality else None})
            if not args.json:
                print(f"\n== runaway agent: guards on (default) ==\n\n{runaway.render(stuck)}")
                print(f"\n== batch offload ==\n\n{offloaded.calls} calls of a quarter of the "
                      f"sessions went through provider batches: ${offloaded.batch_usd} paid, "
                      f"${offloaded.live_usd} at live prices, ${offloaded.saved_usd} saved "
                      "(ledger rows with batch = 1)")
                print(f"\n== replay ==\n\n{whatif.line()}")
                if quality is not None:
                    print(f"\n== routing ==\n\n{quality.line()}")
            _warn_about_gaps(results)
            if not args.no_serve:
                return _serve_until_interrupted(up, out=sys.stderr if args.json else sys.stdout)
            if not args.json:
                _print_doctor(up.db_path)
    return 0


def _print_doctor(db_path: Path) -> None:
    """Without a dashboard to point at, say what the doctor finds in the demo's ledger."""
    from fleetcost.analytics.doctor import diagnose
    from fleetcost.analytics.prefix_doctor import prefix_findings
    from fleetcost.cli.doctor_prices import price_lookup
    from fleetcost.storage.prefix_sqlite import read_evidence
    from fleetcost.storage.sqlite import SQLiteUsageLog

    log = SQLiteUsageLog(db_path)
    try:
        rows = log.query(CallQuery())
    finally:
        log.close()
    findings = diagnose(rows) + prefix_findings(rows, read_evidence(str(db_path), None),
                                                price_lookup(None))
    print(f"\n== fleetcost doctor on the demo's ledger: {len(findings)} findings ==\n")
    for f in findings:
        print(f"- [{f.kind}] {f.summary}")


# The demo's gateway: batches flushed and polled within a second, so the batch
# share finishes while the demo runs (production defaults wait a minute).
DEMO_CONFIG = "[batch]\nflush_s = 1.0\npoll_s = 0.5\n"
WHAT_IF_POLICY = "[cache]\nmode = \"off\"\n\n[compress]\nenabled = true\n"


def _batch(up: Servers, conversations: list[Conversation], count: int) -> BatchSaving:
    """A quarter of the fleet's sessions sent as batch calls; the saving read from the ledger."""
    sessions = batch_share(plan_sessions(conversations, count, BATCH_SCENARIO), 0.25)
    stats = asyncio.run(offload(up.gateway.url, sessions))
    rows = ledger.wait_for_rows(
        up.db_path, len(stats.finished),
        keep=lambda row: (row.get("session_id") or "").startswith(BATCH_SCENARIO.name + "/"))
    return saving(rows)


def _runaway(up: Servers, conversation: Conversation) -> runaway.RunawayResult:
    """One scripted looping agent through the same gateway; its rows read from the ledger."""
    result = asyncio.run(runaway.run(up.gateway.url, conversation))
    result.rows = ledger.wait_for_rows(
        up.db_path, result.sent, keep=lambda row: row.get("session_id") == runaway.SESSION)
    return result


def _fail_if_nothing_went_through(up: Servers, stats: list[ReplayStats]) -> None:
    """A table of zeros would hide the problem; the gateway's log usually names it."""
    if any(s.ok for s in stats):
        return
    first = next((s.errors[0] for s in stats if s.errors), "no call was sent")
    raise FleetcostError(
        f"no call went through the gateway (first failure: {first}); "
        f"its log ends with:\n{up.gateway.log_tail()}"
    )


def _ledger_path(requested: str | None, tmp: Path) -> Path:
    if not requested:
        return tmp / "fleetcost.db"
    path = Path(requested).resolve()
    if path.exists():
        raise FleetcostError(
            f"--ledger {path} already exists; pass a new path so the demo's calls are not "
            "mixed with other rows"
        )
    cache = path.with_name(path.stem + "-cache.db")
    if cache.exists():
        # The gateway keeps its response cache beside the ledger: an old one
        # would answer the response-cache scenario from a previous run.
        raise FleetcostError(f"{cache} (a response cache beside --ledger) already exists; "
                             "remove it or pass another --ledger path")
    return path


def _print_results(
    results: list[ScenarioResult], data_dir: Path, elapsed: float, *, as_json: bool,
    extra: dict[str, Any] | None = None,
) -> None:
    levers = lever_rows({r.scenario.name: r.rows for r in results},
                        [r.scenario for r in results])
    if as_json:
        doc = {
            "data": str(data_dir),
            "seconds": round(elapsed, 3),
            "scenarios": [r.as_json() for r in results],
            "levers": levers,
            **(extra or {}),
        }
        sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
        return
    sent = sum(r.stats.sent for r in results)
    rows = sum(len(r.rows) for r in results)
    print(f"fleetcost demo: {results[0].sessions} tau-bench airline sessions, {sent:,} calls "
          f"through the gateway, {rows:,} ledger rows, {elapsed:.1f} s in all")
    for result in results:
        print(f"\n== {result.scenario.name}: {result.scenario.description} ==\n")
        print(render(result.by("agent_id"), "agent", result.total()))
        print()
        print(render(result.by("model"), "model", result.total()))
    if levers:
        print("\n== levers: the same sessions with each lever off and on ==\n")
        print(render_levers(levers))
    print("\nCosts come from the gateway's ledger. Levers (caching, routing) will be "
          "compared with this baseline as they land.")


def _warn_about_gaps(results: list[ScenarioResult]) -> None:
    for result in results:
        stats = result.stats
        if stats.failed:
            print(f"warning: {stats.failed} of {stats.sent} calls of {result.scenario.name} "
                  f"failed, first: {stats.errors[0]}", file=sys.stderr)
        # Calls the gateway made on its own (compression's summaries) are extra rows.
        rows = sum(1 for r in result.rows if r.get("route_reason") != "compress-summary")
        if rows != stats.sent:
            print(f"warning: {result.scenario.name} sent {stats.sent} calls but the ledger "
                  f"holds {rows} rows for it", file=sys.stderr)


def _serve_until_interrupted(up: Servers, out: TextIO) -> int:
    # The prompt is inside the try: a Ctrl-C right after it appears must still
    # be a clean stop (a loaded machine can deliver it before the loop starts).
    try:
        print(f"\nThe dashboard: {up.gateway.url}/dashboard\n"
              f"The gateway is up at {up.gateway.url} (OpenAI: {up.gateway.url}/v1, "
              f"Anthropic: {up.gateway.url}).\n"
              f"Ledger: FLEETCOST_DB={up.db_path} fleetcost calls\n"
              "Press Ctrl-C to stop.", file=out, flush=True)
        while up.gateway.proc.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    print(f"fleetcost: the gateway stopped with code {up.gateway.proc.returncode}; "
          f"its log ends with:\n{up.gateway.log_tail()}", file=sys.stderr)
    return 1


class Progress:
    """`label: done/total calls` on one rewritten line of stderr, only on a terminal."""

    def __init__(self, label: str, total: int, stream: TextIO = sys.stderr) -> None:
        self.label, self.total, self.done, self.stream = label, total, 0, stream
        self.enabled = stream.isatty()
        self._drawn = 0.0

    def advance(self) -> None:
        self.done += 1
        now = time.monotonic()
        if not self.enabled or (now - self._drawn < 0.1 and self.done < self.total):
            return
        self._drawn = now
        end = "\n" if self.done >= self.total else ""
        self.stream.write(f"\r{self.label}: {self.done}/{self.total} calls{end}")
        self.stream.flush()


def _progress_for(
    conversations: list[Conversation], sessions: int
) -> Callable[[Scenario], Callable[[], None]]:
    def total(scenario: Scenario) -> int:
        every = scenario.repeat_every
        return sum(c.assistant_turns + (c.assistant_turns // every if every else 0)
                   for c in conversations[:sessions])

    return lambda scenario: Progress(f"replaying {scenario.name}", total(scenario)).advance


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so the child servers are stopped, not orphaned."""
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value
