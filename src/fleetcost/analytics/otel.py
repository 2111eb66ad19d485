"""OpenTelemetry spans for every call, in the GenAI semantic conventions.

Off unless `[telemetry] otlp_endpoint` is set: then each ledger record also
becomes one span, exported over OTLP/HTTP in batches by the SDK's own worker
thread. The span is built from the finished record (start = its timestamp,
end = start + latency), so tracing adds no work while a call is in flight.

`gen_ai.usage.input_tokens` counts every prompt token including the cached
ones, as the conventions say; the cache parts are their own attributes.
Cost is not a GenAI attribute yet: it goes in `fleetcost.cost_usd` as the
ledger's exact decimal string.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from fleetcost.errors import ConfigError
from fleetcost.pricing.cost import format_usd
from fleetcost.types import CallRecord

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider


def attributes(rec: CallRecord) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": rec.provider or "unknown",
        "gen_ai.request.model": rec.requested_model or "",
        "gen_ai.response.model": rec.model or "",
        "gen_ai.usage.input_tokens": rec.input_tokens,
        "gen_ai.usage.output_tokens": rec.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": rec.cached_tokens,
        "gen_ai.usage.cache_creation.input_tokens": rec.cache_write_tokens,
        "fleetcost.call_id": rec.call_id,
        "fleetcost.tenant": rec.tenant,
        "fleetcost.outcome": rec.outcome,
        "fleetcost.response_cache": rec.response_cache,
        "fleetcost.saved_usd": format_usd(rec.saved_usd),
    }
    optional = {"gen_ai.conversation.id": rec.session_id, "gen_ai.agent.id": rec.agent_id,
                "fleetcost.task_type": rec.task_type, "fleetcost.parent_id": rec.parent_id,
                "fleetcost.route_reason": rec.route_reason, "error.type": rec.error}
    attrs.update({k: v for k, v in optional.items() if v})
    if rec.cost_usd is not None:
        attrs["fleetcost.cost_usd"] = format_usd(rec.cost_usd)
    return attrs


class SpanSink:
    """A record sink that turns each call into a finished span."""

    def __init__(self, endpoint: str, service_name: str = "fleetcost") -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:
            raise ConfigError("[telemetry] otlp_endpoint is set but OpenTelemetry is not "
                              "installed: pip install 'fleetcost[otel]'") from exc
        self.provider: TracerProvider = TracerProvider(
            resource=Resource.create({"service.name": service_name}))
        self.provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")))
        self._tracer = self.provider.get_tracer("fleetcost")

    def __call__(self, rec: CallRecord) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        start = int(datetime.fromisoformat(rec.ts.replace("Z", "+00:00")).timestamp() * 1e9)
        end = start + int((rec.latency_ms or 0.0) * 1e6)
        span = self._tracer.start_span(f"chat {rec.requested_model or rec.model or ''}".strip(),
                                       kind=SpanKind.CLIENT, start_time=start,
                                       attributes=attributes(rec))
        if rec.outcome == "error":
            span.set_status(Status(StatusCode.ERROR, rec.error or "error"))
        span.end(end_time=end)

    def close(self) -> None:
        self.provider.shutdown()
