"""Prometheus metrics shared by every service (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

GRPC_LATENCY = Histogram(
    "linli_grpc_server_handling_seconds", "Time to handle a gRPC call.",
    ["service", "method", "code"], buckets=_LATENCY_BUCKETS,
)
GRPC_HANDLED = Counter(
    "linli_grpc_server_handled", "gRPC calls handled, by final status.", ["service", "method", "code"]
)
OUTBOX_PUBLISHED = Counter("linli_outbox_published", "Events the relay published to JetStream.", ["service"])
OUTBOX_PENDING = Gauge("linli_outbox_pending", "Events written but not yet acknowledged by JetStream.",
                       ["service"])
OUTBOX_PUBLISH_FAILURES = Counter("linli_outbox_publish_failures", "Failed relay publish rounds.",
                                  ["service"])
EVENTS_CONSUMED = Counter(
    "linli_events_consumed", "Events a consumer finished with, by outcome.",
    ["consumer", "outcome"],
)
EVENT_LAG = Histogram(
    "linli_event_lag_seconds", "From the event's occurrence to its handler's commit.",
    ["consumer"], buckets=_LATENCY_BUCKETS,
)


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    if port:
        start_http_server(port, addr=host)
