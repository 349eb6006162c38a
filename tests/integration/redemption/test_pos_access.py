"""Who may call the POS API and with what: terminal credentials (missing, wrong, malformed,
rotated, revoked), a terminal of merchant A against merchant B, member codes (expired,
replayed, wrong) and sessions, and every malformed field — the right status, never INTERNAL."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from linli_identity.testing import TestIssuer
from linli_redemption.app import RedemptionApp

from linli.redemption.v1 import admin_pb2
from linli.redemption.v1 import pos_pb2 as pb
from linli_runtime.clock import ManualClock
from linli_runtime.paging import encode_token
from linli_runtime.testing.errors import error_info

from .conftest import CANTEEN, HEALTH, Kit, Metadata, bearer


async def refused(call: Any, request: Any, md: Metadata) -> tuple[grpc.StatusCode, str, list[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(request, metadata=md)
    reason, fields = error_info(caught.value)
    return caught.value.code(), reason, fields


async def test_calls_without_a_valid_terminal_credential_are_unauthenticated(kit: Kit, app: RedemptionApp) -> None:
    till = await kit.terminal(terminal_id="front-desk")
    secret = till[0][1].split(":", 1)[1]
    request = pb.ListRewardsRequest(parent=f"merchants/{HEALTH}")
    assert (await kit.pos.ListRewards(request, metadata=till)).rewards
    for md in [(), (("authorization", "Terminal front-desk:wrong"),), (("authorization", "Terminal front-desk"),),
               (("authorization", "Terminal :"),), (("authorization", f"Terminal nobody:{secret}"),),
               (("authorization", "Basic abc"),)]:
        code, _, _ = await refused(kit.pos.ListRewards, request, md)
        assert code == grpc.StatusCode.UNAUTHENTICATED, md
    # An operator's bearer token is a valid credential, but not for the POS API.
    assert (await refused(kit.pos.ListRewards, request, kit.worker))[:2] == (
        grpc.StatusCode.PERMISSION_DENIED, "TERMINAL_ONLY")


async def test_rotation_replaces_the_secret_and_revocation_ends_the_terminal(kit: Kit) -> None:
    till = await kit.terminal(terminal_id="till-2")
    request = pb.ListRewardsRequest(parent=f"merchants/{HEALTH}")
    name = f"merchants/{HEALTH}/terminals/till-2"
    await kit.pos.ListRewards(request, metadata=till)  # verified, so kept by the credential cache
    rotated = await kit.partners.RotateTerminalSecret(admin_pb2.RotateTerminalSecretRequest(name=name),
                                                      metadata=kit.worker)
    assert (await refused(kit.pos.ListRewards, request, till))[0] == grpc.StatusCode.UNAUTHENTICATED
    new = (("authorization", rotated.authorization),)
    await kit.pos.ListRewards(request, metadata=new)  # kept in turn: the revocation must forget it
    await kit.partners.RevokeTerminal(admin_pb2.RevokeTerminalRequest(name=name), metadata=kit.worker)
    assert (await refused(kit.pos.ListRewards, request, new))[:2] == (
        grpc.StatusCode.UNAUTHENTICATED, "TERMINAL_REVOKED")
    listed = await kit.partners.ListTerminals(admin_pb2.ListTerminalsRequest(parent=f"merchants/{HEALTH}"),
                                              metadata=kit.worker)
    assert [t.terminal_id for t in listed.terminals] == ["fengshu-demo-pos", "till-2"]
    assert listed.terminals[1].state == 2  # REVOKED
    with pytest.raises(grpc.aio.AioRpcError) as taken:
        await kit.terminal(terminal_id="till-2")
    assert taken.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_a_terminal_of_merchant_a_cannot_redeem_refund_or_read_for_merchant_b(kit: Kit) -> None:
    health, canteen = await kit.terminal(HEALTH), await kit.terminal(CANTEEN)
    volunteer = await kit.volunteer(100)
    lunch = await kit.reward(points=5, merchant=CANTEEN)
    session = await kit.session(canteen, volunteer)
    theirs = (await kit.pos.Redeem(pb.RedeemRequest(reward=lunch, member_session=session, quantity=1,
                                                    request_id="b-1"), metadata=canteen)).redemption
    denied = (grpc.StatusCode.PERMISSION_DENIED, "OTHER_MERCHANT")
    calls = [
        (kit.pos.ListRewards, pb.ListRewardsRequest(parent=f"merchants/{CANTEEN}")),
        (kit.pos.QuoteRedemption, pb.QuoteRedemptionRequest(reward=lunch, member_session=session, quantity=1)),
        (kit.pos.Redeem, pb.RedeemRequest(reward=lunch, member_session=session, quantity=1, request_id="a-1")),
        (kit.pos.GetRedemption, pb.GetRedemptionRequest(name=theirs.name)),
        (kit.pos.CancelRedemption, pb.CancelRedemptionRequest(parent=f"merchants/{CANTEEN}", request_id="b-1")),
        (kit.pos.RefundRedemption, pb.RefundRedemptionRequest(name=theirs.name, request_id="a-2", reason="x")),
        (kit.pos.GetDailySettlement, pb.GetDailySettlementRequest(parent=f"merchants/{CANTEEN}",
                                                                  date="2026-11-07")),
    ]
    for call, request in calls:
        assert (await refused(call, request, health))[:2] == denied, request
    # Naming its own merchant with B's redemption id finds nothing.
    own = pb.GetRedemptionRequest(name=f"merchants/{HEALTH}/redemptions/{theirs.redemption_id}")
    assert (await refused(kit.pos.GetRedemption, own, health))[0] == grpc.StatusCode.NOT_FOUND
    # B's member session is B's terminal's only.
    mine = await kit.reward(points=1)
    assert (await refused(kit.pos.Redeem, pb.RedeemRequest(reward=mine, member_session=session, quantity=1,
                                                           request_id="a-3"), health))[:2] == (
        grpc.StatusCode.INVALID_ARGUMENT, "MEMBER_SESSION_UNKNOWN")
    assert (await kit.balance(volunteer)).balance == 95


async def test_member_codes_expire_cannot_be_replayed_and_sessions_expire(kit: Kit, clock: ManualClock) -> None:
    till, other = await kit.terminal(), await kit.terminal()
    volunteer = await kit.volunteer(50)
    code = await kit.code(volunteer)
    first = await kit.pos.ResolveMemberCode(pb.ResolveMemberCodeRequest(member_code=code), metadata=till)
    again = await kit.pos.ResolveMemberCode(pb.ResolveMemberCodeRequest(member_code=code), metadata=till)
    assert again.member_session == first.member_session  # a lost reply, asked again
    assert (await refused(kit.pos.ResolveMemberCode, pb.ResolveMemberCodeRequest(member_code=code), other))[:2] == (
        grpc.StatusCode.FAILED_PRECONDITION, "MEMBER_CODE_REPLAYED")

    stale = await kit.code(volunteer)
    clock.advance(minutes=3)
    assert (await refused(kit.pos.ResolveMemberCode, pb.ResolveMemberCodeRequest(member_code=stale), till))[:2] == (
        grpc.StatusCode.FAILED_PRECONDITION, "MEMBER_CODE_EXPIRED")
    wrong = stale[:8] + ("000000" if stale[8:] != "000000" else "111111")
    assert (await refused(kit.pos.ResolveMemberCode, pb.ResolveMemberCodeRequest(member_code=wrong), till))[:2] == (
        grpc.StatusCode.FAILED_PRECONDITION, "MEMBER_CODE_INVALID")
    for bad in ["", "12345", "abcdefghijklmn", "1234567890123456"]:
        assert (await refused(kit.pos.ResolveMemberCode, pb.ResolveMemberCodeRequest(member_code=bad), till))[:3] == (
            grpc.StatusCode.INVALID_ARGUMENT, "MEMBER_CODE_MALFORMED", ["member_code"])
    assert (await refused(kit.pos.ResolveMemberCode, pb.ResolveMemberCodeRequest(member_code="99999999123456"),
                          till))[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "MEMBER_CODE_INVALID")

    reward = await kit.reward(points=1)
    clock.advance(minutes=10)  # the first session (opened 13 minutes ago) has expired
    assert (await refused(kit.pos.Redeem, pb.RedeemRequest(reward=reward, member_session=first.member_session,
                                                           quantity=1, request_id="late"), till))[:2] == (
        grpc.StatusCode.FAILED_PRECONDITION, "MEMBER_SESSION_EXPIRED")


async def test_every_malformed_field_is_invalid_argument_naming_it(kit: Kit) -> None:
    till = await kit.terminal()
    volunteer = await kit.volunteer(50)
    reward = await kit.reward(points=1)
    session = await kit.session(till, volunteer)
    ok = pb.RedeemRequest(reward=reward, member_session=session, quantity=1, request_id="ok-1")

    def redeem(**changes: Any) -> pb.RedeemRequest:
        request = pb.RedeemRequest()
        request.CopyFrom(ok)
        for k, v in changes.items():
            setattr(request, k, v)
        return request

    cases: list[tuple[Any, Any, str]] = [
        (kit.pos.Redeem, redeem(reward=""), "reward"),
        (kit.pos.Redeem, redeem(reward="merchants/x"), "reward"),
        (kit.pos.Redeem, redeem(reward=f"merchants/{HEALTH}/things/x"), "reward"),
        (kit.pos.Redeem, redeem(reward=f"merchants/{HEALTH}/rewards/a b"), "reward"),
        (kit.pos.Redeem, redeem(quantity=0), "quantity"),
        (kit.pos.Redeem, redeem(quantity=101), "quantity"),
        (kit.pos.Redeem, redeem(quantity=-1), "quantity"),
        (kit.pos.Redeem, redeem(request_id=""), "request_id"),
        (kit.pos.Redeem, redeem(request_id="x" * 129), "request_id"),
        (kit.pos.Redeem, redeem(request_id="has space"), "request_id"),
        (kit.pos.Redeem, redeem(expected_points=-5), "expected_points"),
        (kit.pos.Redeem, redeem(member_session=""), "member_session"),
        (kit.pos.Redeem, redeem(member_session="ms-unknown"), "member_session"),
        (kit.pos.QuoteRedemption, pb.QuoteRedemptionRequest(reward=reward, member_session=session, quantity=0),
         "quantity"),
        (kit.pos.QuoteRedemption, pb.QuoteRedemptionRequest(reward="bad", member_session=session, quantity=1),
         "reward"),
        (kit.pos.ListRewards, pb.ListRewardsRequest(parent="merchant/x"), "parent"),
        (kit.pos.ListRewards, pb.ListRewardsRequest(parent=f"merchants/{HEALTH}", page_size=-1), "page_size"),
        (kit.pos.ListRewards, pb.ListRewardsRequest(parent=f"merchants/{HEALTH}",
                                                    page_token=encode_token("another-list", "x")), "page_token"),
        (kit.pos.ListRewards, pb.ListRewardsRequest(parent=f"merchants/{HEALTH}", page_token="%%%"), "page_token"),
        (kit.pos.GetRedemption, pb.GetRedemptionRequest(name="redemptions/x"), "name"),
        (kit.pos.CancelRedemption, pb.CancelRedemptionRequest(parent=f"merchants/{HEALTH}", request_id=""),
         "request_id"),
        (kit.pos.CancelRedemption, pb.CancelRedemptionRequest(parent="", request_id="x"), "parent"),
        (kit.pos.RefundRedemption, pb.RefundRedemptionRequest(name="x", request_id="r", reason="x"), "name"),
        (kit.pos.RefundRedemption, pb.RefundRedemptionRequest(
            name=f"merchants/{HEALTH}/redemptions/r-1", request_id="", reason="x"), "request_id"),
        (kit.pos.RefundRedemption, pb.RefundRedemptionRequest(
            name=f"merchants/{HEALTH}/redemptions/r-1", request_id="r", reason=""), "reason"),
        (kit.pos.RefundRedemption, pb.RefundRedemptionRequest(
            name=f"merchants/{HEALTH}/redemptions/r-1", request_id="r", reason="x" * 201), "reason"),
        (kit.pos.RefundRedemption, pb.RefundRedemptionRequest(
            name=f"merchants/{HEALTH}/redemptions/r-1", request_id="r", reason="x", points=-1), "points"),
        (kit.pos.GetDailySettlement, pb.GetDailySettlementRequest(parent=f"merchants/{HEALTH}", date="7/11/2026"),
         "date"),
        (kit.pos.GetDailySettlement, pb.GetDailySettlementRequest(parent=f"merchants/{HEALTH}", date="2026-13-01"),
         "date"),
    ]
    for call, request, field in cases:
        code, _, fields = await refused(call, request, till)
        assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field]), (request, code, fields)
    # Request ids follow the one rule of every service (linli_runtime.fields.request_id): up to 128.
    longest = (await kit.pos.Redeem(redeem(request_id="x" * 128), metadata=till)).redemption
    assert longest.request_id == "x" * 128
    refund = await kit.pos.RefundRedemption(pb.RefundRedemptionRequest(name=longest.name, request_id="y" * 128,
                                                                       reason="x"), metadata=till)
    assert refund.refund.request_id == "y" * 128
    # Unknown things are NOT_FOUND, not INVALID_ARGUMENT.
    code, reason, _ = await refused(kit.pos.Redeem, redeem(reward=f"merchants/{HEALTH}/rewards/nope"), till)
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "REWARD_NOT_FOUND")
    code, reason, _ = await refused(kit.pos.RefundRedemption, pb.RefundRedemptionRequest(
        name=f"merchants/{HEALTH}/redemptions/r-nope", request_id="r", reason="x"), till)
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "REDEMPTION_NOT_FOUND")
    # Nothing was charged by any of it.
    assert (await kit.balance(volunteer)).balance == 50


async def test_operator_services_check_scope_and_role(kit: Kit, issuer: TestIssuer) -> None:
    other = bearer(issuer.issue("someone", role="community_worker", scope="chengdu/chongzhou"))
    resident = bearer(issuer.issue("r", role="resident", scope="chengdu/jinjiang/chenglonglu/fengshu"))
    listed = await kit.partners.ListPartners(admin_pb2.ListPartnersRequest(
        community_path="chengdu/jinjiang/chenglonglu/fengshu", page_size=100), metadata=kit.worker)
    kinds = [p.kind for p in listed.partners]
    assert len(listed.partners) == 67 and kinds.count(3) == 8 and kinds.count(1) == 41 and kinds.count(2) == 18
    code, _, _ = await refused(kit.partners.GetPartner, admin_pb2.GetPartnerRequest(name=f"partners/{HEALTH}"), other)
    assert code == grpc.StatusCode.NOT_FOUND  # outside the scope, as if there were none (test_scope.py)
    code, _, _ = await refused(kit.partners.CreateTerminal, admin_pb2.CreateTerminalRequest(
        parent=f"merchants/{HEALTH}", terminal_id="t1"), resident)
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, _, _ = await refused(kit.partners.ListPartners, admin_pb2.ListPartnersRequest(
        community_path="chengdu/jinjiang/chenglonglu/fengshu"), ())
    assert code == grpc.StatusCode.UNAUTHENTICATED
