"""NATS users, against a real nats-server: each service's credentials publish its own events and
nothing of another context's, cannot pull another service's consumer nor purge or delete a
stream; a client without the CA, a password or with a wrong one does not get in. Runs on the
configuration `make run` generates (linli_runtime.nats_security) and on the users block compose
and Kubernetes ship (deploy/nats/auth.conf). And the access table matches what each service's
app actually uses: its streams and its consumers."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest
from nats.aio.client import Client

from linli_runtime.events.streams import STREAMS, ensure_stream
from linli_runtime.nats_access import ACCESS, ADMIN_USER
from linli_runtime.nats_security import NatsSecurity
from linli_runtime.processes import NatsServer
from linli_runtime.registry import installed_services
from linli_runtime.testing.waiting import wait_until
from linli_runtime.tls import client_context
from tests.unit.deploy.deploykit import REPO


@dataclass
class SecuredNats:
    server: NatsServer
    passwords: dict[str, str]
    ca: Path

    async def connect(self, user: str | None, password: str | None = None, *, tls: bool = True,
                      errors: list[Exception] | None = None) -> Client:
        async def on_error(exc: Exception) -> None:
            if errors is not None:
                errors.append(exc)

        options: dict[str, Any] = {"connect_timeout": 2, "allow_reconnect": False, "max_reconnect_attempts": 0,
                                   "error_cb": on_error}
        if tls:
            options["tls"] = client_context(self.ca)
        if user is not None:
            options.update(user=user, password=self.passwords.get(user, "") if password is None else password)
        return await nats.connect(self.server.url, **options)


def generated(tmp_path: Path) -> Iterator[SecuredNats]:
    security = NatsSecurity(tmp_path).prepare()
    server = NatsServer(tmp_path / "nats", config=security.server_config(cluster=False)).start()
    try:
        yield SecuredNats(server, security.passwords, security.pki.ca_file)
    finally:
        server.stop()


def shipped(tmp_path: Path) -> Iterator[SecuredNats]:
    """deploy/nats/auth.conf as compose and Kubernetes ship it, the passwords from the
    environment as there, TLS from a local CA in place of cert-manager's or tls-init's."""
    security = NatsSecurity(tmp_path).prepare()
    pair = security.pki.server("nats")
    config = (f'tls {{\n  cert_file: "{pair.cert}"\n  key_file: "{pair.key}"\n}}\n'
              + (REPO / "deploy" / "nats" / "auth.conf").read_text())
    server = NatsServer(tmp_path / "nats", config=config)
    passwords = {user: f"shipped-{user}" for user in security.passwords}
    env_names = {ADMIN_USER: "LINLI_ADMIN_NATS_PASSWORD", **{a.user: a.password_env for a in ACCESS.values()}}
    with pytest.MonkeyPatch.context() as patch:  # nats-server reads $VARS from its environment
        for user, password in passwords.items():
            patch.setenv(env_names[user], password)
        server.start()
    try:
        yield SecuredNats(server, passwords, security.pki.ca_file)
    finally:
        server.stop()


@pytest.fixture(params=["generated", "shipped"])
async def secured(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SecuredNats]:
    make = generated if request.param == "generated" else shipped
    for running in make(tmp_path):
        admin = await running.connect(ADMIN_USER)
        js = admin.jetstream(timeout=5)
        for spec in STREAMS.values():
            await ensure_stream(js, spec, 1)
        for access in ACCESS.values():
            for stream, consumer in access.consumers:
                await js.add_consumer(stream, durable_name=consumer)
        await admin.close()
        yield running


async def stream_messages(secured: SecuredNats, stream: str) -> int:
    admin = await secured.connect(ADMIN_USER)
    try:
        return int((await admin.jetstream().stream_info(stream)).state.messages)
    finally:
        await admin.close()


async def violations(client: Client, errors: list[Exception], action: Any) -> list[str]:
    """Start `action` and return the permission violations the server reported for it. A refused
    JetStream request never gets a reply, so the violation is awaited rather than the request's
    timeout (which would make every refusal cost a second)."""
    task = asyncio.ensure_future(action)

    def reported() -> list[str]:
        return [str(e) for e in errors if "permissions violation" in str(e).lower()]

    try:
        await wait_until(lambda: reported() or task.done(), timeout=5, what="the server's answer")
        if not reported():  # it finished: the server handles what it sent before the PONG
            await client.flush(timeout=2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError, nats.errors.Error):
            await task
    return reported()


@pytest.mark.parametrize("service", sorted(ACCESS))
async def test_a_service_publishes_its_own_events_and_not_another_contexts(secured: SecuredNats,
                                                                           service: str) -> None:
    access = ACCESS[service]
    errors: list[Exception] = []
    client = await secured.connect(access.user, errors=errors)
    js = client.jetstream(timeout=2)
    own = next(spec for spec in STREAMS.values() if spec.subjects == (f"{access.context}.>",))
    try:
        before = await stream_messages(secured, own.name)
        ack = await js.publish(f"{access.context}.test.published", b"own", headers={"Nats-Msg-Id": f"own-{service}"})
        assert ack.stream == own.name
        assert await stream_messages(secured, own.name) == before + 1
        for other in ACCESS.values():
            if other.context == access.context:
                continue
            [stream] = [s for s in STREAMS.values() if s.subjects == (f"{other.context}.>",)]
            before = await stream_messages(secured, stream.name)
            errors.clear()
            refused = await violations(client, errors, js.publish(f"{other.context}.test.forged", b"forged",
                                                                  timeout=1))
            assert refused and f"{other.context}.test.forged" in refused[0], refused
            errors.clear()
            refused = await violations(client, errors, client.publish(f"{other.context}.test.forged", b"forged"))
            assert refused, f"{service} published to {other.context}.test.forged"
            assert await stream_messages(secured, stream.name) == before, "nothing of it reached the stream"
    finally:
        await client.close()


async def test_a_service_cannot_pull_anothers_consumer_nor_purge_or_delete_streams(secured: SecuredNats) -> None:
    errors: list[Exception] = []
    points = await secured.connect("volunteer-points", errors=errors)
    js = points.jetstream(timeout=1)
    try:
        # notification's consumer on the POINTS stream: volunteer-points may not read it …
        assert await violations(points, errors, js.consumer_info("POINTS", "notification-points"))
        errors.clear()
        # … while its own works.
        info = await js.consumer_info("NOTIFICATION", "points-help-request-credits")
        assert info.name == "points-help-request-credits"
        for request in (js.purge_stream("POINTS"), js.delete_stream("NOTIFICATION"),
                        js.delete_consumer("NOTIFICATION", "points-help-request-credits")):
            errors.clear()
            assert await violations(points, errors, request)
    finally:
        await points.close()
    assert await stream_messages(secured, "POINTS") >= 0


async def test_no_one_gets_in_without_the_ca_or_the_right_password(secured: SecuredNats) -> None:
    with pytest.raises(Exception):  # noqa: B017  (the plain client fails the server's TLS)
        await secured.connect("volunteer-points", tls=False)
    for user, password in ((None, None), ("volunteer-points", "not-the-password"), ("nobody", "x")):
        with pytest.raises(Exception, match=r"(?i)authorization"):
            await secured.connect(user, password)


def test_the_access_table_is_what_each_service_uses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each service's app, built (not started) as it runs: the streams it ensures and the durable
    consumers it pulls are the ones its NATS user may use."""
    for descriptor in installed_services():
        monkeypatch.setenv(descriptor.addr_env, "127.0.0.1:1")  # nothing is called
    for descriptor in installed_services():
        if not descriptor.owns_database:
            continue
        module = importlib.import_module(descriptor.module)
        app = module.create_app(module.__dict__[_settings_class(module)](
            database_url=f"sqlite+aiosqlite:///{tmp_path / descriptor.db_name}.db"))
        access = ACCESS[descriptor.name]
        assert {s.name for s in app.bus.streams} == set(access.streams), descriptor.name
        used = {(c.spec.stream, c.spec.name) for c in app.consumers}
        assert used == set(access.consumers), descriptor.name
        for consumer in app.consumers:  # it filters subjects of the stream it is bound to
            roots = [subject.removesuffix(">") for subject in STREAMS[consumer.spec.stream].subjects]
            assert all(s.startswith(tuple(roots)) for s in consumer.spec.subjects), consumer.spec.name


def _settings_class(module: Any) -> str:
    [name] = [n for n, v in vars(module).items() if isinstance(v, type) and n.endswith("Settings")
              and v.__module__ != "linli_runtime.settings"]
    return name
