"""The notification service as `make run` starts it: its own process under the local runner,
demo data seeded (twice: restarting adds nothing), a request filed over gRPC routed to the
worker on duty now, the WeChat message written by the local file provider, a clean SIGTERM."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from linli_identity.testing import TestIssuer
from linli_notification.descriptor import SERVICE

from linli.notification.v1 import notification_pb2 as pb
from linli.notification.v1 import notification_pb2_grpc as pb_grpc
from linli_runtime.platform import LocalPlatform
from linli_runtime.testing.waiting import wait_until

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
PARENT = "communities/chengdu~jinjiang~chenglonglu~fengshu"


def sent_titled(var_dir: Path, title: str) -> list[dict[str, str]]:
    """The messages the local file provider wrote with this title."""
    deliveries = var_dir / "notification-deliveries.jsonl"
    lines = deliveries.read_text(encoding="utf-8").splitlines() if deliveries.exists() else []
    return [sent for sent in map(json.loads, lines) if sent["title"] == title]


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, served_issuer: TestIssuer) -> Path:
    monkeypatch.setenv("LINLI_ISSUER_URL", served_issuer.url)  # the process fetches its keys over HTTP
    monkeypatch.setenv("LINLI_SWEEP_INTERVAL_SECONDS", "0.2")
    # Notification runs alone here: no identity service announces who holds a community_worker
    # grant, so the roster is taken as it stands (as with an outside OIDC provider).
    monkeypatch.setenv("LINLI_ROSTER_REQUIRES_WORKER_GRANT", "false")
    return tmp_path / "var"


def test_service_runs_under_the_local_runner_and_delivers_to_the_file(var_dir: Path,
                                                                      served_issuer: TestIssuer) -> None:
    md = served_issuer.bearer("worker-he", role="community_worker", scope=FENGSHU)
    for round_ in (1, 2):
        platform = LocalPlatform(var_dir, nats_port=0, services=[SERVICE])
        try:
            platform.start()
            [service] = platform.services
            with platform.tls.sync_channel(service.address) as channel:
                roster = pb_grpc.DutyRosterServiceStub(channel)
                shifts = roster.ListDutyShifts(pb.ListDutyShiftsRequest(parent=PARENT, page_size=100),
                                               metadata=md, timeout=10)
                assert len(shifts.duty_shifts) == 12, f"demo roster seeded once (round {round_})"
                if round_ == 2:
                    continue
                on_duty = roster.GetOnDuty(pb.GetOnDutyRequest(parent=PARENT), metadata=md, timeout=10)
                filed = pb_grpc.HelpRequestServiceStub(channel).CreateHelpRequest(pb.CreateHelpRequestRequest(
                    parent=PARENT, help_request=pb.HelpRequest(
                        reporter_role=pb.REPORTER_ROLE_WORKER, category="meal", urgency=pb.URGENCY_HIGH,
                        description="e2e")), metadata=md, timeout=10).help_request
            expected = on_duty.worker_id or on_duty.head_id
            assert filed.assignee_id == expected
            # The demo roster covers the day: at night (the real clock, in Shanghai) nobody is on
            # duty and the request goes straight to the community's head, titled as such.
            title = "新的求助：送餐（紧急）" if on_duty.worker_id else "【无人值班】新的求助：送餐（紧急）"
            # The demo's open meal request may be told of a restaurant opening meanwhile: look
            # for this request's message.
            [sent] = asyncio.run(wait_until(lambda title=title: sent_titled(var_dir, title), timeout=30,
                                            what=f"the WeChat message {title!r} in the delivery file"))
            assert (sent["recipient_id"], sent["channel"]) == (expected, "wechat")
        finally:
            procs = [s.proc for s in platform.services]
            platform.stop()
        assert all(p is not None and p.returncode == 0 for p in procs), "exited cleanly on SIGTERM"
