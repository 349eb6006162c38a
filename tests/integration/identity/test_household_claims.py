"""Household claims over real gRPC (SQLite and PostgreSQL): an owner asks to be bound to a unit,
the compound's committee approves (the `resident` grant given in the same transaction, audited
and published) or rejects with a reason; nobody decides their own claim; another compound's
committee learns nothing; request ids and the one-pending-claim-per-unit rule hold."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from linli_identity.demo import CLAIMANTS, seed
from linli_identity.household_claims import may_decide

from linli.events.v1 import identity_pb2 as events_pb2
from linli.identity.v1 import identity_pb2 as pb
from linli_runtime.demo import demo_account_id
from linli_runtime.processes import NatsServer
from linli_runtime.testing.errors import error_info
from linli_runtime.testing.waiting import wait_until

from .conftest import Identity, rid
from .test_machine_clients import started

SHENGJIAN = "chengdu/chongzhou/longxing/longxing-community/shengjian"
JIANGNANTING = "chengdu/chongzhou/huaiyuan/dingjiangqiao/jiangnanting"
UNIT = f"{SHENGJIAN}/b2/h301"


async def refused(code: grpc.StatusCode, call: object) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call  # type: ignore[misc]
    assert failed.value.code() == code, failed.value.details()
    return error_info(failed.value)[0]


@dataclass(frozen=True)
class Decision:
    subject: str
    org_scope: str
    account: str
    register_name: str
    reason: str
    decided_by: str


async def decision_event(identity: Identity, claim: str) -> Decision:
    """The one `identity.household_claim.*` event published for `claim`."""
    async def found() -> list[Decision] | None:
        decisions = []
        for envelope in await identity.published():
            if envelope.subject.startswith("identity.household_claim."):
                payload = events_pb2.HouseholdClaimDecided()
                envelope.payload.Unpack(payload)
                if payload.household_claim == claim:
                    decisions.append(Decision(envelope.subject, envelope.org_scope, payload.account,
                                              payload.register_name, payload.reason, payload.decided_by))
        return decisions or None

    [decision] = await wait_until(found, what=f"the decision event of {claim}")
    return decision


def claim_request(unit: str = UNIT, name: str = "张三", request_id: str = "") -> pb.CreateHouseholdClaimRequest:
    return pb.CreateHouseholdClaimRequest(household_claim=pb.HouseholdClaim(
        household_path=unit, register_name=name, note="房产证 2019-0042"), request_id=request_id or rid())


async def test_an_owner_claims_a_unit_and_the_committee_binds_them(identity: Identity) -> None:
    owner_id = await identity.person("张三", "+8613700001001")
    committee_id = await identity.with_grant("业委会委员", "owners_committee", SHENGJIAN)
    owner, committee = await identity.caller(owner_id), await identity.caller(committee_id)
    claims = identity.household_claims

    filed = (await owner(claims.CreateHouseholdClaim, claim_request())).household_claim
    assert filed.state == pb.HOUSEHOLD_CLAIM_STATE_PENDING and filed.account == f"accounts/{owner_id}"
    assert filed.account_display_name == "张三" and filed.register_name == "张三" and filed.name.startswith(
        "householdClaims/hcl_")
    pending = await committee(claims.ListHouseholdClaims, pb.ListHouseholdClaimsRequest(
        parent="accounts/-", scope=SHENGJIAN, state=pb.HOUSEHOLD_CLAIM_STATE_PENDING))
    assert [c.name for c in pending.household_claims] == [filed.name]

    approved = (await committee(claims.ApproveHouseholdClaim, pb.ApproveHouseholdClaimRequest(
        name=filed.name, reason="与名册一致", request_id=rid()))).household_claim
    assert approved.state == pb.HOUSEHOLD_CLAIM_STATE_APPROVED and approved.decided_by == f"accounts/{committee_id}"
    grants = await owner(identity.grants.ListGrants, pb.ListGrantsRequest(parent="accounts/me"))
    [grant] = grants.grants
    assert (grant.role, grant.scope, grant.name) == ("resident", UNIT, approved.grant)
    assert grant.granted_by == f"accounts/{committee_id}" and filed.name in grant.reason
    # The owner is told (notification reads the decision from the IDENTITY stream).
    decided = await decision_event(identity, filed.name)
    assert (decided.subject, decided.org_scope) == ("identity.household_claim.approved", UNIT)
    assert (decided.account, decided.register_name, decided.reason, decided.decided_by) == (
        f"accounts/{owner_id}", "张三", "与名册一致", f"accounts/{committee_id}")
    # The owner sees the decision on their own list; a second decision is refused.
    mine = await owner(claims.ListHouseholdClaims, pb.ListHouseholdClaimsRequest(parent="accounts/me"))
    assert [c.state for c in mine.household_claims] == [pb.HOUSEHOLD_CLAIM_STATE_APPROVED]
    assert await refused(grpc.StatusCode.FAILED_PRECONDITION, committee(
        claims.RejectHouseholdClaim, pb.RejectHouseholdClaimRequest(name=filed.name, reason="x",
                                                                    request_id=rid()))) == "CLAIM_DECIDED"
    # Bound now: claiming the same unit again is pointless and refused.
    owner = await identity.caller(owner_id)
    assert await refused(grpc.StatusCode.ALREADY_EXISTS,
                         owner(claims.CreateHouseholdClaim, claim_request())) == "ALREADY_BOUND"


async def test_a_rejected_claim_carries_the_reason_and_gives_nothing(identity: Identity) -> None:
    owner_id = await identity.person("李四", "+8613700001002")
    worker_id = await identity.with_grant("社工", "community_worker", "chengdu/chongzhou/longxing/longxing-community")
    owner, worker = await identity.caller(owner_id), await identity.caller(worker_id)
    claims = identity.household_claims
    filed = (await owner(claims.CreateHouseholdClaim, claim_request(name="李四"))).household_claim
    assert await refused(grpc.StatusCode.INVALID_ARGUMENT, worker(claims.RejectHouseholdClaim,
                         pb.RejectHouseholdClaimRequest(name=filed.name, request_id=rid()))) == "INVALID_ARGUMENT"
    rejected = (await worker(claims.RejectHouseholdClaim, pb.RejectHouseholdClaimRequest(
        name=filed.name, reason="名册上该房屋业主不是李四", request_id=rid()))).household_claim
    assert rejected.state == pb.HOUSEHOLD_CLAIM_STATE_REJECTED and rejected.grant == ""
    seen = (await owner(claims.GetHouseholdClaim, pb.GetHouseholdClaimRequest(name=filed.name))).household_claim
    assert seen.decision_reason == "名册上该房屋业主不是李四"
    decided = await decision_event(identity, filed.name)
    assert (decided.subject, decided.account, decided.reason) == (
        "identity.household_claim.rejected", f"accounts/{owner_id}", "名册上该房屋业主不是李四")
    assert not (await owner(identity.grants.ListGrants, pb.ListGrantsRequest(parent="accounts/me"))).grants


async def test_nobody_approves_their_own_claim(identity: Identity) -> None:
    member_id = await identity.with_grant("业委会委员王", "owners_committee", SHENGJIAN)
    member = await identity.caller(member_id)
    claims = identity.household_claims
    filed = (await member(claims.CreateHouseholdClaim, claim_request(name="王"))).household_claim
    approve = pb.ApproveHouseholdClaimRequest(name=filed.name, request_id=rid())
    reject = pb.RejectHouseholdClaimRequest(name=filed.name, reason="不", request_id=rid())
    for call in (member(claims.ApproveHouseholdClaim, approve), member(claims.RejectHouseholdClaim, reject)):
        assert await refused(grpc.StatusCode.PERMISSION_DENIED, call) == "SAME_ACCOUNT"
    still = (await member(claims.GetHouseholdClaim, pb.GetHouseholdClaimRequest(name=filed.name))).household_claim
    assert still.state == pb.HOUSEHOLD_CLAIM_STATE_PENDING


async def test_another_compounds_committee_learns_nothing(identity: Identity) -> None:
    owner = await identity.caller(await identity.person("赵五", "+8613700001003"))
    other = await identity.caller(await identity.with_grant("江楠庭业委会", "owners_committee", JIANGNANTING))
    claims = identity.household_claims
    filed = (await owner(claims.CreateHouseholdClaim, claim_request(name="赵五"))).household_claim
    await refused(grpc.StatusCode.NOT_FOUND, other(claims.ApproveHouseholdClaim, pb.ApproveHouseholdClaimRequest(
        name=filed.name, request_id=rid())))
    await refused(grpc.StatusCode.NOT_FOUND, other(claims.GetHouseholdClaim, pb.GetHouseholdClaimRequest(
        name=filed.name)))
    await refused(grpc.StatusCode.PERMISSION_DENIED, other(claims.ListHouseholdClaims, pb.ListHouseholdClaimsRequest(
        parent="accounts/-", scope=SHENGJIAN)))
    # An owner lists only their own; a plain resident may not list a compound's.
    await refused(grpc.StatusCode.PERMISSION_DENIED, owner(claims.ListHouseholdClaims, pb.ListHouseholdClaimsRequest(
        parent="accounts/-", scope=SHENGJIAN)))


async def test_a_replayed_request_id_files_once_and_a_second_pending_claim_is_refused(identity: Identity) -> None:
    owner = await identity.caller(await identity.person("钱六", "+8613700001004"))
    claims = identity.household_claims
    request = claim_request(name="钱六")
    first, again = await asyncio.gather(owner(claims.CreateHouseholdClaim, request),
                                        owner(claims.CreateHouseholdClaim, request))
    assert first.household_claim.name == again.household_claim.name
    assert await refused(grpc.StatusCode.ALREADY_EXISTS,
                         owner(claims.CreateHouseholdClaim, claim_request(name="钱六"))) == "CLAIM_PENDING"
    # A few units may wait at once, not more.
    for unit in ("b2/h302", "b2/h303"):
        await owner(claims.CreateHouseholdClaim, claim_request(f"{SHENGJIAN}/{unit}", "钱六"))
    assert await refused(grpc.StatusCode.RESOURCE_EXHAUSTED, owner(
        claims.CreateHouseholdClaim, claim_request(f"{SHENGJIAN}/b2/h304", "钱六"))) == "TOO_MANY_CLAIMS"
    mine = await owner(claims.ListHouseholdClaims, pb.ListHouseholdClaimsRequest(parent="accounts/me"))
    assert len(mine.household_claims) == 3


async def test_a_claim_names_one_unit_and_the_name_on_the_register(identity: Identity) -> None:
    owner = await identity.caller(await identity.person("孙七", "+8613700001005"))
    claims = identity.household_claims
    for bad in (claim_request(SHENGJIAN), claim_request(name=" "), claim_request("Not A Path!")):
        await refused(grpc.StatusCode.INVALID_ARGUMENT, owner(claims.CreateHouseholdClaim, bad))
    assert not (await owner(claims.ListHouseholdClaims,
                            pb.ListHouseholdClaimsRequest(parent="accounts/me"))).household_claims


async def test_the_demo_data_holds_one_pending_claim_for_the_fengshu_workers(
        database_url: str, nats_server: NatsServer, tmp_path: Path) -> None:
    app = await started(database_url, nats_server.url, tmp_path, demo_data=True)
    try:
        await seed(app)  # seeding twice adds nothing
        async with app.db.session() as session:
            found, _ = await app.household_claims.list(session, scope="chengdu/jinjiang/chenglonglu/fengshu")
            worker = await app.grants.actor(session, demo_account_id("+8613800000003"))
        [(phone, _, unit, name, _)] = CLAIMANTS
        assert [(c.account_id, c.household_path, c.register_name, c.state) for c in found] == [
            (demo_account_id(phone), unit, name, "pending")]
        assert may_decide(worker.grants, unit)
    finally:
        await app.stop(grace=1)
