"""Retries are safe everywhere (issue 14, item 10): CreatePartner, CreateTerminal and
RotateTerminalSecret are idempotent by request id, and a retried CreateTerminal or
RotateTerminalSecret is shown the same secret — the one the terminal answers to — while no
table of the database holds it; it is shown again only while held (24 h), current and derived
with the same key. Request ids follow the one rule of every service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from linli_identity.testing import TestIssuer
from linli_redemption.app import RedemptionApp

from linli.redemption.v1 import admin_pb2, admin_pb2_grpc
from linli.redemption.v1 import pos_pb2 as pb
from linli.redemption.v1 import resources_pb2 as rpb
from linli_runtime.clients import make_channel
from linli_runtime.clock import ManualClock
from linli_runtime.testing.errors import error_info

from .conftest import FENGSHU, HEALTH, Kit, Metadata, bearer

LIST = pb.ListRewardsRequest(parent=f"merchants/{HEALTH}")


async def refusal(call: Any, request: Any, md: Metadata) -> tuple[grpc.StatusCode, str, list[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(request, metadata=md)
    reason, fields = error_info(caught.value)
    return caught.value.code(), reason, fields


async def works(kit: Kit, authorization: str) -> bool:
    try:
        await kit.pos.ListRewards(LIST, metadata=(("authorization", authorization),))
    except grpc.aio.AioRpcError as refused:
        assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
        return False
    return True


async def nowhere_in_the_database(app: RedemptionApp, *secrets: str) -> bool:
    """No value of any row of any table (the runtime's request-id replies included) holds one."""
    async with app.db.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        for name in names:
            for row in (await conn.execute(sa.text(f'SELECT * FROM "{name}"'))).all():
                for value in row:
                    raw = value.encode() if isinstance(value, str) else bytes(value) if isinstance(
                        value, bytes | memoryview) else b""
                    if any(s.encode() in raw for s in secrets):
                        return False
    return True


async def test_create_partner_is_idempotent_by_request_id(kit: Kit, issuer: TestIssuer) -> None:
    request = admin_pb2.CreatePartnerRequest(partner_id="maple-bakery", request_id="partner-1", partner=rpb.Partner(
        community_path=FENGSHU, kind=rpb.PARTNER_KIND_MERCHANT, display_name="枫树面包坊"))
    first = await kit.partners.CreatePartner(request, metadata=kit.worker)
    again = await kit.partners.CreatePartner(request, metadata=kit.worker)
    assert again == first and first.partner.create_time.seconds
    other = admin_pb2.CreatePartnerRequest()
    other.CopyFrom(request)
    other.partner.display_name = "另一家"
    assert (await refusal(kit.partners.CreatePartner, other, kit.worker))[:2] == (
        grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")
    # Another caller's id is another request: the partner id is simply taken.
    colleague = bearer(issuer.issue("worker-wang", role="community_worker", scope=FENGSHU))
    assert (await refusal(kit.partners.CreatePartner, request, colleague))[:2] == (
        grpc.StatusCode.ALREADY_EXISTS, "PARTNER_EXISTS")
    # Without an id a retry is a second request.
    request.ClearField("request_id")
    assert (await refusal(kit.partners.CreatePartner, request, kit.worker))[:2] == (
        grpc.StatusCode.ALREADY_EXISTS, "PARTNER_EXISTS")


async def test_a_retried_create_terminal_is_shown_the_same_secret_and_the_database_holds_none(
        kit: Kit, app: RedemptionApp) -> None:
    request = admin_pb2.CreateTerminalRequest(parent=f"merchants/{HEALTH}", terminal_id="till-9",
                                              display_name="收银台9", request_id="install-till-9")
    first = await kit.partners.CreateTerminal(request, metadata=kit.worker)
    again = await kit.partners.CreateTerminal(request, metadata=kit.worker)
    assert again == first and len(first.secret) >= 43
    assert first.authorization == f"Terminal till-9:{first.secret}" and await works(kit, first.authorization)
    assert await nowhere_in_the_database(app, first.secret)
    changed = admin_pb2.CreateTerminalRequest()
    changed.CopyFrom(request)
    changed.display_name = "收银台10"
    assert (await refusal(kit.partners.CreateTerminal, changed, kit.worker))[:2] == (
        grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")
    # Without a request id the secret is shown once and a second call is refused.
    once = await kit.partners.CreateTerminal(admin_pb2.CreateTerminalRequest(
        parent=f"merchants/{HEALTH}", terminal_id="till-10"), metadata=kit.worker)
    assert await works(kit, once.authorization) and await nowhere_in_the_database(app, once.secret)


async def test_rotation_is_idempotent_and_a_replaced_secret_is_never_shown_again(kit: Kit, app: RedemptionApp,
                                                                                 clock: ManualClock) -> None:
    created = await kit.partners.CreateTerminal(admin_pb2.CreateTerminalRequest(
        parent=f"merchants/{HEALTH}", terminal_id="till-r", request_id="create-r"), metadata=kit.worker)
    name = created.terminal.name
    rotate = admin_pb2.RotateTerminalSecretRequest(name=name, request_id="rotate-1")
    first = await kit.partners.RotateTerminalSecret(rotate, metadata=kit.worker)
    clock.advance(minutes=5)
    again = await kit.partners.RotateTerminalSecret(rotate, metadata=kit.worker)
    assert again == first  # one rotation: same secret, same secret_time
    assert await works(kit, first.authorization) and not await works(kit, created.authorization)
    assert await nowhere_in_the_database(app, created.secret, first.secret)
    # The creation's secret was replaced: its retry cannot be shown it any more.
    retry_create = admin_pb2.CreateTerminalRequest(parent=f"merchants/{HEALTH}", terminal_id="till-r",
                                                   request_id="create-r")
    assert (await refusal(kit.partners.CreateTerminal, retry_create, kit.worker))[:2] == (
        grpc.StatusCode.FAILED_PRECONDITION, "SECRET_NOT_HELD")
    second = await kit.partners.RotateTerminalSecret(admin_pb2.RotateTerminalSecretRequest(
        name=name, request_id="rotate-2"), metadata=kit.worker)
    assert second.secret != first.secret and await works(kit, second.authorization)
    assert (await refusal(kit.partners.RotateTerminalSecret, rotate, kit.worker))[:2] == (
        grpc.StatusCode.FAILED_PRECONDITION, "SECRET_NOT_HELD")
    # Held for a day only.
    clock.advance(hours=24)
    assert (await refusal(kit.partners.RotateTerminalSecret, admin_pb2.RotateTerminalSecretRequest(
        name=name, request_id="rotate-2"), kit.worker))[:2] == (grpc.StatusCode.FAILED_PRECONDITION,
                                                                 "SECRET_NOT_HELD")
    assert await works(kit, second.authorization)  # the secret itself goes on working
    # Revoking forgets what is held.
    third = await kit.partners.RotateTerminalSecret(admin_pb2.RotateTerminalSecretRequest(
        name=name, request_id="rotate-3"), metadata=kit.worker)
    await kit.partners.RevokeTerminal(admin_pb2.RevokeTerminalRequest(name=name), metadata=kit.worker)
    assert (await refusal(kit.partners.RotateTerminalSecret, admin_pb2.RotateTerminalSecretRequest(
        name=name, request_id="rotate-3"), kit.worker))[:2] == (grpc.StatusCode.FAILED_PRECONDITION,
                                                                 "SECRET_NOT_HELD")
    assert not await works(kit, third.authorization)


async def test_a_retry_reaching_a_restarted_service_needs_the_same_key(
        kit: Kit, make_app: Callable[..., Awaitable[RedemptionApp]]) -> None:
    request = admin_pb2.CreateTerminalRequest(parent=f"merchants/{HEALTH}", terminal_id="till-k",
                                              request_id="create-k")
    first = await kit.partners.CreateTerminal(request, metadata=kit.worker)
    same_key = await make_app()
    other_key = await make_app(terminal_secret_key="another-key-another-key-another-key!!")
    for replica, answers in [(same_key, True), (other_key, False)]:
        async with make_channel(f"127.0.0.1:{replica.port}", default_timeout=30) as ch:
            stub = admin_pb2_grpc.PartnerServiceStub(ch)
            if answers:
                assert await stub.CreateTerminal(request, metadata=kit.worker) == first
            else:
                assert (await refusal(stub.CreateTerminal, request, kit.worker))[:2] == (
                    grpc.StatusCode.FAILED_PRECONDITION, "SECRET_NOT_HELD")


async def test_request_ids_are_checked_by_the_shared_rule(kit: Kit) -> None:
    for bad in ["x" * 129, "has space", "中文"]:
        for call, request in [
            (kit.partners.CreatePartner, admin_pb2.CreatePartnerRequest(partner_id="p-x", request_id=bad,
                                                                        partner=rpb.Partner(
                community_path=FENGSHU, kind=rpb.PARTNER_KIND_MERCHANT, display_name="x"))),
            (kit.partners.CreateTerminal, admin_pb2.CreateTerminalRequest(parent=f"merchants/{HEALTH}",
                                                                          terminal_id="t-x", request_id=bad)),
            (kit.partners.RotateTerminalSecret, admin_pb2.RotateTerminalSecretRequest(
                name=f"merchants/{HEALTH}/terminals/fengshu-demo-pos", request_id=bad)),
        ]:
            assert await refusal(call, request, kit.worker) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT",
                                                                ["request_id"]), (call, bad)
    longest = await kit.partners.CreateTerminal(admin_pb2.CreateTerminalRequest(
        parent=f"merchants/{HEALTH}", terminal_id="t-long", request_id="L" * 128), metadata=kit.worker)
    assert await works(kit, longest.authorization)
