"""Prometheus metrics shared by every service (one registry per process).

Names follow Prometheus' conventions: `linli_` first, base units in the name (`_seconds`,
`_bytes`), counters end in `_total` (prometheus_client adds it on exposition), gauges say what
they count (`_events`). A service declares its own few beside the code that refreshes them
(`linli_redemptions_stuck`, `linli_help_requests_overdue`); the README's "Metrics and alerts"
lists them all, and tests/unit/deploy checks that every alert names one that exists.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Events wait from seconds (normal) to hours (NATS down, a consumer stuck).
_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

# -- gRPC (linli_runtime.interceptors) -------------------------------------------------------------
GRPC_LATENCY = Histogram(
    "linli_grpc_server_handling_seconds", "Time to handle a gRPC call.",
    ["service", "method", "code"], buckets=_LATENCY_BUCKETS,
)
GRPC_HANDLED = Counter(
    "linli_grpc_server_handled_total", "gRPC calls handled, by final status.", ["service", "method", "code"]
)

# -- HTTP (the web portal, HttpMetrics below) ------------------------------------------------------
HTTP_LATENCY = Histogram(
    "linli_http_server_request_duration_seconds", "Time to answer an HTTP request.",
    ["service", "method", "route", "status"], buckets=_LATENCY_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "linli_http_server_requests_total", "HTTP requests answered, by route and status.",
    ["service", "method", "route", "status"],
)

# -- the outbox relay (linli_runtime.events.outbox) ------------------------------------------------
OUTBOX_PUBLISHED = Counter("linli_outbox_published_events_total", "Events the relay published to JetStream.",
                           ["service"])
OUTBOX_PUBLISH_FAILURES = Counter("linli_outbox_publish_failures_total", "Relay rounds that failed (events wait).",
                                  ["service"])
OUTBOX_UNSENT = Gauge("linli_outbox_unsent_events",
                      "Events committed but not yet acknowledged by JetStream (the outbox backlog).", ["service"])
OUTBOX_OLDEST_UNSENT_AGE = Gauge("linli_outbox_oldest_unsent_age_seconds",
                                 "Age of the oldest event still waiting in the outbox; 0 when none waits.",
                                 ["service"])

# -- consumers (linli_runtime.events.consumer) -----------------------------------------------------
EVENTS_CONSUMED = Counter(
    "linli_consumer_events_total", "Events a consumer finished with, by outcome (applied, duplicate, retry, "
    "dead-letter, returned).", ["consumer", "outcome"],
)
EVENT_LAG = Histogram(
    "linli_consumer_lag_seconds", "From the event's occurrence to its handler's commit.",
    ["consumer"], buckets=_LAG_BUCKETS,
)
DEAD_LETTERS = Gauge("linli_dead_letter_events",
                     "Events a consumer gave up on, kept in linli_dead_letter for an operator.",
                     ["service", "consumer"])

# -- JetStream, as the services see their streams (linli_runtime.gauges) ---------------------------
STREAM_BYTES = Gauge("linli_jetstream_stream_bytes", "Bytes a JetStream stream holds (per replica).",
                     ["stream"])
STREAM_MAX_BYTES = Gauge("linli_jetstream_stream_max_bytes", "The stream's max_bytes limit (per replica).",
                         ["stream"])
STREAM_MESSAGES = Gauge("linli_jetstream_stream_messages", "Messages a JetStream stream holds.", ["stream"])


def _histogram_parts(child: Any) -> tuple[list[float], list[Any], Any] | None:
    """A labelled Histogram child's bounds, bucket counters and sum counter, as prometheus_client
    keeps them (pinned; tests check the samples), or None where they are not there."""
    try:
        bounds, buckets, total = list(child._upper_bounds), list(child._buckets), child._sum
    except AttributeError:
        return None
    return (bounds, buckets, total) if len(bounds) == len(buckets) else None


def fast_observer(child: Any) -> Callable[[float], None]:
    """`child.observe` (a labelled Histogram's child) for a hot path: the bucket found by
    bisection instead of prometheus_client's walk over the bounds, the same two increments
    (bucket, sum). Falls back to `observe` where the child's parts are not there."""
    parts = _histogram_parts(child)
    if parts is None:
        return child.observe  # type: ignore[no-any-return]
    bounds, buckets, total = parts
    incs = [bucket.inc for bucket in buckets]  # the last bound is +Inf
    add = total.inc

    def observe(amount: float) -> None:
        add(amount)
        if amount == amount:  # a NaN counts in the sum alone, as with `observe`
            incs[bisect_left(bounds, amount)](1)

    return observe


def observe_all(child: Any, amounts: Sequence[float]) -> None:
    """`child.observe(amount)` for each amount, with each bucket and the sum counted once:
    prometheus_client's `observe` takes a lock and walks the bounds per call (2.5 µs of a
    consumer's CPU an event, measured). The same samples (tests/unit/runtime/test_observe_all.py);
    its own `observe`, one by one, where the child's parts are not there."""
    parts = _histogram_parts(child)
    if parts is None:
        for amount in amounts:
            child.observe(amount)
        return
    if not amounts:
        return
    bounds, buckets, total = parts
    counts: dict[int, int] = {}
    for amount in amounts:
        if amount == amount:  # NaN is below no bound: observe counts it in no bucket either
            index = bisect_left(bounds, amount)  # the first bound >= amount, as observe's `amount <= bound`
            counts[index] = counts.get(index, 0) + 1
    total.inc(sum(amounts))
    for index, count in counts.items():
        if index < len(buckets):
            buckets[index].inc(count)


def fast_counter(child: Any) -> Callable[[], None]:
    """`child.inc` (a labelled Counter's child) by one, without its argument checks."""
    try:
        inc = child._value.inc
    except AttributeError:
        return child.inc  # type: ignore[no-any-return]
    return lambda: inc(1)


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    if port:
        start_http_server(port, addr=host)


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class HttpMetrics:
    """ASGI middleware: one latency observation and one count per HTTP request, labelled by the
    route's template (`/c/{path:path}`), never the raw path (one series per compound would not
    do); requests no route matched are `unmatched`."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            labels = (self.service, scope.get("method", ""), route, str(status))
            HTTP_LATENCY.labels(*labels).observe(time.perf_counter() - started)
            HTTP_REQUESTS.labels(*labels).inc()
