"""The batch APIs with the official SDKs: the emulator's (as the providers
document them) and fleetcost's own OpenAI-compatible Files + Batches."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import anthropic
import httpx
import openai
import orjson
import pytest

from fleetcost.pricing.catalog import load_catalog
from tests.gateway.conftest import Stack, run_stack

CONFIG = """
[batch]
max_items = 50
flush_s = 0.2
poll_s = 0.1
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with run_stack(tmp_path_factory.mktemp("batch"), ("--batch-delay", "0.3"),
                   config=CONFIG) as s:
        yield s


def _jsonl(n: int, model: str = "gpt-4o-mini") -> bytes:
    return b"\n".join(orjson.dumps({
        "custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions",
        "body": {"model": model, "messages": [{"role": "user", "content": f"Question {i}?"}]},
    }) for i in range(n))


def _until(fetch, done, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"still {value}"
        time.sleep(0.1)


def test_emulator_openai_batch(stack: Stack) -> None:
    with openai.OpenAI(base_url=stack.emulator + "/v1", api_key="x") as client:
        f = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl(5))), purpose="batch")
        b = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                                  completion_window="24h")
        assert b.status == "in_progress" and b.request_counts.total == 5
        b = _until(lambda: client.batches.retrieve(b.id), lambda x: x.status == "completed")
        assert b.request_counts.completed == 5 and b.error_file_id is None
        lines = [orjson.loads(x) for x in client.files.content(b.output_file_id).text.splitlines()]
        assert [x["custom_id"] for x in lines] == [f"req-{i}" for i in range(5)]
        assert all(x["response"]["status_code"] == 200 and x["error"] is None for x in lines)
        assert lines[0]["response"]["body"]["usage"]["prompt_tokens"] > 0


def test_emulator_openai_batch_rejects_bad_lines(stack: Stack) -> None:
    with openai.OpenAI(base_url=stack.emulator + "/v1", api_key="x") as client:
        bad = _jsonl(2) + b'\n{"custom_id": "req-0", "method": "GET", "url": "/v1/x"}'
        f = client.files.create(file=("in.jsonl", io.BytesIO(bad)), purpose="batch")
        b = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                                  completion_window="24h")
        assert b.status == "failed"
        assert b.errors is not None and b.errors.data[0].line == 3
        with pytest.raises(openai.BadRequestError, match="completion_window"):
            client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                                  completion_window="1h")  # type: ignore[arg-type]


def test_emulator_anthropic_message_batch(stack: Stack) -> None:
    with anthropic.Anthropic(base_url=stack.emulator, api_key="x") as client:
        requests = [{"custom_id": f"r{i}", "params": {
            "model": "claude-haiku-4-5", "max_tokens": 64,
            "messages": [{"role": "user", "content": f"Hello {i}"}]}} for i in range(4)]
        requests.append({"custom_id": "bad", "params": {"model": "claude-haiku-4-5",
                                                        "messages": []}})
        b = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        assert b.processing_status == "in_progress" and b.request_counts.processing == 5
        b = _until(lambda: client.messages.batches.retrieve(b.id),
                   lambda x: x.processing_status == "ended")
        assert (b.request_counts.succeeded, b.request_counts.errored) == (4, 1)
        assert b.results_url and b.results_url.endswith(f"/v1/messages/batches/{b.id}/results")
        results = {r.custom_id: r.result for r in client.messages.batches.results(b.id)}
        assert results["r0"].type == "succeeded" and results["bad"].type == "errored"
        with pytest.raises(anthropic.BadRequestError, match="custom_id"):
            client.messages.batches.create(requests=[{"custom_id": "no spaces", "params": {}}])  # type: ignore[arg-type,typeddict-item]


def test_sdk_batch_through_fleetcost(stack: Stack) -> None:
    """An OpenAI SDK batch user points at fleetcost: each line lands in the ledger once."""
    headers = {"X-Fleetcost-Agent": "nightly-eval", "X-Fleetcost-Task": "grading"}
    with openai.OpenAI(base_url=stack.gateway + "/v1", api_key="sk-test",
                       default_headers=headers) as client:
        f = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl(7))), purpose="batch")
        b = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                                  completion_window="24h")
        assert b.status == "in_progress" and b.request_counts.total == 7
        b = _until(lambda: client.batches.retrieve(b.id), lambda x: x.status == "completed")
        assert b.request_counts.completed == 7 and b.output_file_id
        lines = [orjson.loads(x) for x in client.files.content(b.output_file_id).text.splitlines()]
    assert sorted(x["custom_id"] for x in lines) == [f"req-{i}" for i in range(7)]
    price = load_catalog().get("gpt-4o-mini")
    assert price is not None
    for line in lines:
        call_id = line["response"]["request_id"]
        row = stack.call(call_id)
        usage = line["response"]["body"]["usage"]
        full = (usage["prompt_tokens"] * price.input
                + usage["completion_tokens"] * price.output) / Decimal(1_000_000)
        assert row["batch"] is True or row["batch"] == 1
        assert (row["agent_id"], row["task_type"]) == ("nightly-eval", "grading")
        assert Decimal(row["cost_usd"]) == full * (1 - price.batch_discount)


def test_gateway_batch_errors_name_the_field(stack: Stack) -> None:
    body = {"model": "gpt-4o-mini", "stream": True,
            "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(stack.gateway + "/v1/chat/completions", json=body,
                   headers={"X-Fleetcost-Latency": "batch"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "stream"
    r = httpx.post(stack.gateway + "/v1/chat/completions", json={**body, "stream": False},
                   headers={"X-Fleetcost-Latency": "soon"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "X-Fleetcost-Latency"
    r = httpx.get(stack.gateway + "/fleetcost/v1/batch-results/call_nope")
    assert r.status_code == 404
    r = httpx.post(stack.gateway + "/fleetcost/v1/batch-dead-letters/call_nope/retry")
    assert r.status_code == 404


def test_batch_needs_sqlite(tmp_path: Path) -> None:
    with run_stack(tmp_path, config='[storage]\nkind = "memory"\n') as s:
        r = httpx.post(s.gateway + "/v1/chat/completions",
                       json={"model": "gpt-4o-mini",
                             "messages": [{"role": "user", "content": "hi"}]},
                       headers={"X-Fleetcost-Latency": "batch"})
        assert r.status_code == 400 and "sqlite" in r.json()["error"]["message"]


def test_emulator_cancel(tmp_path: Path) -> None:
    """Cancelled before the delay ends: every request comes back cancelled."""
    with run_stack(tmp_path, ("--batch-delay", "1.0")) as s:
        with openai.OpenAI(base_url=s.emulator + "/v1", api_key="x") as client:
            f = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl(3))), purpose="batch")
            b = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                                      completion_window="24h")
            assert client.batches.cancel(b.id).status == "cancelling"
            b = _until(lambda: client.batches.retrieve(b.id), lambda x: x.status == "cancelled")
            assert b.request_counts.failed == 3 and b.output_file_id is None
            errors = [orjson.loads(x) for x in
                      client.files.content(b.error_file_id).text.splitlines()]
            assert {e["error"]["code"] for e in errors} == {"batch_cancelled"}
        with anthropic.Anthropic(base_url=s.emulator, api_key="x") as aclient:
            mb = aclient.messages.batches.create(requests=[{"custom_id": "a", "params": {
                "model": "claude-haiku-4-5", "max_tokens": 10,
                "messages": [{"role": "user", "content": "hi"}]}}])
            assert aclient.messages.batches.cancel(mb.id).processing_status == "canceling"
            mb = _until(lambda: aclient.messages.batches.retrieve(mb.id),
                        lambda x: x.processing_status == "ended")
            assert mb.request_counts.canceled == 1


BUDGET_CONFIG = CONFIG + """
[[budgets]]
name = "nightly"
scope = "agent"
match = "nightly"
limit_usd = "0.002"
window = "day"
"""


def test_batch_calls_respect_budgets(tmp_path: Path) -> None:
    """Held at acceptance (worst case, live price), charged the exact batch cost when the
    batch ends: refusals once the budget is held, and spend never above its limit."""
    body = {"model": "gpt-4o-mini", "max_tokens": 200,
            "messages": [{"role": "user", "content": "Grade answer {i}."}]}
    headers = {"X-Fleetcost-Latency": "batch", "X-Fleetcost-Agent": "nightly"}
    with run_stack(tmp_path, ("--batch-delay", "0.2"), config=BUDGET_CONFIG) as s, \
            httpx.Client(base_url=s.gateway) as http:
        answers = []
        for i in range(40):
            text = body["messages"][0]["content"].format(i=i)  # type: ignore[index]
            answers.append(http.post("/v1/chat/completions", headers=headers, json={
                **body, "messages": [{"role": "user", "content": text}]}))
        accepted = [r.json()["id"] for r in answers if r.status_code == 202]
        refused = [r for r in answers if r.status_code == 429]
        assert accepted and refused and len(accepted) + len(refused) == 40
        assert refused[0].json()["error"]["code"] == "budget_exceeded"
        for item_id in accepted:
            _until(lambda i=item_id: http.get(f"/fleetcost/v1/batch-results/{i}").json(),
                   lambda v: v["status"] == "succeeded")
        budget = _until(lambda: http.get("/fleetcost/v1/budgets").json()[0]["buckets"][0],
                        lambda b: Decimal(b["reserved_usd"]) == 0)
        rows = [s.call(i) for i in accepted]
    spent = Decimal(budget["spent_usd"])
    paid = sum((Decimal(r["cost_usd"]) for r in rows), Decimal(0))
    assert all(r["batch"] for r in rows)
    # Each charge is rounded up to the nano-dollar: spend is the ledger's, within that.
    assert paid <= spent <= paid + Decimal(len(rows)) / 10**9
    assert spent <= Decimal("0.002")


def test_sdk_batch_over_budget_is_refused_whole(tmp_path: Path) -> None:
    """Lines of an SDK batch are reserved like batch calls; one that does not fit refuses
    the batch with 429 and frees what the lines before it held."""
    with run_stack(tmp_path, ("--batch-delay", "0.2"), config=BUDGET_CONFIG) as s:
        with openai.OpenAI(base_url=s.gateway + "/v1", api_key="sk-test", max_retries=0,
                           default_headers={"X-Fleetcost-Agent": "nightly"}) as client:
            big = b"\n".join(orjson.dumps({
                "custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions",
                "body": {"model": "gpt-4o-mini", "max_tokens": 200,
                         "messages": [{"role": "user", "content": f"Question {i}?"}]},
            }) for i in range(40))
            f = client.files.create(file=("in.jsonl", io.BytesIO(big)), purpose="batch")
            with pytest.raises(openai.RateLimitError, match=r"line .*nightly"):
                client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                                      completion_window="24h")
        buckets = httpx.get(s.gateway + "/fleetcost/v1/budgets").json()[0]["buckets"]
        assert all(Decimal(b["reserved_usd"]) == 0 for b in buckets)


def test_webhook_on_completion(tmp_path: Path) -> None:
    import http.server
    import threading

    got: list[dict] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(orjson.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        config = CONFIG + f'webhook_url = "http://127.0.0.1:{server.server_port}/done"\n'
        with run_stack(tmp_path, ("--batch-delay", "0.2"), config=config) as s:
            ids = [httpx.post(s.gateway + "/v1/chat/completions",
                              headers={"X-Fleetcost-Latency": "batch"},
                              json={"model": "gpt-4o-mini", "messages": [
                                  {"role": "user", "content": f"ping {i}"}]}).json()["id"]
                   for i in range(3)]
            _until(lambda: sum(len(g["items"]) for g in got), lambda n: n == 3)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    items = [i for g in got for i in g["items"]]
    assert sorted(i["id"] for i in items) == sorted(ids)
    assert {i["status"] for i in items} == {"succeeded"}
    assert got[0]["object"] == "fleetcost.batch_job" and got[0]["model"] == "gpt-4o-mini"
