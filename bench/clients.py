"""Upstream-client micro-benchmark: aiohttp vs httpx.AsyncClient vs the raw client.

ARCHITECTURE.md section 7 asks which client the gateway's upstream leg should
use. This answers it the way the gateway uses one: a single shared client,
32 connections, a closed loop against the emulator, streamed responses
relayed chunk by chunk, non-streamed ones read whole. Each client runs in its
own process (`python -m bench.clients < spec.json`) on uvloop, like the
gateway. Besides req/s and latency it reports the client's CPU per request,
the figure that matters on a machine where the client shares the cores with
the server: a client that needs less CPU leaves more for the gateway.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import uvloop

from bench.loadgen import CpuWatch, by_kind, closed_loop

Spec = dict[str, Any]
Send = Callable[[bytes, bool], Awaitable[None]]


async def _aiohttp(spec: Spec, run: Callable[[Send], Awaitable[dict[str, Any]]]) -> Any:
    import aiohttp

    url = spec["url"]
    headers = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
    connector = aiohttp.TCPConnector(limit=spec["concurrency"], keepalive_timeout=30)
    async with aiohttp.ClientSession(connector=connector,
                                     skip_auto_headers=("User-Agent",)) as session:
        async def send(body: bytes, stream: bool) -> None:
            async with session.post(url, data=body, headers=headers) as resp:
                if stream:
                    async for _ in resp.content.iter_any():
                        pass
                else:
                    await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"http_{resp.status}")

        return await run(send)


async def _httpx(spec: Spec, run: Callable[[Send], Awaitable[dict[str, Any]]]) -> Any:
    import httpx

    url = spec["url"]
    headers = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
    n = spec["concurrency"]
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        async def send(body: bytes, stream: bool) -> None:
            if stream:
                async with client.stream("POST", url, content=body, headers=headers) as resp:
                    async for _ in resp.aiter_raw():
                        pass
            else:
                resp = await client.post(url, content=body, headers=headers)
            if resp.status_code != 200:
                raise RuntimeError(f"http_{resp.status_code}")

        return await run(send)


def _runner(spec: Spec) -> Callable[[Send], Awaitable[dict[str, Any]]]:
    """A closed loop of `concurrency` workers over one shared `send`."""
    mix = [(c["body"].encode(), c["stream"]) for c in spec["bodies"]]

    async def run(send: Send) -> dict[str, Any]:
        watch = CpuWatch(spec.get("watch", {}))
        samples: list[tuple[bool, float]] = []
        errors = 0
        state = {"i": 0, "measuring": False}

        async def worker(stop_at: float) -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                i = state["i"]
                state["i"] += 1
                body, stream = mix[i % len(mix)]
                start = time.perf_counter()
                try:
                    await send(body, stream)
                except Exception:
                    errors += 1
                    continue
                if state["measuring"]:
                    samples.append((stream, (time.perf_counter() - start) * 1000))

        workers = spec["concurrency"]
        await asyncio.gather(*(worker(time.perf_counter() + spec["warmup_s"])
                               for _ in range(workers)))
        state["measuring"] = True
        watch.start()
        started = time.perf_counter()
        await asyncio.gather(*(worker(started + spec["duration"]) for _ in range(workers)))
        elapsed = time.perf_counter() - started
        cpu = watch.stop()
        rps = len(samples) / elapsed
        return {
            "client": spec["client"], "concurrency": workers, "calls": len(samples),
            "errors": errors, "rps": round(rps, 1), **cpu,
            "client_cpu_ms_per_call": round(10 * cpu["loadgen_cpu_pct"] / rps, 4) if rps else None,
            "latency": by_kind(samples),
        }

    return run


async def measure(spec: Spec) -> dict[str, Any]:
    if spec["client"] == "raw":
        # The load generator's own client: the emulator's ceiling at this concurrency.
        result = await closed_loop({**spec, "mode": "closed", "target": "direct"})
        result["client"] = "raw"
        rps = result["rps"]
        result["client_cpu_ms_per_call"] = (
            round(10 * result["loadgen_cpu_pct"] / rps, 4) if rps else None)
        return result
    impl = {"aiohttp": _aiohttp, "httpx": _httpx}[spec["client"]]
    return await impl(spec, _runner(spec))


def main() -> None:
    spec = orjson.loads(sys.stdin.buffer.read())
    gc.freeze()
    sys.stdout.buffer.write(orjson.dumps(uvloop.run(measure(spec))))


if __name__ == "__main__":
    main()
