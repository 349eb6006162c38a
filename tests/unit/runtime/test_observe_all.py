"""The consumer's lag histogram counted once per batch (metrics.observe_all) gives the samples
one observe per event gives."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Histogram

from linli_runtime.metrics import observe_all

BUCKETS = (0.005, 0.01, 0.1, 1.0, 10.0)
AMOUNTS = [0.0, 0.004, 0.005, 0.0051, 0.01, 0.5, 1.0, 9.99, 10.0, 11.0, 1e9, 0.005, math.nan]


def _samples(observe) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:  # type: ignore[no-untyped-def]
    registry = CollectorRegistry()
    child = Histogram("lag_seconds", "lag", ["consumer"], buckets=BUCKETS, registry=registry).labels("c")
    observe(child)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for metric in registry.collect() for s in metric.samples if not s.name.endswith("_created")}


def test_the_same_samples_as_one_observe_each() -> None:
    one_by_one = _samples(lambda child: [child.observe(a) for a in AMOUNTS])
    at_once = _samples(lambda child: observe_all(child, AMOUNTS))
    sums = [k for k in one_by_one if k[0].endswith("_sum")]
    assert all(math.isnan(one_by_one[k]) and math.isnan(at_once[k]) for k in sums)
    finite = [a for a in AMOUNTS if not math.isnan(a)]
    expected = _samples(lambda child: [child.observe(a) for a in finite])
    assert _samples(lambda child: observe_all(child, finite)) == expected
    assert {k: v for k, v in one_by_one.items() if k not in sums} == {k: v for k, v in at_once.items() if k not in sums}


def test_nothing_observed_changes_nothing() -> None:
    assert _samples(lambda child: observe_all(child, [])) == _samples(lambda child: None)
