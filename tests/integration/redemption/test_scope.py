"""Outside the caller's scope partner-redemption answers as if nothing were there (issue 16,
defect 11). Partners and merchants are named by their id alone, so every method that names
one — or a terminal, reward or settlement of a merchant — gives an outsider NOT_FOUND worded
exactly as for an id nobody uses, with nothing about the community in the message, the
details or the trailers. Methods whose request names the community path itself refuse an
outside path with PERMISSION_DENIED: that tells the caller nothing they did not say."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from grpc_status import rpc_status
from linli_identity.testing import TestIssuer

from linli.redemption.v1 import admin_pb2
from linli.redemption.v1 import resources_pb2 as rpb
from linli_runtime.testing.errors import error_info

from .conftest import FENGSHU, HEALTH, Kit, Metadata, bearer

NOBODY = "no-such-shop"


def merchant_calls(kit: Kit) -> list[tuple[str, Any, Callable[[str], Any]]]:
    """(label, method, request naming the merchant or partner `m`)."""
    day = "2026-11-07"
    return [
        ("GetPartner", kit.partners.GetPartner, lambda m: admin_pb2.GetPartnerRequest(name=f"partners/{m}")),
        ("SetPartnerState", kit.partners.SetPartnerState, lambda m: admin_pb2.SetPartnerStateRequest(
            name=f"partners/{m}", state=rpb.PARTNER_STATE_SUSPENDED)),
        ("CreateTerminal", kit.partners.CreateTerminal, lambda m: admin_pb2.CreateTerminalRequest(
            parent=f"merchants/{m}", terminal_id="outsider-till")),
        ("RotateTerminalSecret", kit.partners.RotateTerminalSecret, lambda m: admin_pb2.RotateTerminalSecretRequest(
            name=f"merchants/{m}/terminals/fengshu-demo-pos")),
        ("RevokeTerminal", kit.partners.RevokeTerminal, lambda m: admin_pb2.RevokeTerminalRequest(
            name=f"merchants/{m}/terminals/fengshu-demo-pos")),
        ("ListTerminals", kit.partners.ListTerminals, lambda m: admin_pb2.ListTerminalsRequest(
            parent=f"merchants/{m}")),
        ("CreateReward", kit.catalog.CreateReward, lambda m: admin_pb2.CreateRewardRequest(
            parent=f"merchants/{m}", reward_id="outsider", reward=rpb.Reward(display_name="x", points=1))),
        ("GetReward", kit.catalog.GetReward, lambda m: admin_pb2.GetRewardRequest(
            name=f"merchants/{m}/rewards/blood-pressure-check")),
        ("ListMerchantRewards", kit.catalog.ListMerchantRewards, lambda m: admin_pb2.ListMerchantRewardsRequest(
            parent=f"merchants/{m}")),
        ("RestockReward", kit.catalog.RestockReward, lambda m: admin_pb2.RestockRewardRequest(
            name=f"merchants/{m}/rewards/flu-vaccine-voucher", units=1, request_id="outsider-1")),
        ("GetMerchantSettlement", kit.settlement.GetMerchantSettlement,
         lambda m: admin_pb2.GetMerchantSettlementRequest(parent=f"merchants/{m}", date=day)),
    ]


async def refusal(call: Any, request: Any, md: Metadata) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(request, metadata=md)
    return caught.value


def everything_said(error: grpc.aio.AioRpcError) -> str:
    """The message, the rich status (ErrorInfo metadata included) and the trailers, as text."""
    return f"{error.details()} {rpc_status.from_call(error)} {error.trailing_metadata()}"  # type: ignore[arg-type]


@pytest.mark.parametrize("role", ["city_operator", "resident"])
async def test_an_outsider_cannot_tell_a_partner_or_merchant_exists(kit: Kit, issuer: TestIssuer, role: str) -> None:
    outsider = bearer(issuer.issue("outsider", role=role, scope="chengdu/chongzhou"))
    for label, call, request in merchant_calls(kit):
        existing = await refusal(call, request(HEALTH), outsider)
        nobody = await refusal(call, request(NOBODY), outsider)
        assert existing.code() == nobody.code() == grpc.StatusCode.NOT_FOUND, label
        assert error_info(existing) == error_info(nobody), label
        assert existing.details() == nobody.details().replace(NOBODY, HEALTH), label
        said = everything_said(existing)
        assert "fengshu" not in said and "chenglonglu" not in said, (label, said)
    # A member unit (no merchant) too.
    unit = await refusal(kit.partners.GetPartner, admin_pb2.GetPartnerRequest(name="partners/member-unit-01"),
                         outsider)
    assert (unit.code(), error_info(unit)[0]) == (grpc.StatusCode.NOT_FOUND, "PARTNER_NOT_FOUND")
    assert "fengshu" not in everything_said(unit)


async def test_inside_the_scope_the_same_calls_answer(kit: Kit, issuer: TestIssuer) -> None:
    resident = bearer(issuer.issue("r", role="resident", scope=FENGSHU))
    street = bearer(issuer.issue("s", role="street_officer", scope="chengdu/jinjiang/chenglonglu"))
    for md in [resident, street, kit.worker]:
        got = await kit.partners.GetPartner(admin_pb2.GetPartnerRequest(name=f"partners/{HEALTH}"), metadata=md)
        assert got.partner.community_path == FENGSHU
        rewards = await kit.catalog.ListMerchantRewards(admin_pb2.ListMerchantRewardsRequest(
            parent=f"merchants/{HEALTH}"), metadata=md)
        assert rewards.rewards
    # In scope but without the role to change things: that is said plainly.
    denied = await refusal(kit.partners.CreateTerminal, admin_pb2.CreateTerminalRequest(
        parent=f"merchants/{HEALTH}", terminal_id="t1"), resident)
    assert (denied.code(), error_info(denied)[0]) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_NOT_ALLOWED")


async def test_naming_an_outside_community_yourself_is_permission_denied(kit: Kit, issuer: TestIssuer) -> None:
    outsider = bearer(issuer.issue("outsider", role="city_operator", scope="chengdu/chongzhou"))
    denied = await refusal(kit.partners.ListPartners, admin_pb2.ListPartnersRequest(community_path=FENGSHU), outsider)
    assert (denied.code(), error_info(denied)[0]) == (grpc.StatusCode.PERMISSION_DENIED, "OUT_OF_SCOPE")
    # Creating a partner whose id is taken elsewhere says only that the id is taken.
    taken = await refusal(kit.partners.CreatePartner, admin_pb2.CreatePartnerRequest(
        partner_id=HEALTH, partner=rpb.Partner(community_path="chengdu/chongzhou/yangma/chongjianglu",
                                               kind=rpb.PARTNER_KIND_MERCHANT, display_name="x")), outsider)
    assert taken.code() == grpc.StatusCode.ALREADY_EXISTS and "fengshu" not in everything_said(taken)
