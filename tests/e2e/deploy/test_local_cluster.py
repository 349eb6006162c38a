"""The clustered local run (`make run-cluster`): a 3-node NATS JetStream cluster, one PostgreSQL,
two replicas of a service, clients balancing across them — and what survives losing a NATS node
and a replica. Runs the real processes on loopback, with test services in place of the four
platform services (the registry-driven run starts whatever is installed the same way)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from linli_identity.testing import TestIssuer
from sqlalchemy import func, select

from linli.devtools.v1 import echo_pb2, echo_pb2_grpc
from linli_runtime.auth import PrincipalKind, Role
from linli_runtime.cluster import LocalCluster, Replica
from linli_runtime.db import Database
from linli_runtime.events.streams import STREAMS
from linli_runtime.events.tables import DEAD_LETTERS, OUTBOX
from linli_runtime.nats_access import ACCESS, ServiceAccess
from linli_runtime.registry import ServiceDescriptor
from linli_runtime.testing.waiting import wait_until
from tests.e2e.deploy.faultkit import (
    Producer,
    accepted_more,
    consumers_settled,
    lose_and_restore,
    stream_infos,
    stream_whole,
)
from tests.e2e.deploy.pulse_service import PULSE, PULSE_ACCESS, REPLICA_HEADER, received

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[3]
ECHO = ServiceDescriptor(name="echo", module="linli_runtime.testing.echo", default_port=0)
PULSE_SERVICE = ServiceDescriptor(name="pulse", module="tests.e2e.deploy.pulse_service", default_port=0)
# The test services' NATS users beside the platform's (echo publishes nothing).
TEST_ACCESS = {**ACCESS, "echo": ServiceAccess("echo", "echo", ()), "pulse": PULSE_ACCESS}


@pytest.fixture
def make_cluster(tmp_path: Path, served_issuer: TestIssuer) -> Iterator[Callable[..., LocalCluster]]:
    made: list[LocalCluster] = []
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)

    def make(services: list[ServiceDescriptor], **kwargs: object) -> LocalCluster:
        kwargs.setdefault("access", TEST_ACCESS)
        cluster = LocalCluster(tmp_path / f"var{len(made)}", services=services, fixed_ports=False, demo_data=False,
                               # Test services in place of the platform's: they trust a test issuer
                               # (keys over HTTP) instead of identity.
                               extra_env={"PYTHONPATH": pythonpath, "LINLI_LOG_LEVEL": "INFO",
                                          "LINLI_ISSUER_URL": served_issuer.url},
                               **kwargs)  # type: ignore[arg-type]
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.stop()


@pytest.fixture
def token(served_issuer: TestIssuer) -> str:
    return served_issuer.issue("cluster-test", role=Role.PLATFORM_ADMIN, scope="", kind=PrincipalKind.SERVICE)


def echo_calls_served(log_path: Path) -> int:
    """Echo calls a replica answered, from its JSON access log."""
    count = 0
    for line in log_path.read_text(errors="replace").splitlines():
        if "EchoService/Echo" in line:
            entry = json.loads(line)
            count += entry.get("message") == "rpc" and entry.get("code") == "OK"
    return count


async def call_echo(cluster: LocalCluster, address: str, token: str, n: int) -> None:
    async with cluster.tls.channel(address, token=token) as channel:
        stub = echo_pb2_grpc.EchoServiceStub(channel)
        for i in range(n):
            reply = await stub.Echo(echo_pb2.EchoRequest(message=f"hello {i}"))
            assert reply.message == f"hello {i}"


def test_cluster_replicates_streams_three_ways_and_balances_calls_over_two_replicas(
    make_cluster: Callable[..., LocalCluster], token: str
) -> None:
    cluster = make_cluster([ECHO])
    cluster.start()

    assert len(cluster.nats) == 3 and all(node.running for node in cluster.nats)
    for info in asyncio.run(stream_infos(cluster, list(STREAMS))):
        assert info.config.num_replicas == 3, info.config.name  # type: ignore[attr-defined]
        assert info.cluster.leader and len(info.cluster.replicas) == 2  # type: ignore[attr-defined]

    replicas = cluster.replicas_of("echo")
    assert len(replicas) == 2 and replicas[0].port != replicas[1].port
    address = cluster.addresses()["ECHO_SERVICE_ADDR"]
    assert address == f"{replicas[0].address},{replicas[1].address}"
    for replica in replicas:
        assert replica.env["ECHO_SERVICE_ADDR"] == address
        assert replica.env["LINLI_STREAM_REPLICAS"] == "3"
        assert replica.env["NATS_URL"] == cluster.nats_url and cluster.nats_url.count(",") == 2
        assert replica.env["DATABASE_URL"].startswith("postgresql+asyncpg://")

    asyncio.run(call_echo(cluster, address, token, 40))
    served = asyncio.run(access_lines_settled(replicas, 40))
    # round_robin alternates once both connections are up (the first calls may all go to one).
    assert min(served) >= 10, f"round_robin should spread the calls: {served}"

    cluster.kill_replica(replicas[0])
    asyncio.run(call_echo(cluster, address, token, 10))  # the channel routes around the dead replica
    assert asyncio.run(access_lines_settled(replicas[1:], served[1] + 10)) == [served[1] + 10]


async def access_lines_settled(replicas: list[Replica], total: int) -> list[int]:
    """Echo calls each replica logged, once the logs hold `total` between them. A replica writes
    its access lines at the end of an event-loop round, after the reply has gone out, so the last
    call's line may land a moment after the client has its answer; more than `total` fails."""
    def counts() -> list[int] | None:
        served = [echo_calls_served(r.log_path) for r in replicas]
        assert sum(served) <= total, f"more calls logged than made: {served}"
        return served if sum(served) == total else None
    settled = await wait_until(counts, 10, f"{total} echo calls' access lines to be written")
    assert settled is not None
    return settled


async def fault_scenario(cluster: LocalCluster, token: str) -> None:
    assert cluster.postgres is not None
    db = Database(cluster.postgres.database_url(PULSE_SERVICE.db_name))
    try:
        async with cluster.tls.channel(cluster.addresses()[PULSE_SERVICE.addr_env], token=token) as channel:
            stub = echo_pb2_grpc.EchoServiceStub(channel)

            async def beat(key: str, request_id: str) -> str:
                call = stub.Echo(echo_pb2.EchoRequest(message=key), timeout=2,
                                 metadata=(("x-request-id", request_id),))
                await call
                return str(dict(await call.trailing_metadata() or ()).get(REPLICA_HEADER, "?"))

            producer = Producer(beat)
            producer.start(workers=4)
            await accepted_more([producer], 50, "the load to run before the fault")
            await lose_and_restore(cluster, producer, stream=PULSE.name, victims=[cluster.replicas_of("pulse")[1]])
            await producer.stop()

        assert producer.unresolved == []
        accepted = producer.accepted
        assert len(accepted) > 100
        assert len(set(accepted.values())) == 2, "both replicas took calls"

        async def all_consumed() -> bool:
            async with db.engine.connect() as conn:
                count = (await conn.execute(select(func.count()).select_from(received))).scalar_one()
            return int(count) >= len(accepted)

        await wait_until(all_consumed, 40, "every accepted event to be consumed", interval=0.2)
        # A duplicate delivered late would come before the consumers have settled everything.
        await wait_until(lambda: consumers_settled(cluster, [PULSE.name]), 40,
                         "the consumers to settle every message", interval=0.2)
        async with db.engine.connect() as conn:
            messages = [row.message for row in await conn.execute(select(received.c.message))]
            unsent = (await conn.execute(select(func.count()).select_from(OUTBOX)
                                         .where(OUTBOX.c.sent_at.is_(None)))).scalar_one()
            dead = (await conn.execute(select(func.count()).select_from(DEAD_LETTERS))).scalar_one()
        assert sorted(messages) == sorted(accepted), "every accepted call's event consumed exactly once"
        assert unsent == 0 and dead == 0
        await wait_until(lambda: stream_whole(cluster, PULSE.name), 20, "the restarted NATS node to catch up",
                         interval=0.2)
    finally:
        await db.dispose()


def test_events_flow_exactly_once_through_the_loss_of_a_nats_node_and_a_replica(
    make_cluster: Callable[..., LocalCluster], token: str
) -> None:
    cluster = make_cluster([PULSE_SERVICE], streams=[*STREAMS.values(), PULSE])
    cluster.start()
    asyncio.run(fault_scenario(cluster, token))
