"""CatalogService and MemberCardService: field checks, restock idempotency, validity windows,
who may see a member code."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from linli_identity.testing import TestIssuer

from linli.redemption.v1 import admin_pb2
from linli.redemption.v1 import pos_pb2 as pb
from linli.redemption.v1 import resources_pb2 as rpb
from linli_runtime.clock import ManualClock
from linli_runtime.testing.errors import error_info

from .conftest import FENGSHU, HEALTH, Kit, bearer


async def test_reward_fields_restock_and_validity(kit: Kit, clock: ManualClock) -> None:
    parent = f"merchants/{HEALTH}"
    bad: list[tuple[admin_pb2.CreateRewardRequest, str]] = [
        (admin_pb2.CreateRewardRequest(parent=parent, reward_id="Bad Id",
                                       reward=rpb.Reward(display_name="x", points=1)), "reward_id"),
        (admin_pb2.CreateRewardRequest(parent=parent, reward_id="r1", reward=rpb.Reward(display_name="", points=1)),
         "reward.display_name"),
        (admin_pb2.CreateRewardRequest(parent=parent, reward_id="r1", reward=rpb.Reward(display_name="x", points=0)),
         "reward.points"),
        (admin_pb2.CreateRewardRequest(parent=parent, reward_id="r1", reward=rpb.Reward(display_name="x", points=1,
                                                                                        stock=-2)), "reward.stock"),
        (admin_pb2.CreateRewardRequest(parent="merchants/x y", reward_id="r1",
                                       reward=rpb.Reward(display_name="x", points=1)), "parent"),
        # A Timestamp out of its range (protobuf refuses to convert it) is the caller's mistake, not INTERNAL.
        (admin_pb2.CreateRewardRequest(parent=parent, reward_id="r1", reward=rpb.Reward(
            display_name="x", points=1, valid_from=Timestamp(seconds=1, nanos=-1))), "reward.valid_from"),
        (admin_pb2.CreateRewardRequest(parent=parent, reward_id="r1", reward=rpb.Reward(
            display_name="x", points=1, valid_until=Timestamp(seconds=2**40))), "reward.valid_until"),
    ]
    for request, field in bad:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await kit.catalog.CreateReward(request, metadata=kit.worker)
        assert (refused.value.code(), error_info(refused.value)[1]) == (grpc.StatusCode.INVALID_ARGUMENT, [field])
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await kit.catalog.CreateReward(admin_pb2.CreateRewardRequest(
            parent="merchants/member-unit-01", reward_id="r1", reward=rpb.Reward(display_name="x", points=1)),
            metadata=kit.worker)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND  # a member unit is no merchant

    reward = await kit.reward(points=1, stock=0)
    for _ in range(2):
        restocked = await kit.catalog.RestockReward(admin_pb2.RestockRewardRequest(
            name=reward, units=5, request_id="delivery-1"), metadata=kit.worker)
    assert restocked.reward.stock == 5
    # A malformed restock is refused for its fields, whether or not the reward exists.
    for name in (reward, f"{parent}/rewards/no-such-reward"):
        for units, request_id, field in ((0, "delivery-2", "units"), (5, "", "request_id")):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await kit.catalog.RestockReward(admin_pb2.RestockRewardRequest(
                    name=name, units=units, request_id=request_id), metadata=kit.worker)
            assert (refused.value.code(), error_info(refused.value)[1]) == (grpc.StatusCode.INVALID_ARGUMENT,
                                                                            [field]), name

    later = Timestamp()
    later.FromDatetime(clock.now().replace(year=2027))
    future = (await kit.catalog.CreateReward(admin_pb2.CreateRewardRequest(
        parent=parent, reward_id="next-year", reward=rpb.Reward(display_name="x", points=1, valid_from=later)),
        metadata=kit.worker)).reward
    till = await kit.terminal()
    listed = await kit.pos.ListRewards(pb.ListRewardsRequest(parent=parent, page_size=100), metadata=till)
    assert future.name not in {r.name for r in listed.rewards}
    session = await kit.session(till, await kit.volunteer(10))
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await kit.pos.Redeem(pb.RedeemRequest(reward=future.name, member_session=session, quantity=1,
                                              request_id="early"), metadata=till)
    assert error_info(invalid.value)[0] == "REWARD_NOT_VALID"


async def test_a_volunteer_sees_only_their_own_member_code(kit: Kit, issuer: TestIssuer) -> None:
    """Their own: the volunteer volunteer-points has bound to their account — not a volunteer
    whose id happens to be their token's subject."""
    mine = await kit.volunteer(0, account_id="acc-wan")
    other = await kit.volunteer(0, name="李建国", account_id="acc-li")
    me = bearer(issuer.issue("acc-wan", role="volunteer", scope=FENGSHU))
    own = await kit.cards.GetMemberCode(admin_pb2.GetMemberCodeRequest(community_path=FENGSHU, volunteer_id=mine),
                                        metadata=me)
    assert len(own.member_code) == 14
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await kit.cards.GetMemberCode(admin_pb2.GetMemberCodeRequest(community_path=FENGSHU, volunteer_id=other),
                                      metadata=me)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # A token whose subject is the volunteer id is nobody's card (ids are unique per community only).
    with pytest.raises(grpc.aio.AioRpcError) as named:
        await kit.cards.GetMemberCode(admin_pb2.GetMemberCodeRequest(community_path=FENGSHU, volunteer_id=mine),
                                      metadata=bearer(issuer.issue(mine, role="volunteer", scope=FENGSHU)))
    assert error_info(named.value)[0] == "NOT_YOUR_CARD"
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await kit.cards.GetMemberCode(admin_pb2.GetMemberCodeRequest(community_path=FENGSHU, volunteer_id="v-nobody"),
                                      metadata=kit.worker)
    assert (missing.value.code(), error_info(missing.value)[0]) == (grpc.StatusCode.NOT_FOUND, "VOLUNTEER_NOT_FOUND")


async def test_operators_add_partners_and_a_suspended_merchant_s_terminals_are_refused(kit: Kit) -> None:
    created = (await kit.partners.CreatePartner(admin_pb2.CreatePartnerRequest(
        partner_id="new-bakery", partner=rpb.Partner(community_path=FENGSHU, kind=rpb.PARTNER_KIND_MERCHANT,
                                                     display_name="枫树面包坊", contact="陈老板 138…",
                                                     agreement="2026-11 points agreement")),
        metadata=kit.worker)).partner
    assert (created.name, created.accepts_points, created.state) == (
        "partners/new-bakery", True, rpb.PARTNER_STATE_ACTIVE)
    for request, field in [
        (admin_pb2.CreatePartnerRequest(partner_id="x", partner=rpb.Partner(community_path=FENGSHU,
                                                                            display_name="x")), "partner.kind"),
        (admin_pb2.CreatePartnerRequest(partner_id="x", partner=rpb.Partner(
            community_path=FENGSHU, kind=rpb.PARTNER_KIND_MERCHANT)), "partner.display_name"),
        (admin_pb2.CreatePartnerRequest(partner_id="", partner=rpb.Partner(
            community_path=FENGSHU, kind=rpb.PARTNER_KIND_MERCHANT, display_name="x")), "partner_id"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await kit.partners.CreatePartner(request, metadata=kit.worker)
        assert (refused.value.code(), error_info(refused.value)[1]) == (grpc.StatusCode.INVALID_ARGUMENT, [field])

    till = await kit.terminal("new-bakery")
    rewards = pb.ListRewardsRequest(parent="merchants/new-bakery")
    await kit.pos.ListRewards(rewards, metadata=till)
    await kit.partners.SetPartnerState(admin_pb2.SetPartnerStateRequest(
        name="partners/new-bakery", state=rpb.PARTNER_STATE_SUSPENDED), metadata=kit.worker)
    with pytest.raises(grpc.aio.AioRpcError) as suspended:
        await kit.pos.ListRewards(rewards, metadata=till)
    assert (suspended.value.code(), error_info(suspended.value)[0]) == (grpc.StatusCode.UNAUTHENTICATED,
                                                                       "MERCHANT_SUSPENDED")
    await kit.partners.SetPartnerState(admin_pb2.SetPartnerStateRequest(
        name="partners/new-bakery", state=rpb.PARTNER_STATE_ACTIVE), metadata=kit.worker)
    await kit.pos.ListRewards(rewards, metadata=till)
