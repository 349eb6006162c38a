"""The fault-test harness for a LocalCluster: a steady stream of client calls, each retried with
its own request id until accepted, and the loss and return of a NATS node and service replicas
under that load. Used with the test service (pulse_service, test_local_cluster.py) and with the
platform's POS redemptions and help requests (platform_load.py, test_platform_faults.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from linli_runtime.cluster import LocalCluster, Replica
from linli_runtime.testing.waiting import consumer_settled, wait_until

# What a client may see while a replica or a NATS node is lost, and resolves by retrying the
# same request id. Anything else is an error the client could not resolve: the test fails.
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}

# One logical call: (key, request id) → who accepted it. Raises grpc.aio.AioRpcError on failure.
Call = Callable[[str, str], Awaitable[str]]


class Producer:
    """Workers calling `call` back to back; every call is retried with the same request id until
    it is accepted, so `accepted` is exactly what the platform promised to have done. A call
    still failing `give_up_after` seconds after its first attempt, or failing with a status a
    retry cannot resolve, is recorded in `unresolved` (and stops its worker)."""

    def __init__(self, call: Call, *, pause: float = 0.02, give_up_after: float = 45.0,
                 retry_pause: float = 0.1) -> None:
        self.call = call
        self.pause = pause
        self.give_up_after = give_up_after
        self.retry_pause = retry_pause
        self.accepted: dict[str, str] = {}  # key → who accepted it
        self.retries = 0
        self.retried: Counter[str] = Counter()  # status (and reason) → how many retries it took
        self.unresolved: list[str] = []
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, workers: int) -> None:
        self._tasks = [asyncio.create_task(self._run(w)) for w in range(workers)]

    async def stop(self) -> None:
        """Let every worker finish the call in hand (retries included), then stop."""
        self._stopping.set()
        await asyncio.gather(*self._tasks)

    async def _run(self, worker: int) -> None:
        i = 0
        while not self._stopping.is_set():
            key, request_id = f"w{worker}-{i}", uuid.uuid4().hex
            give_up = time.monotonic() + self.give_up_after
            while True:
                try:
                    self.accepted[key] = await self.call(key, request_id)
                    break
                except grpc.aio.AioRpcError as exc:
                    if exc.code() not in RETRYABLE:
                        self.unresolved.append(f"{key}: {exc.code().name} {exc.details()}")
                        return
                    self.retries += 1
                    self.retried[f"{exc.code().name}: {(exc.details() or '')[:60]}"] += 1
                    if time.monotonic() > give_up:
                        self.unresolved.append(f"{key}: still {exc.code().name} after {self.give_up_after}s: "
                                               f"{exc.details()}")
                        return
                    await asyncio.sleep(self.retry_pause)
            i += 1
            await asyncio.sleep(self.pause)


async def stream_infos(cluster: LocalCluster, names: list[str]) -> list[Any]:
    nc = await nats.connect(servers=cluster.nats_url.split(","), connect_timeout=2, **cluster.security.admin_options())
    try:
        js = nc.jetstream(timeout=5)
        return [await js.stream_info(name) for name in names]
    finally:
        await nc.close()


async def stream_event_ids(cluster: LocalCluster, stream: str, subjects: tuple[str, ...]) -> set[str]:
    """The event ids (`Nats-Msg-Id`) of every message on `subjects` that `stream` holds: what the
    services published. (Not their outboxes: on PostgreSQL a relay deletes a row once JetStream
    has it.) Read with an ephemeral pull consumer, no acks, from the stream's first message."""
    nc = await nats.connect(servers=cluster.nats_url.split(","), connect_timeout=2, **cluster.security.admin_options())
    try:
        js = nc.jetstream(timeout=5)
        info = await js.stream_info(stream)
        ids: set[str] = set()
        if not info.state.messages:
            return ids
        config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=10,
                                mem_storage=True)
        sub = await js.pull_subscribe((info.config.subjects or [">"])[0], stream=stream, config=config)
        try:
            read = 0
            while read < info.state.last_seq:
                for msg in await sub.fetch(500, timeout=5):
                    read = msg.metadata.sequence.stream
                    if msg.subject in subjects and msg.headers:
                        ids.add(msg.headers["Nats-Msg-Id"])
        finally:
            await sub.unsubscribe()
        return ids
    finally:
        await nc.close()


async def stream_leader(cluster: LocalCluster, stream: str) -> int:
    """Index in `cluster.nats` of the node leading `stream`."""
    [info] = await stream_infos(cluster, [stream])
    return next(i for i, node in enumerate(cluster.nats) if node.name == info.cluster.leader)


async def stream_whole(cluster: LocalCluster, stream: str) -> bool:
    """Every replica of `stream` is current (a restarted node has caught up)."""
    [info] = await stream_infos(cluster, [stream])
    replicas = info.cluster.replicas or []
    return len(replicas) == len(cluster.nats) - 1 and all(r.current for r in replicas)


async def consumers_settled(cluster: LocalCluster, streams: list[str]) -> bool:
    """Every durable consumer of `streams` has settled all it was given and nothing waits for it
    (see linli_runtime.testing.waiting.consumer_settled): no redelivery is coming."""
    nc = await nats.connect(servers=cluster.nats_url.split(","), connect_timeout=2, **cluster.security.admin_options())
    try:
        js = nc.jetstream(timeout=5)
        for stream in streams:
            for consumer in await js.consumers_info(stream):
                if not await consumer_settled(js, stream, consumer.name):
                    return False
        return True
    finally:
        await nc.close()


async def accepted_more(producers: list[Producer], more: int, what: str, timeout: float = 60) -> None:
    """Wait until every producer has had `more` calls accepted beyond what it has now."""
    now = [len(p.accepted) for p in producers]
    await wait_until(lambda: all(len(p.accepted) >= n + more for p, n in zip(producers, now, strict=True)),
                     timeout=timeout, interval=0.1, what=what)


async def lose_and_restore(cluster: LocalCluster, producers: Producer | list[Producer], *, stream: str,
                           victims: list[Replica], outage: float = 3.0, accepted_after: int = 10) -> None:
    """SIGKILL `victims` and the NATS node leading `stream` under load for `outage` seconds (the
    fault's length, not a wait), seeing calls accepted meanwhile; restart them all (the replicas
    side by side); then wait for every producer to have `accepted_after` more calls accepted."""
    producers = producers if isinstance(producers, list) else [producers]
    leader = await stream_leader(cluster, stream)
    loop = asyncio.get_running_loop()
    down_since = loop.time()
    for victim in victims:
        await asyncio.to_thread(cluster.kill_replica, victim)
    await asyncio.to_thread(cluster.kill_nats_node, leader)
    await accepted_more(producers, 1, "calls accepted while the node and replicas are down", timeout=outage + 60)
    await asyncio.sleep(max(0.0, outage - (loop.time() - down_since)))  # the rest of the outage
    await asyncio.to_thread(cluster.restart_nats_node, leader)
    await asyncio.gather(*(asyncio.to_thread(cluster.restart_replica, victim) for victim in victims))
    await accepted_more(producers, accepted_after, "calls accepted after the restart")
