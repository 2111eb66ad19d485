"""The load generator, run as its own process: `python -m bench.loadgen < spec.json`.

Its own process so that its CPU shows separately from the orchestrator's and
the measured servers', and so that one scenario's leftovers cannot slow the
next. It reads a JSON spec on stdin and writes one JSON result on stdout.

Three shapes of load:
- sequential: one call at a time, direct and gateway interleaved (alternating
  which goes first), so both see the same machine state and each pair gives
  a paired difference as well as the two distributions;
- open: calls fired on an absolute schedule (`t0 + i / rate`) whatever the
  servers do, latency counted from the scheduled time so that a stalled
  server is charged for the calls it delayed (no coordinated omission);
- closed: N connections each sending its next call as soon as the last one
  ends: the highest rate the system sustains, and the RSS run.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections import Counter
from typing import Any

import orjson
import psutil
import uvloop

from bench.stats import added, summarize
from bench.wire import Connection, Pool, ResponseError, connect, encode_request

Spec = dict[str, Any]
Item = tuple[bytes, bool]  # encoded request, streamed?


class CpuWatch:
    """CPU of the measured processes, this one, and everything else, over a window.

    "others" is the machine's busy time minus ours: on a shared two-core box
    a neighbour's busy process explains a bad run better than any profile,
    so every result carries it.
    """

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.procs["loadgen"] = psutil.Process()
        self.start_cpu: dict[str, float] = {}
        self.start_busy = 0.0
        self.start_wall = 0.0

    @staticmethod
    def _cpu(proc: psutil.Process) -> float:
        t = proc.cpu_times()
        return float(t.user + t.system)

    @staticmethod
    def _busy() -> float:
        t = psutil.cpu_times()
        return float(t.user + t.nice + t.system + getattr(t, "irq", 0.0)
                     + getattr(t, "softirq", 0.0) + getattr(t, "steal", 0.0))

    def start(self) -> None:
        self.start_wall = time.perf_counter()
        self.start_busy = self._busy()
        self.start_cpu = {n: self._cpu(p) for n, p in self.procs.items()}

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self.start_wall
        out = {f"{n}_cpu_pct": round(100 * (self._cpu(p) - self.start_cpu[n]) / wall, 1)
               for n, p in self.procs.items()}
        ours = sum(out.values())
        busy = round(100 * (self._busy() - self.start_busy) / wall, 1)
        out["machine_busy_pct"] = busy
        out["others_cpu_pct"] = round(max(0.0, busy - ours), 1)
        return out


def encode_mix(spec: Spec, target: str) -> list[Item]:
    t = spec["targets"][target]
    return [(encode_request(t["host"], t["port"], t["path"], c["body"].encode()), c["stream"])
            for c in spec["bodies"]]


def by_kind(samples: list[tuple[bool, float]]) -> dict[str, dict[str, float | int]]:
    """Summaries of all calls, non-streamed (`json`) and streamed (`stream`) ones."""
    return {
        "all": summarize([v for _, v in samples]),
        "json": summarize([v for s, v in samples if not s]),
        "stream": summarize([v for s, v in samples if s]),
    }


async def timed(conn: Connection, item: Item) -> float:
    start = time.perf_counter()
    await conn.request(item[0], item[1])
    return (time.perf_counter() - start) * 1000


async def sequential(spec: Spec) -> dict[str, Any]:
    names = ("direct", "gateway")
    mixes = {n: encode_mix(spec, n) for n in names}
    conns = {n: await connect(spec["targets"][n]["host"], spec["targets"][n]["port"])
             for n in names}
    samples: dict[str, list[tuple[bool, float]]] = {n: [] for n in names}
    paired: list[tuple[bool, float]] = []
    errors: Counter[str] = Counter()
    warmup, n = spec["warmup"], spec["n"]
    watch = CpuWatch(spec.get("watch", {}))
    for i in range(warmup + n):
        if i == warmup:
            watch.start()
        order = names if i % 2 == 0 else names[::-1]
        got: dict[str, float] = {}
        for name in order:
            item = mixes[name][i % len(mixes[name])]
            try:
                got[name] = await timed(conns[name], item)
            except ResponseError as exc:
                errors[f"{name}:{exc.kind}"] += 1
                t = spec["targets"][name]
                conns[name].close()
                conns[name] = await connect(t["host"], t["port"])
        if i >= warmup and len(got) == 2:
            stream = mixes["direct"][i % len(mixes["direct"])][1]
            for name in names:
                samples[name].append((stream, got[name]))
            paired.append((stream, got["gateway"] - got["direct"]))
    cpu = watch.stop()
    direct, gateway = by_kind(samples["direct"]), by_kind(samples["gateway"])
    return {
        "n": n, "warmup": warmup, "errors": dict(errors), **cpu,
        "direct": direct, "gateway": gateway,
        "added": {k: added(direct[k], gateway[k]) for k in direct},
        "added_paired": by_kind(paired),
    }


def schedule(rate: float, duration: float, t0: float) -> list[float]:
    """Absolute send times of an open loop: evenly spaced, fixed in advance."""
    return [t0 + i / rate for i in range(round(rate * duration))]


async def open_loop(spec: Spec) -> dict[str, Any]:
    """Fire on schedule; a late call is charged from when it should have left."""
    target = spec["targets"][spec["target"]]
    mix = encode_mix(spec, spec["target"])
    pool = Pool(target["host"], target["port"])
    await pool.prewarm(spec.get("prewarm", 32))
    rate, warm_s, dur = spec["rate"], spec["warmup_s"], spec["duration"]
    t0 = time.perf_counter() + 0.05
    times = schedule(rate, warm_s + dur, t0)
    first_measured = round(rate * warm_s)
    samples: list[tuple[bool, float]] = []
    service: list[float] = []
    lags: list[float] = []
    errors: Counter[str] = Counter()
    watch = CpuWatch(spec.get("watch", {}))
    last_done = [0.0]

    async def one(i: int, due: float) -> None:
        item = mix[i % len(mix)]
        sent = time.perf_counter()
        try:
            conn = await pool.acquire()
            await conn.request(item[0], item[1])
        except (ResponseError, OSError) as exc:
            if i >= first_measured:
                errors[getattr(exc, "kind", type(exc).__name__)] += 1
            return
        done = time.perf_counter()
        pool.release(conn)
        if i >= first_measured:
            samples.append((item[1], (done - due) * 1000))
            service.append((done - sent) * 1000)
            lags.append((sent - due) * 1000)
            last_done[0] = done

    loop = asyncio.get_running_loop()
    tasks = []
    for i, due in enumerate(times):
        if i == first_measured:
            watch.start()
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(loop.create_task(one(i, due)))
    await asyncio.wait(tasks, timeout=spec.get("drain_s", 30))
    cpu = watch.stop()
    measured = len(times) - first_measured
    window = max(last_done[0] - times[first_measured], 1e-9) if measured else 0.0
    pool.close()
    return {
        "target": spec["target"], "rate": rate, "duration_s": dur, "n": measured,
        "completed": len(samples), "errors": dict(errors),
        "unfinished": sum(not t.done() for t in tasks),
        "achieved_rps": round(len(samples) / window, 1) if window else 0.0,
        "connections_opened": pool.opened, **cpu,
        "latency": by_kind(samples), "service_time": summarize(service),
        "send_lag": summarize(lags),
    }


async def closed_loop(spec: Spec) -> dict[str, Any]:
    """N workers, one connection each, back to back until `total` calls or `duration`."""
    target = spec["targets"][spec["target"]]
    mix = encode_mix(spec, spec["target"])
    total, duration, warmup = spec.get("total"), spec.get("duration"), spec.get("warmup", 0)
    rss_pid, rss_every = spec.get("rss_pid"), spec.get("rss_every", 0)
    rss_proc = psutil.Process(rss_pid) if rss_pid else None
    rss: list[tuple[int, int]] = []
    samples: list[tuple[bool, float]] = []
    errors: Counter[str] = Counter()
    watch = CpuWatch(spec.get("watch", {}))
    state = {"issued": 0, "done": 0, "stop_at": float("inf")}

    async def worker() -> None:
        conn = await connect(target["host"], target["port"])
        while state["issued"] < (total or sys.maxsize) and time.perf_counter() < state["stop_at"]:
            i = state["issued"]
            state["issued"] += 1
            item = mix[i % len(mix)]
            try:
                ms = await timed(conn, item)
            except (ResponseError, OSError) as exc:
                errors[getattr(exc, "kind", type(exc).__name__)] += 1
                conn.close()
                conn = await connect(target["host"], target["port"])
                continue
            state["done"] += 1
            done = state["done"]
            if done == warmup:
                watch.start()
                state["started"] = time.perf_counter()
                if duration:
                    state["stop_at"] = state["started"] + duration
            elif done > warmup:
                samples.append((item[1], ms))
            if rss_proc is not None and rss_every and done % rss_every == 0:
                rss.append((done, rss_proc.memory_info().rss))
        conn.close()

    if warmup == 0:
        watch.start()
        state["started"] = time.perf_counter()
        if duration:
            state["stop_at"] = state["started"] + duration
    await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))
    elapsed = time.perf_counter() - state["started"]
    cpu = watch.stop()
    return {
        "target": spec["target"], "concurrency": spec["concurrency"], "calls": state["done"],
        "measured": len(samples), "errors": dict(errors), "elapsed_s": round(elapsed, 3),
        "rps": round(len(samples) / elapsed, 1), **cpu, "latency": by_kind(samples),
        "rss": [{"calls": c, "rss_mb": round(b / 2**20, 2)} for c, b in rss],
    }


MODES = {"sequential": sequential, "open": open_loop, "closed": closed_loop}


def main() -> None:
    spec = orjson.loads(sys.stdin.buffer.read())
    # A collection pause in the generator would show up as server latency.
    gc.freeze()
    gc.set_threshold(200_000, 50, 50)
    result = uvloop.run(MODES[spec["mode"]](spec))
    sys.stdout.buffer.write(orjson.dumps(result))


if __name__ == "__main__":
    main()
