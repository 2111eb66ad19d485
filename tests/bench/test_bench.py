"""Smoke tests of the benchmark's own machinery: no timing is asserted.

The percentile math and the open-loop schedule decide what the published
figures mean, so they are pinned here; the wire client is checked against a
tiny local server for the two things it must get right (a whole chunked
stream ending in [DONE], and refusing a stream that stops short).
"""

from __future__ import annotations

import asyncio
import itertools
import math

import pytest
from bench.loadgen import by_kind, schedule
from bench.prompts import MAX_BYTES, MIN_BYTES, TRAJECTORIES, build_mix
from bench.report import evaluate_targets, interference
from bench.stats import added, median_of, percentile, summarize
from bench.wire import Pool, ResponseError, connect, encode_request


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 100.0
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_summary_and_added_are_quantile_differences() -> None:
    direct = summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    gateway = summarize([1.5, 2.5, 3.5, 4.5, 10.0])
    assert direct["n"] == 5 and direct["p50"] == 3.0
    diff = added(direct, gateway)
    assert diff["p50"] == pytest.approx(0.5)
    assert diff["p99"] == pytest.approx(gateway["p99"] - direct["p99"])
    assert summarize([]) == {"n": 0}
    assert median_of([3.0, 1.0, 2.0]) == 2.0


def test_by_kind_splits_streamed_and_whole_calls() -> None:
    out = by_kind([(False, 1.0), (True, 5.0), (False, 3.0)])
    assert out["all"]["n"] == 3 and out["json"]["n"] == 2 and out["stream"]["n"] == 1
    assert out["json"]["p50"] == 2.0


def test_open_loop_schedule_is_absolute_and_even() -> None:
    times = schedule(rate=500.0, duration=2.0, t0=10.0)
    assert len(times) == 1000
    assert times[0] == 10.0
    assert times[-1] == pytest.approx(10.0 + 999 / 500)
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(times)}
    assert gaps == {0.002}


def test_targets_are_judged_per_kind() -> None:
    seq = {k: {"added_p50": v, "direct_p50": 0.1, "gateway_p50": 0.1 + v}
           for k, v in (("json", 0.3), ("stream", 0.9))}
    checks = evaluate_targets({"sequential": {"median": seq}})
    assert [c["pass"] for c in checks] == [True, False]
    assert checks[1]["missed_by"] == pytest.approx(0.4)


def test_interference_finds_the_busiest_phase() -> None:
    tree = {"open": {"runs": [[{"direct": {"others_cpu_pct": 3.0}},
                               {"gateway": {"others_cpu_pct": 40.0}}]]}}
    assert interference(tree) == {"max_others_cpu_pct": 40.0, "phase": "/open/runs/0/1/gateway"}


@pytest.mark.skipif(not TRAJECTORIES.is_file(), reason=f"no shared data at {TRAJECTORIES}")
def test_mix_is_deterministic_sized_and_half_streamed() -> None:
    mix = build_mix(count=24, stream_share=0.5, seed=3)
    assert mix == build_mix(count=24, stream_share=0.5, seed=3)
    assert all(MIN_BYTES <= len(c.body) <= MAX_BYTES for c in mix)
    assert sum(c.stream for c in mix) == 12
    assert all((b'"stream":true' in c.body) == c.stream for c in mix)


SSE = b"data: {\"x\":1}\n\ndata: [DONE]\n\n"


async def _serve(reply: bytes) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def _chunked(body: bytes) -> bytes:
    half = len(body) // 2
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:half], body[half:]))
    return (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")


async def test_wire_client_reads_chunked_streams_to_done() -> None:
    server, port = await _serve(_chunked(SSE))
    async with server:
        conn = await connect("127.0.0.1", port)
        raw = encode_request("127.0.0.1", port, "/v1/chat/completions", b"{}")
        assert await conn.request(raw, stream=True) == len(SSE)
        assert await conn.request(raw, stream=True) == len(SSE)  # keep-alive reuse
        conn.close()
        await asyncio.sleep(0.05)  # let the server side see the close


async def test_wire_client_rejects_a_stream_without_done() -> None:
    server, port = await _serve(_chunked(b"data: {\"x\":1}\n\n"))
    async with server:
        pool = Pool("127.0.0.1", port)
        await pool.prewarm(1)
        conn = await pool.acquire()
        raw = encode_request("127.0.0.1", port, "/", b"{}")
        with pytest.raises(ResponseError) as info:
            await conn.request(raw, stream=True)
        assert info.value.kind == "stream_without_done"
        pool.release(conn)
        pool.close()
        await asyncio.sleep(0.05)
