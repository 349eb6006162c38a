"""Tracing with OpenTelemetry, configured here and nowhere else.

Off unless an OTLP endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`, e.g.
`http://otel-collector:4317`): then a service has no tracer provider, adds no interceptor and
instruments nothing, so tracing costs nothing (bench: README "Tracing"). On, each service has a
`TracerProvider` of its own — resource `service.name` = the service, so several services in one
process (the tests, `bench`) keep their names — and sends its spans in batches over OTLP/gRPC,
sampled by trace id (`LINLI_TRACE_SAMPLE_RATIO`) unless the caller's trace decided already.

What is traced, by the OpenTelemetry instrumentations (no hand-written propagation):

- gRPC: a SERVER span around every call but health checks (outermost: authentication and the
  error mapping happen inside it, so a refused call is a span with its status), a CLIENT span
  on every call made through `clients.make_channel(..., tracing=…)`; the W3C `traceparent`
  travels in the call's metadata.
- SQLAlchemy: one span per statement on either engine — only inside a traced unit of work (a
  call, an event being published or handled). The relay's polls and the gauges' reads are not
  traces of their own.
- HTTP: the portal (FastAPI) and the token issuer (ASGI) answer each request in a SERVER span.
- Events: `publish_in` writes the current span's trace context into the envelope inside the
  outbox write (`stamp`); the relay publishes each event in a PRODUCER span, child of that
  context, and sends the publish span's `traceparent` as a NATS header; a consumer applies
  each event in a CONSUMER span, child of the envelope's context and linked to the publish
  span. So one POS redemption is one trace: the terminal's call, the hold at volunteer-points,
  the publish, and every consumer that reacts (tests/integration/redemption/test_trace.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate, trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from linli.events.v1.envelope_pb2 import EventEnvelope

if TYPE_CHECKING:
    import grpc
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from sqlalchemy.ext.asyncio import AsyncEngine

    from linli_runtime.settings import TracingSettings

# Paths whose requests are not traced: probes and static files say nothing about a request's path.
UNTRACED_URLS = "/healthz,/readyz,/metrics,/static/"

# Exporters every service built while `exporting_to` is active sends its spans to as well (tests).
_extra_exporters: list[SpanExporter] = []


@contextlib.contextmanager
def exporting_to(exporter: SpanExporter) -> Iterator[SpanExporter]:
    """Turn tracing on for every service built inside the block, whatever its settings, and send
    their spans to `exporter` as they end (tests: `InMemorySpanExporter`)."""
    _extra_exporters.append(exporter)
    try:
        yield exporter
    finally:
        _extra_exporters.remove(exporter)


def stamp(envelope: EventEnvelope) -> None:
    """Write the current span's W3C trace context (`traceparent`, `tracestate`) into the
    envelope. `publish_in` calls it inside the outbox write, so the relay's publish and every
    consumer's handling of the event join the trace of the work that wrote it. Nothing when no
    span is current (tracing off)."""
    if trace.get_current_span().get_span_context().is_valid:
        propagate.inject(envelope.trace_context)


class Tracing:
    """One service's tracing: its tracer provider, or none when tracing is off (`NO_TRACING`)."""

    def __init__(self, service: str, provider: TracerProvider | None = None) -> None:
        self.service = service
        self.provider = provider
        self.tracer: trace.Tracer = (provider.get_tracer("linli_runtime") if provider is not None
                                     else trace.NoOpTracer())

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    @classmethod
    def from_settings(cls, service: str, settings: TracingSettings) -> Tracing:
        """On when `settings.otlp_endpoint` is set (or a test exports spans), off otherwise."""
        if not settings.otlp_endpoint and not _extra_exporters:
            return cls(service)
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        # Resource.create adds OTEL_RESOURCE_ATTRIBUTES (deployment.environment, k8s.pod.name …).
        resource = Resource.create({
            "service.name": service,
            "service.namespace": "linli",
            "service.instance.id": f"{socket.gethostname()}-{os.getpid()}",
        })
        sampler = ParentBased(TraceIdRatioBased(settings.trace_sample_ratio))
        provider = TracerProvider(resource=resource, sampler=sampler)
        if settings.otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            # http:// means plaintext (a collector beside the service); https:// TLS.
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
        for exporter in _extra_exporters:
            provider.add_span_processor(SimpleSpanProcessor(_shared(exporter)))
        return cls(service, provider)

    # -- gRPC ------------------------------------------------------------------------------------

    def server_interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        """The instrumentation's server interceptor (to go first: outermost), or none."""
        if self.provider is None:
            return []
        from opentelemetry.instrumentation.grpc import filters

        from linli_runtime._otel_grpc import ServerSpans

        tracer = self.provider.get_tracer("opentelemetry.instrumentation.grpc")
        return [ServerSpans(tracer, filter_=filters.negate(filters.health_check()))]  # type: ignore[no-untyped-call]

    def client_interceptors(self) -> Sequence[grpc.aio.ClientInterceptor]:
        """The instrumentation's client interceptors (CLIENT spans, `traceparent` in the metadata)."""
        if self.provider is None:
            return []
        from opentelemetry.instrumentation.grpc import aio_client_interceptors

        return list(aio_client_interceptors(tracer_provider=self.provider))  # type: ignore[no-untyped-call]

    # -- SQLAlchemy ------------------------------------------------------------------------------

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """A span per statement on `engine`, inside traced work only (see `_ChildSpansOnly`)."""
        if self.provider is None:
            return
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
        from opentelemetry.metrics import NoOpMeter

        # Per engine, not SQLAlchemyInstrumentor().instrument(): that patches create_engine for the
        # whole process once, with one provider — several services in one process need several.
        usage = NoOpMeter("linli_runtime").create_up_down_counter("db.client.connections.usage")
        tracer = _ChildSpansOnly(self.provider.get_tracer("opentelemetry.instrumentation.sqlalchemy"))
        EngineTracer(tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]

    # -- HTTP ------------------------------------------------------------------------------------

    def instrument_fastapi(self, app: Any) -> None:
        if self.provider is None:
            return
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, tracer_provider=self.provider, excluded_urls=UNTRACED_URLS,
                                           exclude_spans=["receive", "send"])

    def asgi(self, app: Any) -> Any:
        """`app` (any ASGI application: Starlette) with a SERVER span around each request."""
        if self.provider is None:
            return app
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        return OpenTelemetryMiddleware(app, excluded_urls=UNTRACED_URLS, tracer_provider=self.provider,
                                       exclude_spans=["receive", "send"])

    # -- events ----------------------------------------------------------------------------------

    def start_publish(self, subject: str, event_id: str, data: bytes,
                      headers: MutableMapping[str, str]) -> trace.Span | None:
        """A PRODUCER span for one event the relay publishes, child of the trace context in its
        envelope (`data`); the span's own `traceparent` goes into the message's `headers`. None
        when tracing is off. End it with `end_publish`."""
        if self.provider is None:
            return None
        try:
            carried = dict(EventEnvelope.FromString(data).trace_context)
        except Exception:  # the consumer dead-letters an undecodable envelope; publish it untraced
            carried = {}
        span = self.tracer.start_span(f"publish {subject}", context=propagate.extract(carried), kind=SpanKind.PRODUCER,
                                      attributes=_messaging(subject, event_id, "send"))
        propagate.inject(headers, context=trace.set_span_in_context(span))
        return span

    @staticmethod
    def end_publish(span: trace.Span | None, result: object) -> None:
        """End a publish span with what JetStream answered: a PubAck, or the exception."""
        if span is None:
            return
        if isinstance(result, BaseException):
            span.record_exception(result)
            span.set_status(Status(StatusCode.ERROR, f"not acknowledged: {result!r}"))
        span.end()

    def consuming(self, consumer: str, envelope: EventEnvelope,
                  headers: Mapping[str, str] | None) -> AbstractContextManager[Any]:
        """The CONSUMER span a handler applies one event in: child of the envelope's trace
        context, linked to the relay's publish span (the message's `traceparent` header)."""
        if self.provider is None:
            return contextlib.nullcontext()
        parent = propagate.extract(dict(envelope.trace_context))
        published = trace.get_current_span(propagate.extract(dict(headers or {}))).get_span_context()
        attributes = _messaging(envelope.subject, envelope.event_id, "process")
        attributes["messaging.consumer.group.name"] = consumer
        return self.tracer.start_as_current_span(
            f"process {envelope.subject}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes,
            links=[Link(published)] if published.is_valid else None)

    # -- lifecycle -------------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Export what is buffered and stop (off the event loop: the exporter blocks up to its
        timeout when the collector does not answer)."""
        if self.provider is not None:
            await asyncio.to_thread(self.provider.shutdown)


NO_TRACING = Tracing("")


def _messaging(subject: str, event_id: str, operation: str) -> dict[str, Any]:
    return {"messaging.system": "nats", "messaging.destination.name": subject,
            "messaging.message.id": event_id, "messaging.operation.type": operation}


class _ChildSpansOnly:
    """A tracer (what the SQLAlchemy instrumentation uses of one: `start_span`) that starts spans
    only inside another span. A statement outside any traced work (the relay's poll every
    second, the gauges' reads) would otherwise be a trace of its own, one per statement, and
    drown the traces worth reading."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def start_span(self, name: str, context: Any = None, *args: Any, **kwargs: Any) -> trace.Span:
        if not trace.get_current_span(context).get_span_context().is_valid:
            return trace.INVALID_SPAN
        return self._tracer.start_span(name, context, *args, **kwargs)


def _shared(exporter: SpanExporter) -> SpanExporter:
    """`exporter` for one of several services' providers that share it (a test's in-memory
    exporter): a service that stops shuts its provider down, which must not shut the exporter
    for the others."""
    from opentelemetry.sdk.trace.export import SpanExporter

    class Shared(SpanExporter):
        def export(self, spans: Any) -> Any:
            return exporter.export(spans)

        def shutdown(self) -> None:
            pass

    return Shared()
