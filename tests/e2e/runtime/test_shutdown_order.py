"""Ctrl-C on `make run` stops callers before the services they call, each draining fully before
the next is signalled (issue 16, defect 4).

It used to SIGTERM every service at once: volunteer-points exited while partner-redemption was
still draining its redeems, so their second call (post the hold) failed and each stop under
load left redemptions PENDING. Here a real caller process, under a stream of calls that each
call a real callee process twice, is stopped by the platform runner: no call the caller
accepted may fail, and the callee begins to shut down only after the caller has stopped."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import grpc
import pytest
from linli_identity.testing import TestIssuer

from linli.devtools.v1 import echo_pb2, echo_pb2_grpc
from linli_runtime.grpc_tls import GrpcTls
from linli_runtime.platform import LocalPlatform, RunningService
from linli_runtime.processes import free_port
from linli_runtime.testing.waiting import wait_until
from tests.e2e.runtime.chain_service import CALLEE, CALLER

WORKERS = 8


@pytest.fixture
def platform(tmp_path: Path, served_issuer: TestIssuer) -> Iterator[LocalPlatform]:
    # Both trust a test issuer over HTTP; the caller gets its token there with its own client credentials.
    platform = LocalPlatform(tmp_path / "var", nats_port=free_port(), services=[CALLEE, CALLER],
                             default_ports=False, extra_env=served_issuer.env_for(CALLER.name, tmp_path / "clients"))
    try:
        yield platform
    finally:
        platform.stop()


def log_of(service: RunningService) -> list[dict[str, object]]:
    lines = service.log_path.read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def when(entries: list[dict[str, object]], message: str) -> datetime:
    [found] = [e for e in entries if e.get("message") == message]
    return datetime.strptime(str(found["ts"]), "%Y-%m-%d %H:%M:%S,%f")


class Load:
    """WORKERS clients calling the caller back to back until told to stop; every answer kept."""

    def __init__(self, address: str, token: str, tls: GrpcTls) -> None:
        self.address = address
        self.token = token
        self.tls = tls
        self.codes: list[grpc.StatusCode] = []
        self.refused: list[str] = []  # request ids of the calls that did not succeed
        self.stop = threading.Event()

    async def worker(self, n: int) -> None:
        # A bare channel (no retries), over TLS as make run serves.
        async with grpc.aio.secure_channel(self.address, self.tls.channel_credentials()) as channel:
            stub = echo_pb2_grpc.EchoServiceStub(channel)
            i = 0
            while not self.stop.is_set():
                i += 1
                request_id = f"redeem-{n}-{i}"
                try:
                    await stub.Echo(echo_pb2.EchoRequest(message=request_id, delay_ms=300), timeout=20,
                                    metadata=(("authorization", f"Bearer {self.token}"), ("x-request-id", request_id)))
                    self.codes.append(grpc.StatusCode.OK)
                except grpc.aio.AioRpcError as error:
                    self.codes.append(error.code())
                    self.refused.append(request_id)
                    return  # the caller no longer takes calls: it is stopping

    async def run(self) -> None:
        await asyncio.gather(*(self.worker(n) for n in range(WORKERS)))


async def test_stopping_under_load_drains_the_caller_before_the_callee_is_signalled(
    platform: LocalPlatform, served_issuer: TestIssuer
) -> None:
    await asyncio.to_thread(platform.start)
    callee, caller = platform.services
    assert (callee.descriptor, caller.descriptor) == (CALLEE, CALLER)
    token = served_issuer.issue("pos-7", role="community_worker", scope="chengdu")
    load = Load(caller.address, token, platform.tls.client)
    running = asyncio.create_task(load.run())
    await wait_until(lambda: load.codes.count(grpc.StatusCode.OK) >= 2 * WORKERS,
                     what="the load to be flowing", timeout=60)
    # Ctrl-C: every worker has a call in flight, each between its two calls to the callee.
    await asyncio.to_thread(platform.stop)
    load.stop.set()
    await asyncio.wait_for(running, 60)

    handled = {str(e.get("request_id")): e.get("code") for e in log_of(caller) if e.get("message") == "rpc"}
    assert list(handled.values()).count("OK") == load.codes.count(grpc.StatusCode.OK)
    failed = {rid: code for rid, code in handled.items() if code != "OK"}
    assert not failed, f"calls the caller accepted failed while it stopped: {failed}"
    # Calls that did not succeed were refused at the door (the caller had stopped taking calls),
    # never accepted and then failed.
    assert load.refused and not set(load.refused) & set(handled), (load.refused, load.codes)
    assert all(s.proc is not None and s.proc.returncode == 0 for s in platform.services), "both exited cleanly"
    caller_stopped = when(log_of(caller), "stopped")
    callee_signalled = when(log_of(callee), "shutting down")
    assert callee_signalled >= caller_stopped, "the callee is signalled only once the caller has drained"
