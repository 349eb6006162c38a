"""linli_runtime.tracing without a network: off by default and then inert, on by the OTLP
endpoint, and the envelope's trace context written from the current span."""

from __future__ import annotations

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from linli_runtime.events import make_event
from linli_runtime.settings import ServiceSettings
from linli_runtime.tracing import Tracing, stamp


def event():  # type: ignore[no-untyped-def]
    return make_event("test.thing.happened", StringValue(value="x"), org_scope="chengdu", source="test")


def test_tracing_is_off_by_default_and_then_adds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    tracing = Tracing.from_settings("volunteer-points", ServiceSettings())
    assert not tracing.enabled
    assert tracing.server_interceptors() == [] and tracing.client_interceptors() == []
    app = object()
    assert tracing.asgi(app) is app
    headers = {"Nats-Msg-Id": "e1"}
    assert tracing.start_publish("test.thing.happened", "e1", event().SerializeToString(), headers) is None
    assert headers == {"Nats-Msg-Id": "e1"}, "no traceparent header when off"
    with tracing.consuming("c", event(), {}) as span:
        assert span is None


def test_the_standard_variable_names_the_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """(That the spans then reach it: tests/integration/runtime/test_tracing.py.)"""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector:4317")
    monkeypatch.setenv("LINLI_TRACE_SAMPLE_RATIO", "0.25")
    settings = ServiceSettings()
    assert (settings.otlp_endpoint, settings.trace_sample_ratio) == ("http://otel-collector:4317", 0.25)
    monkeypatch.setenv("LINLI_TRACE_SAMPLE_RATIO", "1.5")
    with pytest.raises(ValueError, match="trace_sample_ratio"):
        ServiceSettings()


def test_an_envelope_carries_the_trace_context_of_the_span_current_when_it_is_published() -> None:
    envelope = event()
    stamp(envelope)
    assert dict(envelope.trace_context) == {}, "no span, nothing to carry"
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("the call") as span:
        stamp(envelope)
    carried = trace.get_current_span(TraceContextTextMapPropagator().extract(dict(envelope.trace_context)))
    assert carried.get_span_context().trace_id == span.get_span_context().trace_id
    assert carried.get_span_context().span_id == span.get_span_context().span_id
    assert carried.get_span_context().trace_flags.sampled
