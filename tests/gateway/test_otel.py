"""Spans in the GenAI semantic conventions reach a real OTLP/HTTP receiver, one per call."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import openai
import pytest

from fleetcost.pricing.cost import format_usd
from fleetcost.storage.base import CallQuery
from fleetcost.storage.sqlite import SQLiteUsageLog
from tests.gateway.conftest import run_stack

trace_pb2 = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")


def _receiver() -> tuple[HTTPServer, list[object]]:
    spans: list[object] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            req = trace_pb2.ExportTraceServiceRequest()
            req.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
            for rs in req.resource_spans:
                for ss in rs.scope_spans:
                    spans.extend(ss.spans)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()
            self.wfile.write(trace_pb2.ExportTraceServiceResponse().SerializeToString())

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, spans


def _attrs(span: object) -> dict[str, object]:
    out: dict[str, object] = {}
    for kv in span.attributes:  # type: ignore[attr-defined]
        value = kv.value
        out[kv.key] = value.int_value if value.HasField("int_value") else value.string_value
    return out


def test_each_call_is_one_span_with_genai_attributes(tmp_path: Path) -> None:
    server, spans = _receiver()
    config = f'[telemetry]\notlp_endpoint = "http://127.0.0.1:{server.server_port}"\n'
    try:
        with run_stack(tmp_path, config=config) as stack:
            client = openai.OpenAI(base_url=stack.gateway + "/v1", api_key="k", max_retries=0)
            for i in range(3):
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": f"span {i}"}],
                    extra_headers={"X-Fleetcost-Session": "sess-1",
                                   "X-Fleetcost-Agent": "tracer"})
            stack.ledger(3)
        # Shutdown flushed the span processor.
    finally:
        server.shutdown()
        server.server_close()
    log = SQLiteUsageLog(stack.db)
    rows = {r.call_id: r for r in log.query(CallQuery())}
    log.close()
    assert len(spans) == 3
    for span in spans:
        a = _attrs(span)
        row = rows[a["fleetcost.call_id"]]
        assert a["gen_ai.request.model"] == "gpt-4o-mini"
        assert a["gen_ai.provider.name"] == "openai"
        assert a["gen_ai.usage.input_tokens"] == row.input_tokens
        assert a["gen_ai.usage.output_tokens"] == row.output_tokens
        assert a["gen_ai.usage.cache_read.input_tokens"] == row.cached_tokens
        assert a["gen_ai.conversation.id"] == "sess-1"
        assert a["gen_ai.agent.id"] == "tracer"
        assert row.cost_usd is not None and a["fleetcost.cost_usd"] == format_usd(row.cost_usd)
