"""Just enough of PromQL to say which metrics an expression reads: string literals, label
matchers `{…}`, ranges `[5m]`, grouping clauses `by (…)` and the like are removed; what is left
that is not a function, a keyword or a number is a metric name. And the metrics the code base
declares, from prometheus_client's registry once every service's modules are imported."""

from __future__ import annotations

import importlib
import re

from prometheus_client import REGISTRY

from linli_runtime.registry import installed_services

STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
MATCHERS = re.compile(r"\{[^{}]*\}")
RANGES = re.compile(r"\[[^\[\]]*\]")
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
# Not the unit of a duration or a number (`1h`, `1e3`): nothing alphanumeric just before it.
IDENTIFIER = re.compile(r"(?<![A-Za-z0-9_:.])[A-Za-z_:][A-Za-z0-9_:]*")
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
            "group_right", "inf", "nan", "Inf", "NaN"}
# Metrics an alert may read that Linli does not declare, and who exports them.
EXTERNAL = {
    "up": "Prometheus, for every target it scrapes",
    "kubelet_volume_stats_available_bytes": "the kubelet, for every mounted PersistentVolumeClaim",
    "kubelet_volume_stats_capacity_bytes": "the kubelet, for every mounted PersistentVolumeClaim",
}


def metric_names(expression: str) -> set[str]:
    """The metric names `expression` reads."""
    text = STRINGS.sub('""', expression)
    text = MATCHERS.sub("", text)
    text = RANGES.sub("", text)
    text = GROUPING.sub("", text)
    names = set()
    for match in IDENTIFIER.finditer(text):
        rest = text[match.end():].lstrip()
        word = match.group()
        if rest.startswith("(") or word in KEYWORDS:
            continue  # a function or an aggregation, or an operator
        names.add(word)
    return names


SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum", "_created"),
            "summary": ("", "_count", "_sum", "_created")}


def declared_families() -> dict[str, str]:
    """Every metric family Linli's code declares (name → type, e.g. `linli_consumer_events` →
    counter): the runtime's, and those each installed service declares in its own modules."""
    importlib.import_module("linli_runtime.gauges")
    for descriptor in installed_services():
        importlib.import_module(descriptor.module)
    families = {}
    for collector in set(REGISTRY._names_to_collectors.values()):
        describe = getattr(collector, "describe", None)
        for family in describe() if describe is not None else []:
            if family.name.startswith("linli_"):
                families[family.name] = family.type
    return families


def declared_metrics() -> set[str]:
    """Every series name the code can expose, as PromQL reads it (`…_total`, `…_bucket`, …)."""
    return {name + suffix for name, kind in declared_families().items() for suffix in SUFFIXES[kind]}
