"""Metrics and alerts: every service (the portal included) has a PodMonitor on a port it
exposes; every alert and every dashboard query reads metrics the code declares (parsed from the
expressions, compared with prometheus_client's registry once every service is imported); the
names follow Prometheus' conventions; the README lists exactly the metrics there are."""

from __future__ import annotations

import json
import re
from collections.abc import MutableMapping
from typing import Any

import pytest
import yaml

from linli_runtime.metrics import HTTP_REQUESTS, HttpMetrics
from linli_runtime.registry import installed_services
from tests.unit.deploy.deploykit import REPO, Doc, container_env, find, load_compose, planned_services, render
from tests.unit.deploy.promql import EXTERNAL, declared_families, declared_metrics, metric_names

MONITORED = "overlays/production"  # the overlay that assumes the Prometheus Operator
COMPOSE = load_compose()
SERVICES = [*planned_services(COMPOSE), *planned_services(COMPOSE, "http")]
DASHBOARD = json.loads((REPO / "deploy" / "grafana" / "linli-services.json").read_text(encoding="utf-8"))


def alert_rules(docs: tuple[Doc, ...]) -> list[Doc]:
    return [rule for doc in find(docs, "PrometheusRule") for group in doc["spec"]["groups"] for rule in group["rules"]]


def unknown_metrics(expressions: list[str]) -> dict[str, set[str]]:
    known = declared_metrics() | set(EXTERNAL)
    return {e: names - known for e in expressions if (names := metric_names(e)) - known}


# -- PodMonitors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES, ids=lambda d: d.name)
def test_every_service_has_a_pod_monitor_on_its_metrics_port(service: Any) -> None:
    docs = render(MONITORED)
    [monitor] = find(docs, "PodMonitor", service.name)
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    [deployment] = find(docs, "Deployment", service.name)
    pod = deployment["spec"]["template"]
    assert all(pod["metadata"]["labels"].get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    container = pod["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] in ports and endpoint.get("path", "/metrics") == "/metrics"
    # The port the pod declares is the one the process serves /metrics on.
    assert container_env(container, docs).literal["LINLI_METRICS_PORT"] == str(ports[endpoint["port"]])


def test_the_overlay_without_the_prometheus_operator_has_no_monitoring_resources() -> None:
    for kind in ("PodMonitor", "PrometheusRule"):
        assert find(render("overlays/dev"), kind) == [] and find(render("base"), kind) == []


def test_pod_monitors_name_no_service_that_does_not_exist() -> None:
    names = {d.name for d in installed_services()}
    assert {m["metadata"]["name"] for m in find(render(MONITORED), "PodMonitor")} == names


# -- alerts ------------------------------------------------------------------------------------------


def test_alerts_cover_what_operators_must_hear_about() -> None:
    rules = alert_rules(render(MONITORED))
    read = set().union(*(metric_names(r["expr"]) for r in rules))
    for metric in ("linli_outbox_oldest_unsent_age_seconds", "linli_dead_letter_events", "linli_redemptions_stuck",
                   "linli_help_requests_overdue", "linli_jetstream_stream_bytes",
                   "kubelet_volume_stats_available_bytes"):
        assert metric in read, f"no alert reads {metric}"
    for rule in rules:
        assert re.fullmatch(r"Linli[A-Z]\w+", rule["alert"])
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s"))


def test_every_alert_reads_only_metrics_the_code_declares() -> None:
    assert unknown_metrics([r["expr"] for r in alert_rules(render(MONITORED))]) == {}


def test_the_check_finds_a_metric_nobody_declares() -> None:
    bad = "max by (service) (linli_outbox_pending{service=\"x\"}) > 0 and rate(linli_nothing_total[5m]) > 1"
    assert unknown_metrics([bad]) == {bad: {"linli_outbox_pending", "linli_nothing_total"}}
    # Label names, functions, ranges and strings are not metrics.
    assert metric_names('sum by (le) (rate(a_bucket{le="0.5", job=~"x|y"}[5m])) offset 1h') == {"a_bucket"}


# -- the dashboard -------------------------------------------------------------------------------


def dashboard_expressions() -> list[str]:
    return [t["expr"] for p in DASHBOARD["panels"] for t in p.get("targets", [])]


def test_the_dashboard_reads_only_metrics_the_code_declares() -> None:
    assert dashboard_expressions()
    assert unknown_metrics(dashboard_expressions()) == {}


def test_the_dashboard_covers_every_service() -> None:
    [variable] = [v for v in DASHBOARD["templating"]["list"] if v["name"] == "service"]
    assert variable["query"].split(",") == [d.name for d in planned_services(COMPOSE)]
    read = set().union(*(metric_names(e) for e in dashboard_expressions()))
    families = declared_families()
    missing = {name for name, kind in families.items()
               if not any(m == name or m.startswith(name + "_") for m in read)}
    assert missing == set(), f"no panel shows {sorted(missing)}"
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids)) and DASHBOARD["uid"] and DASHBOARD["timezone"] == "Asia/Shanghai"


# -- names -----------------------------------------------------------------------------------------


UNITS = ("_seconds", "_bytes", "_events", "_total", "_stuck", "_overdue", "_messages")


def test_metric_names_follow_prometheus_conventions() -> None:
    for name, kind in declared_families().items():
        assert re.fullmatch(r"linli_[a-z0-9_]+", name), name
        if kind == "counter":
            assert name + "_total" in declared_metrics()
        else:
            assert not name.endswith("_total"), f"{name}: _total is for counters"
        if kind == "histogram":
            assert name.endswith("_seconds"), f"{name}: a histogram of durations, in seconds"
        assert not re.search(r"_(ms|milliseconds|kb|mb|minutes|hours)(_|$)", name), f"{name}: base units only"
        assert (name + ("_total" if kind == "counter" else "")).endswith(UNITS), f"{name}: say its unit"


def test_the_readme_lists_every_metric_and_no_other() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Metrics and alerts", 1)[1].split("\n#", 1)[0]
    listed = set(re.findall(r"`(linli_[a-z0-9_]+)`", section))
    exposed = {name + ("_total" if kind == "counter" else "") for name, kind in declared_families().items()}
    assert listed == exposed


# -- the portal's HTTP metrics ---------------------------------------------------------------------


async def test_http_metrics_label_requests_by_route_template_not_by_path() -> None:
    class Route:
        path = "/c/{path:path}"

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        scope["route"] = Route()  # what Starlette's router records for the matched route
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message: MutableMapping[str, Any]) -> None:
        pass

    middleware = HttpMetrics(app, service="portal-test")
    before = HTTP_REQUESTS.labels("portal-test", "GET", "/c/{path:path}", "404")._value.get()
    await middleware({"type": "http", "method": "GET", "path": "/c/chengdu/x"}, None, send)
    await middleware({"type": "http", "method": "GET", "path": "/c/chengdu/y"}, None, send)
    after = HTTP_REQUESTS.labels("portal-test", "GET", "/c/{path:path}", "404")._value.get()
    assert after - before == 2


def test_compose_serves_the_portals_metrics_too() -> None:
    [portal] = planned_services(COMPOSE, "http")
    assert COMPOSE["services"][portal.name]["environment"]["LINLI_METRICS_PORT"] == "${LINLI_METRICS_PORT:-9464}"
    text = yaml.safe_dump(COMPOSE)
    assert "LINLI_METRICS_PORT" in text
