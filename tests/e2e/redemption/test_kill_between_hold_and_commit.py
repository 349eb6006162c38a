"""A real crash between hold and commit: partner-redemption runs as a process of its own and
dies by SIGKILL right after volunteer-points answered PlaceHold (the test-only fault point
`LINLI_FAULT_KILL_AT=redeem.after_hold`, see linli_redemption.app). After a restart:

- the POS retrying with the same request id gets a definite answer — the redemption
  committed (a retry that finds it pending finishes it), or, once the recovery loop voided
  it, a clear FAILED_PRECONDITION;
- no hold is left open in volunteer-points;
- the volunteer was charged exactly once (committed) or not at all (voided);
- the reward's stock is consistent with the outcome.

volunteer-points stays up throughout; both services on SQLite files or on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from linli_identity.testing import TestIssuer

from linli.points.v1 import ledger_pb2 as led
from linli.points.v1 import ledger_pb2_grpc
from linli.redemption.v1 import admin_pb2, admin_pb2_grpc, pos_pb2, pos_pb2_grpc, resources_pb2
from linli_runtime.platform import wait_serving
from linli_runtime.processes import EmbeddedPostgres, NatsServer, free_port
from linli_runtime.testing.waiting import wait_until

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
MERCHANT = "jinchengyijing-health"
TERMINAL = (("authorization", "Terminal fengshu-demo-pos:demo-only-fengshu-pos-secret"),)
VOLUNTEER = "v-001"
PRICE = 10
Metadata = tuple[tuple[str, str], ...]
SERVICE_OF = {"points": "volunteer-points", "redemption": "partner-redemption"}


class Stack:
    """volunteer-points (kept running) and partner-redemption (started, killed, restarted)."""

    def __init__(self, tmp: Path, nats: NatsServer, urls: dict[str, str], issuer: TestIssuer) -> None:
        self.tmp, self.nats, self.urls, self.issuer = tmp, nats, urls, issuer
        self.points: subprocess.Popen[bytes] | None = None
        self.redemption: subprocess.Popen[bytes] | None = None
        self.points_addr = self.redemption_addr = ""
        self.starts = 0
        self.started: list[subprocess.Popen[bytes]] = []  # every process, stopped at the end

    def _start(self, module: str, name: str, extra: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        # Both trust the test issuer over HTTP; partner-redemption gets its token from it with its
        # own client credentials, as from identity.
        env = {**os.environ, "PORT": str(port), "NATS_URL": self.nats.url, "LINLI_DEMO_DATA": "true",
               "DATABASE_URL": self.urls[name], **self.issuer.env_for(SERVICE_OF[name], self.tmp / "clients"),
               **extra}
        if "LINLI_FAULT_KILL_AT" not in extra:  # armed only where a test asks for it
            env.pop("LINLI_FAULT_KILL_AT", None)
        log = self.tmp / f"{name}-{self.starts}.log"
        self.starts += 1
        proc = subprocess.Popen([sys.executable, "-m", module], env=env, stdout=subprocess.DEVNULL,
                                stderr=log.open("wb"))
        # Known before the wait: a start that times out (pytest-timeout raises inside the wait, or
        # it never serves) is stopped with the rest, not left running after the test.
        self.started.append(proc)
        if not wait_serving(f"127.0.0.1:{port}", 90, proc):
            raise AssertionError(f"{module} did not serve within 90 s: {log.read_text()[-2000:]}")
        return proc, f"127.0.0.1:{port}"

    def start_points(self) -> None:
        self.points, self.points_addr = self._start("linli_points.app", "points", {})

    def start_redemption(self, *, fault: bool, recovery_grace: float) -> None:
        extra = {"VOLUNTEER_POINTS_SERVICE_ADDR": self.points_addr, "LINLI_RECOVERY_GRACE": str(recovery_grace),
                 "LINLI_RECOVERY_INTERVAL": "0.2"}
        if fault:
            extra["LINLI_FAULT_KILL_AT"] = "redeem.after_hold"
        self.redemption, self.redemption_addr = self._start("linli_redemption.app", "redemption", extra)

    def stop(self) -> None:
        for proc in reversed(self.started):  # partner-redemption before volunteer-points
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()


@pytest.fixture(params=["sqlite", "postgresql"])
def stack(request: pytest.FixtureRequest, tmp_path: Path, nats_server: NatsServer,
          served_issuer: TestIssuer) -> Iterator[Stack]:
    names = {"points": f"k_pts_{uuid.uuid4().hex[:8]}", "redemption": f"k_rd_{uuid.uuid4().hex[:8]}"}
    pg: EmbeddedPostgres | None = None
    if request.param == "postgresql":
        pg = request.getfixturevalue("embedded_postgres")
        urls = {key: pg.database_url(name) for key, name in names.items()}
    else:
        urls = {key: f"sqlite+aiosqlite:///{tmp_path / key}.db" for key in names}
    s = Stack(tmp_path, nats_server, urls, served_issuer)
    try:
        s.start_points()
        yield s
    finally:
        s.stop()
        if pg is not None:
            for name in names.values():
                pg.drop_database(name)


class Till:
    """The demo terminal and a community worker, talking to the current processes."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        issuer = stack.issuer
        self.worker: Metadata = (("authorization", "Bearer " + issuer.issue("worker", role="community_worker",
                                                                             scope=FENGSHU)),)
        self.service: Metadata = (("authorization", "Bearer " + issuer.issue_service_token("partner-redemption")),)

    def redemption(self) -> grpc.Channel:
        return grpc.insecure_channel(self.stack.redemption_addr)

    def points(self) -> grpc.Channel:
        return grpc.insecure_channel(self.stack.points_addr)

    def session(self) -> str:
        with self.redemption() as ch:
            code = admin_pb2_grpc.MemberCardServiceStub(ch).GetMemberCode(admin_pb2.GetMemberCodeRequest(
                community_path=FENGSHU, volunteer_id=VOLUNTEER), metadata=self.worker, timeout=20).member_code
            return str(pos_pb2_grpc.PosServiceStub(ch).ResolveMemberCode(
                pos_pb2.ResolveMemberCodeRequest(member_code=code), metadata=TERMINAL, timeout=20).member_session)

    def redeem(self, session: str, request_id: str) -> pos_pb2.RedeemResponse:
        with self.redemption() as ch:
            return pos_pb2_grpc.PosServiceStub(ch).Redeem(pos_pb2.RedeemRequest(
                reward=f"merchants/{MERCHANT}/rewards/crash-kit", member_session=session, quantity=1,
                request_id=request_id), metadata=TERMINAL, timeout=30)

    def stock(self) -> int:
        with self.redemption() as ch:
            rewards = pos_pb2_grpc.PosServiceStub(ch).ListRewards(pos_pb2.ListRewardsRequest(
                parent=f"merchants/{MERCHANT}", page_size=100), metadata=TERMINAL, timeout=20).rewards
        [kit] = [r for r in rewards if r.reward_id == "crash-kit"]
        return int(kit.stock)

    def balance(self) -> led.GetBalanceResponse:
        with self.points() as ch:
            return ledger_pb2_grpc.LedgerServiceStub(ch).GetBalance(led.GetBalanceRequest(
                community_path=FENGSHU, account=f"volunteers/{VOLUNTEER}"), metadata=self.worker, timeout=20)

    def last_hold(self) -> led.Hold:
        """The volunteer's most recent hold, straight from the ledger."""
        with self.points() as ch:
            ledger = ledger_pb2_grpc.LedgerServiceStub(ch)
            entries = ledger.ListTransfers(led.ListTransfersRequest(
                community_path=FENGSHU, account=f"volunteers/{VOLUNTEER}", page_size=1000),
                metadata=self.worker, timeout=20).entries
            [*_, last] = [e.transfer for e in entries if e.transfer.kind == led.TRANSFER_KIND_PENDING]
            return ledger.GetHold(led.GetHoldRequest(community_path=FENGSHU, hold_id=last.transfer_id),
                                  metadata=self.service, timeout=20).hold

    def hold_state(self, hold_id: str) -> int:
        with self.points() as ch:
            return int(ledger_pb2_grpc.LedgerServiceStub(ch).GetHold(led.GetHoldRequest(
                community_path=FENGSHU, hold_id=hold_id), metadata=self.service, timeout=20).hold.state)


def crash_a_redeem(stack: Stack, till: Till, request_id: str) -> tuple[led.Hold, str]:
    """With partner-redemption running with the fault armed: redeem, and watch the process die
    by SIGKILL after the hold was placed. Returns the hold it left behind and the member session
    (a POS retries with the very same request)."""
    session = till.session()
    with pytest.raises(grpc.RpcError) as caught:
        till.redeem(session, request_id)
    assert caught.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL,
                                   grpc.StatusCode.CANCELLED), caught.value
    assert stack.redemption is not None
    assert stack.redemption.wait(20) == -signal.SIGKILL  # a real death, not a clean stop
    hold = till.last_hold()
    assert hold.state == led.HOLD_STATE_PENDING and hold.amount == PRICE  # killed between hold and commit
    assert till.balance().held == PRICE
    return hold, session


# The suite's 120 s bound counts the test's own steps: the stack's volunteer-points start (its
# setup) is bounded by its own wait, as the demo platform's is (tests/conftest.py).
@pytest.mark.timeout(120, func_only=True)
def test_sigkill_between_hold_and_commit_then_restart_settles_exactly_once(stack: Stack) -> None:
    till = Till(stack)
    # The process armed for the first crash makes the reward first (the fault fires only after a
    # redeem's PlaceHold): each start of a service costs seconds, ~15 s at a load of 24.
    stack.start_redemption(fault=True, recovery_grace=3600)
    with till.redemption() as ch:
        admin_pb2_grpc.CatalogServiceStub(ch).CreateReward(admin_pb2.CreateRewardRequest(
            parent=f"merchants/{MERCHANT}", reward_id="crash-kit", reward=resources_pb2.Reward(
                display_name="first-aid kit", points=PRICE, stock=5)), metadata=till.worker, timeout=20)
    before = till.balance()
    assert before.held == 0 and before.available >= 2 * PRICE

    # 1. Killed mid-redeem; after the restart the POS retries at once: the retry finishes it.
    hold_a, session_a = crash_a_redeem(stack, till, "kill-a")
    stack.start_redemption(fault=False, recovery_grace=3600)  # recovery leaves it to the retry
    retried = till.redeem(session_a, "kill-a")
    assert retried.redemption.state == resources_pb2.REDEMPTION_STATE_COMMITTED
    assert retried.redemption.points == PRICE
    assert till.redeem(session_a, "kill-a").redemption.name == retried.redemption.name  # same answer again
    # Posted by volunteer-points from the committed event, a moment after the answer.
    asyncio.run(wait_until(lambda: till.hold_state(hold_a.hold_id) == led.HOLD_STATE_POSTED, timeout=30,
                           interval=0.2, what="the committed redemption's hold posted from its event"))
    after_a = till.balance()
    assert (after_a.balance, after_a.held) == (before.balance - PRICE, 0)  # charged exactly once
    assert till.stock() == 4
    assert stack.redemption is not None
    stack.redemption.terminate()
    stack.redemption.wait(30)

    # 2. Killed again; this time the recovery loop gets there first and voids it.
    stack.start_redemption(fault=True, recovery_grace=3600)
    hold_b, session_b = crash_a_redeem(stack, till, "kill-b")
    stack.start_redemption(fault=False, recovery_grace=0)
    asyncio.run(wait_until(lambda: till.balance().held == 0, timeout=30, interval=0.2,
                           what="the recovery loop to release the hold"))
    assert till.hold_state(hold_b.hold_id) == led.HOLD_STATE_VOIDED
    with pytest.raises(grpc.RpcError) as refused:
        till.redeem(session_b, "kill-b")
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # definite: nothing was charged
    after_b = till.balance()
    assert (after_b.balance, after_b.held) == (after_a.balance, 0)  # unchanged
    assert till.stock() == 4  # the reserved unit went back
