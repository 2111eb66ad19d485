"""Building the report benchmark's ledger through the gateway's own writer path.

Calls go through `LedgerWriter.submit` on an event loop, exactly as the
gateway hands them over, and reach `SQLiteUsageLog.append` in the writer's
batches on its worker thread: so the build time includes whatever the
writer does per batch (the aggregates kept in the same transaction). The
time spent inside `append` is measured on its own (wall and thread CPU),
apart from the time to make the records.

`write_cost` then times single appends of 1, 16, 256 and 1,024 new calls on
the full ledger: the added cost per ledger write, paid on the writer's
thread, never on a response.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from fleetcost.storage.sqlite import SQLiteUsageLog
from fleetcost.storage.writer import LedgerWriter
from fleetcost.types import CallRecord

MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-6", "claude-haiku-4-5")


def records(rows: int, seed: int = 1, prefix: str = "c",
            shape: str = "fleet") -> Iterator[CallRecord]:
    """A synthetic month of `rows` calls, of one of two shapes (see `uniform` and `fleet`)."""
    return (fleet if shape == "fleet" else uniform)(rows, seed, prefix)


def uniform(rows: int, seed: int, prefix: str) -> Iterator[CallRecord]:
    """Every call's time, agent, session, task and model drawn independently, in random order.

    The first benchmark's ledger, kept as the worst case for aggregates: a
    session's dozen calls lie on a dozen days with a dozen agents, and no
    batch of writes shares a session or an hour with the next.
    """
    rnd = random.Random(seed)
    for i in range(rows):
        day, sec = rnd.randrange(30), rnd.randrange(86_400)
        yield CallRecord(
            call_id=f"{prefix}{i:08d}",
            ts=f"2026-10-{day + 1:02d}T{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}Z",
            tenant=f"t{rnd.randrange(5)}", agent_id=f"agent-{rnd.randrange(200)}",
            session_id=f"s{rnd.randrange(rows // 12 + 1)}", task_type=f"task-{rnd.randrange(12)}",
            model=rnd.choice(MODELS), provider="openai",
            input_tokens=rnd.randrange(500, 20_000), output_tokens=rnd.randrange(10, 800),
            cached_tokens=rnd.randrange(0, 400) * 32, cache_status="hit",
            response_cache=rnd.choice(("miss", "bypass", "exact")),
            cost_usd=Decimal(rnd.randrange(1, 10**8)) / Decimal(10**9),
            saved_usd=Decimal(rnd.randrange(0, 10**6)) / Decimal(10**9),
        )


def _session(rnd: random.Random, start: int, n: int, agent: int, sid: str,
             prefix: str) -> list[CallRecord]:
    """One agent's session: n calls seconds apart; some made by a helper sub-agent."""
    tenant, task = f"t{agent % 5}", f"task-{agent % 12 if rnd.random() < 0.8 else agent * 7 % 12}"
    model = MODELS[agent % 4] if rnd.random() < 0.75 else rnd.choice(MODELS)
    out: list[CallRecord] = []
    t = start
    for j in range(n):
        t += rnd.randrange(2, 90)
        helper = j > 0 and rnd.random() < 0.1
        day, sec = divmod(min(t, 30 * 86_400 - 1), 86_400)
        cache = rnd.choices(("exact", "miss", "bypass"), (10, 40, 50))[0]
        out.append(CallRecord(
            call_id=f"{prefix}{sid}-{j:02d}",
            ts=f"2026-10-{day + 1:02d}T{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}Z",
            tenant=tenant, agent_id=f"agent-{(agent + 1) % 200 if helper else agent}",
            session_id=None if helper else sid, task_type=None if helper else task,
            parent_id=out[-1].call_id if helper else None,
            model="gpt-4o-mini" if helper else model, provider="openai",
            input_tokens=rnd.randrange(500, 20_000), output_tokens=rnd.randrange(10, 800),
            cached_tokens=rnd.randrange(0, 400) * 32, cache_status="hit", response_cache=cache,
            cost_usd=Decimal(rnd.randrange(1, 10**8)) / Decimal(10**9),
            saved_usd=Decimal(rnd.randrange(1, 10**6)) / Decimal(10**9)
            if cache == "exact" else Decimal(0),
            outcome="error" if rnd.random() < 0.03 else "success",
        ))
    return out


def fleet(rows: int, seed: int, prefix: str) -> Iterator[CallRecord]:
    """Sessions as a gateway sees them, written in time order.

    200 agents, each with its tenant, main task type and main model; a
    session is 1-23 calls (12 on average) by one agent a few seconds to a
    minute apart, one call in ten made by a helper sub-agent on its behalf
    (`parent_id`, no session of its own: it rolls up). Session starts are
    spread over 30 days; calls come out sorted by time within each day.
    """
    rnd = random.Random(seed)
    starts = sorted(rnd.randrange(30 * 86_400) for _ in range(rows // 11 + 1))
    made, pending, i = 0, [], 0
    for day in range(31):
        while i < len(starts) and starts[i] < (day + 1) * 86_400:
            pending += _session(rnd, starts[i], rnd.randint(1, 23), rnd.randrange(200),
                                f"s{i:07d}", prefix)
            i += 1
        edge = f"2026-10-{day + 2:02d}"
        ready = sorted((r for r in pending if r.ts < edge), key=lambda r: r.ts)
        pending = [r for r in pending if r.ts >= edge]
        for r in ready:
            if made == rows:
                return
            made += 1
            yield r


class TimedLog:
    """The real store, with the time spent in `append` added up (wall, thread CPU)."""

    def __init__(self, log: SQLiteUsageLog) -> None:
        self.log, self.wall, self.cpu, self.batches = log, 0.0, 0.0, 0

    def append(self, batch: Sequence[CallRecord]) -> None:
        w, c = time.perf_counter(), time.thread_time()
        self.log.append(batch)
        self.wall += time.perf_counter() - w
        self.cpu += time.thread_time() - c
        self.batches += 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.log, name)


async def _feed(writer: LedgerWriter, rows: int, chunk: int, shape: str) -> None:
    made = records(rows, shape=shape)
    while True:
        part = [r for _, r in zip(range(chunk), made, strict=False)]
        if not part:
            break
        for r in part:
            writer.submit(r)
        while writer.pending > 4 * chunk:  # keep memory flat: let the writer catch up
            await asyncio.sleep(0.005)
    await writer.drain()


def build(path: Path, rows: int, shape: str = "fleet") -> dict[str, Any]:
    """Write `rows` calls through the ledger writer; return how long each part took."""
    store = TimedLog(SQLiteUsageLog(path))
    writer = LedgerWriter(store, batch_size=256, flush_ms=50)  # type: ignore[arg-type]
    wall, cpu = time.perf_counter(), time.process_time()
    asyncio.run(_feed(writer, rows, 2048, shape))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    store.log.close()
    return {"rows": rows, "wall_s": round(wall, 1), "process_cpu_s": round(cpu, 1),
            "append_wall_s": round(store.wall, 1), "append_cpu_s": round(store.cpu, 1),
            "append_batches": store.batches,
            "append_rows_per_s": round(rows / store.wall) if store.wall else None,
            "append_us_per_row": round(1e6 * store.wall / rows, 1)}


def write_cost(path: Path, shape: str = "fleet", repeat: int = 20) -> dict[str, Any]:
    """Median wall / CPU of one `append` of N new calls on the built ledger, per size."""
    log = SQLiteUsageLog(path)
    fresh = records(repeat * (1 + 16 + 256 + 1024), seed=99, prefix="w", shape=shape)
    out: dict[str, Any] = {}
    for size in (1, 16, 256, 1024):
        walls, cpus = [], []
        for _ in range(repeat):
            batch = [r for _, r in zip(range(size), fresh, strict=False)]
            w, c = time.perf_counter(), time.thread_time()
            log.append(batch)
            walls.append(time.perf_counter() - w)
            cpus.append(time.thread_time() - c)
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        out[str(size)] = {"append_ms": round(1e3 * wall, 3), "cpu_ms": round(1e3 * cpu, 3),
                          "us_per_row": round(1e6 * wall / size, 1)}
    log.close()
    return out
