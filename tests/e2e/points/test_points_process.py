"""volunteer-points as a real process under the local runner (what `make run` starts): demo
data served, a POS-style redemption through holds with a service token, a clean SIGTERM stop,
and a restart that seeds nothing twice."""

from __future__ import annotations

from pathlib import Path

from linli_identity.testing import TestIssuer
from linli_points.descriptor import SERVICE

from linli.points.v1 import ledger_pb2 as led
from linli.points.v1 import ledger_pb2_grpc, volunteers_pb2_grpc
from linli.points.v1 import volunteers_pb2 as vol
from linli_runtime.platform import LocalPlatform
from linli_runtime.registry import ServiceDescriptor

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
# Any free port: the fixed local port may be taken by a `make run` on this machine.
POINTS = ServiceDescriptor(name=SERVICE.name, module=SERVICE.module, default_port=0)


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def start(var_dir: Path, issuer: TestIssuer) -> LocalPlatform:
    platform = LocalPlatform(var_dir, nats_port=0, services=[POINTS], demo_data=True,
                             extra_env={"LINLI_ISSUER_URL": issuer.url})
    platform.start()
    return platform


def test_points_service_runs_redeems_through_holds_and_restarts_cleanly(
    tmp_path: Path, served_issuer: TestIssuer
) -> None:
    service = bearer(served_issuer.issue_service_token("partner-redemption"))
    worker = bearer(served_issuer.issue("worker-li", role="community_worker", scope=FENGSHU))
    platform = start(tmp_path / "var", served_issuer)
    try:
        [running] = platform.services
        with platform.tls.sync_channel(running.address) as channel:
            ledger = ledger_pb2_grpc.LedgerServiceStub(channel)
            account = led.GetBalanceRequest(community_path=FENGSHU, account="volunteers/v-001")
            before = ledger.GetBalance(account, metadata=worker, timeout=10)
            assert before.balance > 0
            hold = led.PlaceHoldRequest(community_path=FENGSHU, hold_id="pos-7-0001", debit_account="volunteers/v-001",
                                        credit_account="system/redemption-clearing", amount=before.balance,
                                        timeout_seconds=120, reason="redemption", source="merchants/canteen")
            placed = ledger.PlaceHold(hold, metadata=service, timeout=10)
            assert ledger.PlaceHold(hold, metadata=service, timeout=10).hold == placed.hold  # a POS retry
            post = led.PostHoldRequest(community_path=FENGSHU, hold_id="pos-7-0001")
            ledger.PostHold(post, metadata=service, timeout=10)
            ledger.PostHold(post, metadata=service, timeout=10)
            assert ledger.GetBalance(account, metadata=worker, timeout=10).balance == 0
        procs = [running.proc]
    finally:
        platform.stop()
    assert all(p is not None and p.returncode == 0 for p in procs), "exited cleanly on SIGTERM"

    again = start(tmp_path / "var", served_issuer)
    try:
        with again.tls.sync_channel(again.services[0].address) as channel:
            volunteers = volunteers_pb2_grpc.VolunteerServiceStub(channel).ListVolunteers(
                vol.ListVolunteersRequest(community_path=FENGSHU, page_size=1000), metadata=worker, timeout=10)
            assert len(volunteers.volunteers) == 72
            balance = ledger_pb2_grpc.LedgerServiceStub(channel).GetBalance(
                led.GetBalanceRequest(community_path=FENGSHU, account="volunteers/v-001"), metadata=worker, timeout=10)
            assert balance.balance == 0  # the redemption stands; the demo credit was not made again
    finally:
        again.stop()
