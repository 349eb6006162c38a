"""OneTimeCodeService over real gRPC, on both databases, sending through the real Aliyun adapter
to the stand-in Aliyun API (signatures verified): only the identity service's token may send;
the code reaches the vendor and is kept nowhere — no table, no log line; a retry with the same
request id sends nothing twice; a number gets its codes at a bounded rate; the vendor's answers
become statuses a caller can act on."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
import pytest
import sqlalchemy as sa
from linli_identity.testing import TestIssuer
from linli_notification.app import NotificationApp
from linli_notification.settings import NotificationSettings
from linli_notification.sms.aliyun import AliyunSms
from linli_notification.sms.templates import VendorTemplates
from linli_notification.tables import metadata

from linli.notification.v1 import one_time_codes_pb2 as pb
from linli.notification.v1 import one_time_codes_pb2_grpc as pb_grpc
from linli_runtime.auth import PrincipalKind, Role
from linli_runtime.clock import ManualClock
from linli_runtime.processes import NatsServer
from linli_runtime.rich_status import error_metadata, retry_delay
from linli_runtime.testing.errors import error_info
from tests.integration.notification.fakes import FakeAliyunSms, Loopback

T0 = datetime(2026, 11, 7, 3, 0, tzinfo=UTC)
PHONE = "+8613800000000"
SIGN_IN = pb.ONE_TIME_CODE_PURPOSE_SIGN_IN


@dataclass
class Codes:
    app: NotificationApp
    clock: ManualClock
    vendor: FakeAliyunSms
    stub: pb_grpc.OneTimeCodeServiceStub
    issuer: TestIssuer

    def identity(self, client_id: str = "svc-identity", subject: str = "identity") -> tuple[tuple[str, str], ...]:
        token = self.issuer.issue(subject, role=Role.SERVICE, kind=PrincipalKind.SERVICE, client_id=client_id)
        return (("authorization", f"Bearer {token}"),)

    async def send(self, code: str = "482913", phone: str = PHONE, request_id: str = "",
                   **fields: object) -> pb.SendOneTimeCodeResponse:
        values: dict[str, object] = {"purpose": SIGN_IN, **fields}
        request = pb.SendOneTimeCodeRequest(phone=phone, code=code, request_id=request_id,
                                            **values)  # type: ignore[arg-type]
        return await self.stub.SendOneTimeCode(request, metadata=self.identity())

    async def refused(self, status: grpc.StatusCode, **fields: object) -> tuple[str, dict[str, str], str]:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await self.send(**fields)  # type: ignore[arg-type]
        assert raised.value.code() == status, raised.value.details()
        return error_info(raised.value)[0], error_metadata(raised.value), raised.value.details() or ""


@asynccontextmanager
async def serving(database_url: str, nats_server: NatsServer, issuer: TestIssuer,
                  **settings: object) -> AsyncIterator[Codes]:
    """A notification service sending through the stand-in Aliyun API; `settings` override its own."""
    clock = ManualClock(T0)
    vendor = FakeAliyunSms(clock.now)
    server = Loopback(vendor.handle)
    aliyun = AliyunSms(access_key_id="LTAI-test", access_key_secret="aliyun-secret", sign_name="邻里社区",
                       templates=VendorTemplates({"one_time_code": "SMS_100001"}), endpoint=server.url, clock=clock)
    config = NotificationSettings(**{"port": 0, "database_url": database_url, "nats_url": nats_server.url,
                                     "sweep_interval_seconds": 0, **settings})  # type: ignore[arg-type]
    app = issuer.trust(NotificationApp(config, clock=clock, providers={"sms": [aliyun], "wechat": []}))
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            yield Codes(app, clock, vendor, pb_grpc.OneTimeCodeServiceStub(channel), issuer)
    finally:
        await app.stop(grace=1)
        server.close()


@pytest.fixture
async def codes(database_url: str, nats_server: NatsServer, issuer: TestIssuer) -> AsyncIterator[Codes]:
    async with serving(database_url, nats_server, issuer) as served:
        yield served


async def test_only_the_identity_services_token_may_send_codes(codes: Codes) -> None:
    request = pb.SendOneTimeCodeRequest(phone=PHONE, code="482913", purpose=SIGN_IN)
    admin = codes.issuer.issue("admin-1", role=Role.PLATFORM_ADMIN)
    for who in [(("authorization", f"Bearer {admin}"),), codes.identity(client_id=""),
                codes.identity(client_id="svc-volunteer-points", subject="volunteer-points")]:
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await codes.stub.SendOneTimeCode(request, metadata=who)
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert error_info(denied.value)[0] == "NOT_A_CODE_SENDER"
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await codes.stub.SendOneTimeCode(request)
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert codes.vendor.sent == []
    sent = await codes.stub.SendOneTimeCode(request, metadata=codes.identity())
    assert sent.delivery.provider == "aliyun-sms" and sent.delivery.requested_by == "identity"


async def test_the_code_reaches_the_vendor_and_is_kept_nowhere(codes: Codes, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="linli")
    sent = (await codes.send("482913", "138-0000-0000", request_id="challenge-1", ttl_seconds=600)).delivery
    assert sent.masked_phone == "+86 138****0000" and sent.name.startswith("oneTimeCodeDeliveries/otc-")
    assert sent.purpose == SIGN_IN and sent.send_time.ToDatetime(UTC) == T0
    [request] = codes.vendor.sent
    assert request["PhoneNumbers"] == "13800000000" and request["TemplateCode"] == "SMS_100001"
    assert json.loads(request["TemplateParam"]) == {"code": "482913", "minutes": "10"}
    # Failures are recorded too: a vendor refusing the key must not carry the code into a record.
    codes.vendor.access_keys.clear()
    await codes.refused(grpc.StatusCode.UNAVAILABLE, code="604417", phone="13900000001")

    stored = []
    async with codes.app.db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            stored += [repr(tuple(row)) for row in await conn.execute(sa.select(table))]
    assert any("+86 138****0000" in row for row in stored), "the audit record is there"
    logged = [repr(record.__dict__) for record in caplog.records]
    for secret in ("482913", "604417", "13800000000", "13900000001"):
        assert not [row for row in stored if secret in row], f"{secret} is stored"
        assert not [line for line in logged if secret in line], f"{secret} is logged"


async def test_a_retry_with_the_same_request_id_sends_nothing_twice(codes: Codes) -> None:
    first = await codes.send(request_id="challenge-7")
    again = await codes.send(request_id="challenge-7")
    assert again == first and len(codes.vendor.sent) == 1
    reason, _, _ = await codes.refused(grpc.StatusCode.ALREADY_EXISTS, request_id="challenge-7",
                                       phone="+8613900000009")
    assert reason == "REQUEST_ID_REUSED" and len(codes.vendor.sent) == 1


async def test_a_number_gets_one_code_per_30_s_6_an_hour_10_a_day(codes: Codes) -> None:
    await codes.send()
    reason, meta, message = await codes.refused(grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert reason == "PHONE_RATE_LIMITED" and meta["retry_after_seconds"] == "30" and "+86 138****0000" in message
    await codes.send(phone="+8613900000002")  # another number is not held up
    # A send that did not go out is not counted against the number.
    codes.clock.advance(seconds=30)
    codes.vendor.codes["13800000000"] = "isv.AMOUNT_NOT_ENOUGH"
    await codes.refused(grpc.StatusCode.UNAVAILABLE)
    del codes.vendor.codes["13800000000"]
    for _ in range(5):
        await codes.send()
        codes.clock.advance(seconds=30)
    reason, meta, _ = await codes.refused(grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert meta["retry_after_seconds"] == str(3600 - 6 * 30), "six an hour: the first one must age out"
    for _ in range(4):
        codes.clock.advance(hours=1)
        await codes.send()
    codes.clock.advance(hours=1)
    _, meta, _ = await codes.refused(grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert int(meta["retry_after_seconds"]) == 24 * 3600 - (5 * 3600 + 6 * 30), "ten a day: the first one must age out"
    assert len([r for r in codes.vendor.sent if r["PhoneNumbers"] == "13800000000"]) == 10


async def test_the_limits_per_number_are_settings(database_url: str, nats_server: NatsServer,
                                                   issuer: TestIssuer) -> None:
    async with serving(database_url, nats_server, issuer, one_time_code_gap_seconds=120,
                       one_time_codes_per_number_per_hour=2, one_time_codes_per_number_per_day=3) as codes:
        await codes.send()
        with pytest.raises(grpc.aio.AioRpcError) as gap:
            await codes.send()
        assert gap.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and retry_delay(gap.value) == 120
        codes.clock.advance(minutes=2)
        await codes.send()
        codes.clock.advance(minutes=2)
        _, meta, _ = await codes.refused(grpc.StatusCode.RESOURCE_EXHAUSTED)
        assert meta["retry_after_seconds"] == str(3600 - 4 * 60), "two an hour"
        codes.clock.advance(hours=1)
        await codes.send()
        codes.clock.advance(hours=1)
        _, meta, _ = await codes.refused(grpc.StatusCode.RESOURCE_EXHAUSTED)
        assert int(meta["retry_after_seconds"]) == 24 * 3600 - (2 * 3600 + 4 * 60), "three a day"


async def test_the_vendors_answers_become_statuses_to_act_on(codes: Codes) -> None:
    codes.vendor.codes["13800000000"] = "isv.MOBILE_NUMBER_ILLEGAL"
    reason, _, _ = await codes.refused(grpc.StatusCode.INVALID_ARGUMENT)
    assert reason == "PHONE_REJECTED"
    codes.vendor.codes["13800000000"] = "isv.BUSINESS_LIMIT_CONTROL"
    reason, _, message = await codes.refused(grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert reason == "SMS_THROTTLED" and "isv.BUSINESS_LIMIT_CONTROL" in message
    codes.vendor.codes["13800000000"] = "isv.AMOUNT_NOT_ENOUGH"
    reason, _, message = await codes.refused(grpc.StatusCode.UNAVAILABLE)
    assert reason == "SMS_UNAVAILABLE" and "isv.AMOUNT_NOT_ENOUGH" in message
    for fields, field in [({"phone": "12345"}, "phone"), ({"code": "12ab"}, "code"), ({"code": "123"}, "code"),
                          ({"purpose": pb.ONE_TIME_CODE_PURPOSE_UNSPECIFIED}, "purpose"),
                          ({"ttl_seconds": 30}, "ttl_seconds"), ({"locale": "fr"}, "locale"),
                          ({"request_id": "no spaces"}, "request_id")]:
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await codes.send(**fields)  # type: ignore[arg-type]
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT and error_info(bad.value)[1] == [field]
    assert codes.vendor.sent == []
