"""The admin API over real gRPC: accounts, grants with the authority rules, the audit trail and
its events, request ids, paging, and who may call what."""

from __future__ import annotations

import asyncio

import grpc
import jwt
import pytest
from linli_identity.bootstrap import create_first_admin
from linli_identity.testing import TestIssuer

from linli.events.v1 import identity_pb2 as events_pb2
from linli.identity.v1 import identity_pb2 as pb
from linli_runtime.errors import FailedPrecondition
from linli_runtime.testing.errors import error_info
from linli_runtime.testing.waiting import wait_until

from .conftest import Caller, Identity, grant_msg, rid

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
CHENGLONGLU = "chengdu/jinjiang/chenglonglu"
YANGMA = "chengdu/chongzhou/yangma"


async def expect(code: grpc.StatusCode, call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call  # type: ignore[misc]
    assert failed.value.code() == code, failed.value.details()
    return failed.value


async def test_no_token_or_a_token_not_from_the_issuer_is_unauthenticated(identity: Identity) -> None:
    request = pb.GetAccountRequest(name="accounts/me")
    await expect(grpc.StatusCode.UNAUTHENTICATED, identity.accounts.GetAccount(request))
    # A shared-key token (what the platform used before the issuer) and one from another issuer.
    legacy = jwt.encode({"sub": "admin", "role": "platform_admin", "aud": "linli", "iss": identity.issuer,
                         "exp": 2_000_000_000, "iat": 1_700_000_000}, "s" * 40, algorithm="HS256")
    other = TestIssuer(identity.issuer).issue("admin", role="platform_admin")
    for token in (legacy, other):
        await expect(grpc.StatusCode.UNAUTHENTICATED, Caller(token)(identity.accounts.GetAccount, request))


async def test_the_bootstrap_makes_one_first_admin_and_refuses_a_second(identity: Identity) -> None:
    admin = await identity.admin()
    me = await (await identity.caller(admin))(identity.accounts.GetAccount, pb.GetAccountRequest(name="accounts/me"))
    assert me.account.phone == "+8613900000000"
    with pytest.raises(FailedPrecondition) as refused:
        await create_first_admin(identity.app.db, "+8613900000001", "第二个", identity.clock)
    assert refused.value.reason == "ADMIN_EXISTS"


async def test_a_chain_of_authority_from_the_admin_down_to_a_volunteer(identity: Identity) -> None:
    admin = await identity.caller(await identity.admin())
    city_id = await identity.person("城市运营", "+8613700000001")
    await admin(identity.grants.CreateGrant, pb.CreateGrantRequest(
        parent=f"accounts/{city_id}", grant=grant_msg("city_operator", "chengdu", "runs Chengdu"), request_id=rid()))
    city = await identity.caller(city_id)
    street_id = (await city(identity.accounts.CreateAccount, pb.CreateAccountRequest(
        account=pb.Account(display_name="街道干部", phone="13700000002"), request_id=rid()))).account.name
    await city(identity.grants.CreateGrant, pb.CreateGrantRequest(
        parent=street_id, grant=grant_msg("street_officer", CHENGLONGLU), request_id=rid()))
    street = await identity.caller(street_id.split("/")[1])
    supervisor = (await street(identity.accounts.CreateAccount, pb.CreateAccountRequest(
        account=pb.Account(display_name="监察人"), request_id=rid()))).account.name
    given = await street(identity.grants.CreateGrant, pb.CreateGrantRequest(
        parent=supervisor, grant=grant_msg("trust_supervisor", CHENGLONGLU, "appointed by the street office"),
        request_id=rid()))
    assert given.grant.state == pb.GRANT_STATE_ACTIVE and given.grant.granted_by == street_id
    assert given.grant.reason == "appointed by the street office"
    # The street officer cannot grant above itself, outside its street, or to itself.
    failed = await expect(grpc.StatusCode.PERMISSION_DENIED, street(identity.grants.CreateGrant, pb.CreateGrantRequest(
        parent=supervisor, grant=grant_msg("city_operator", "chengdu"), request_id=rid())))
    assert error_info(failed)[0] == "NO_AUTHORITY"
    await expect(grpc.StatusCode.PERMISSION_DENIED, street(identity.grants.CreateGrant, pb.CreateGrantRequest(
        parent=supervisor, grant=grant_msg("trust_supervisor", YANGMA), request_id=rid())))
    failed = await expect(grpc.StatusCode.PERMISSION_DENIED, street(identity.grants.CreateGrant, pb.CreateGrantRequest(
        parent=street_id, grant=grant_msg("trust_supervisor", CHENGLONGLU), request_id=rid())))
    assert error_info(failed)[0] == "SELF_GRANT"
    # A role at a level broader than its own is refused whoever asks.
    failed = await expect(grpc.StatusCode.INVALID_ARGUMENT, admin(identity.grants.CreateGrant, pb.CreateGrantRequest(
        parent=supervisor, grant=grant_msg("community_worker", "chengdu"), request_id=rid())))
    assert "community" in (failed.details() or "")
    # Nobody grants to an unknown role, and the same grant twice is ALREADY_EXISTS.
    await expect(grpc.StatusCode.INVALID_ARGUMENT, admin(identity.grants.CreateGrant, pb.CreateGrantRequest(
        parent=supervisor, grant=grant_msg("king", ""), request_id=rid())))
    await expect(grpc.StatusCode.ALREADY_EXISTS, admin(identity.grants.CreateGrant, pb.CreateGrantRequest(
        parent=supervisor, grant=grant_msg("trust_supervisor", CHENGLONGLU), request_id=rid())))


async def test_revoking_keeps_the_audit_trail_and_only_someone_with_authority_may(identity: Identity) -> None:
    worker_id = await identity.with_grant("社区工作者", "community_worker", FENGSHU)
    volunteer_id = await identity.person("志愿者", "+8613700000003")
    worker = await identity.caller(worker_id)
    given = (await worker(identity.grants.CreateGrant, pb.CreateGrantRequest(
        parent=f"accounts/{volunteer_id}", grant=grant_msg("volunteer", FENGSHU), request_id=rid()))).grant
    volunteer = await identity.caller(volunteer_id)
    other_worker = await identity.caller(await identity.with_grant("别的社区", "community_worker",
                                                                   f"{CHENGLONGLU}/other"))
    await expect(grpc.StatusCode.PERMISSION_DENIED, other_worker(identity.grants.RevokeGrant, pb.RevokeGrantRequest(
        name=given.name, reason="not mine", request_id=rid())))
    await expect(grpc.StatusCode.INVALID_ARGUMENT, worker(identity.grants.RevokeGrant, pb.RevokeGrantRequest(
        name=given.name, request_id=rid())))  # a reason is required
    revoked = (await worker(identity.grants.RevokeGrant, pb.RevokeGrantRequest(
        name=given.name, reason="moved away", request_id=rid()))).grant
    assert revoked.state == pb.GRANT_STATE_REVOKED and revoked.revoked_by == f"accounts/{worker_id}"
    await expect(grpc.StatusCode.FAILED_PRECONDITION, worker(identity.grants.RevokeGrant, pb.RevokeGrantRequest(
        name=given.name, reason="again", request_id=rid())))
    active = await volunteer(identity.grants.ListGrants, pb.ListGrantsRequest(parent="accounts/me"))
    history = await volunteer(identity.grants.ListGrants, pb.ListGrantsRequest(parent="accounts/me",
                                                                               show_revoked=True))
    assert list(active.grants) == [] and [g.revoke_reason for g in history.grants] == ["moved away"]
    assert history.grants[0].granted_by == f"accounts/{worker_id}"


async def test_grants_and_accounts_are_published_as_events(identity: Identity) -> None:
    admin = await identity.caller(await identity.admin())
    someone = await identity.person("某人", "+8613700000004")
    await admin(identity.grants.CreateGrant, pb.CreateGrantRequest(
        parent=f"accounts/{someone}", grant=grant_msg("resident", f"{FENGSHU}/jinshang-chuntian"), request_id=rid()))
    await admin(identity.accounts.DisableAccount, pb.DisableAccountRequest(
        name=f"accounts/{someone}", reason="asked to leave", request_id=rid()))

    async def subjects() -> list[str] | None:
        found = [e.subject for e in await identity.published()]
        return found if "identity.account.disabled" in found else None

    seen = await wait_until(subjects, what="the identity events on the IDENTITY stream")
    assert {"identity.account.created", "identity.grant.granted", "identity.account.disabled"} <= set(seen)
    granted = next(e for e in await identity.published() if e.subject == "identity.grant.granted"
                   and e.org_scope == f"{FENGSHU}/jinshang-chuntian")
    payload = events_pb2.GrantChanged()
    granted.payload.Unpack(payload)
    assert payload.role == "resident" and payload.account == f"accounts/{someone}"
    assert all("+86" not in e.SerializeToString().decode("latin-1") for e in await identity.published())  # no phones


async def test_a_retried_grant_with_its_request_id_is_answered_once(identity: Identity) -> None:
    admin = await identity.caller(await identity.admin())
    someone = await identity.person("重试", "+8613700000005")
    request = pb.CreateGrantRequest(parent=f"accounts/{someone}", grant=grant_msg("volunteer", FENGSHU),
                                    request_id=rid())
    first, again = await asyncio.gather(admin(identity.grants.CreateGrant, request),
                                        admin(identity.grants.CreateGrant, request))
    assert first.grant.name == again.grant.name
    listed = await admin(identity.grants.ListGrants, pb.ListGrantsRequest(parent=f"accounts/{someone}"))
    assert len(listed.grants) == 1


async def test_who_may_see_and_list_accounts(identity: Identity) -> None:
    worker = await identity.caller(await identity.with_grant("工作者", "community_worker", FENGSHU))
    volunteer_id = await identity.with_grant("志愿者甲", "volunteer", FENGSHU, phone="+8613700000006")
    stranger_id = await identity.with_grant("别处志愿者", "volunteer", "chengdu/chongzhou/x/y", phone="+8613700000007")
    volunteer = await identity.caller(volunteer_id)
    seen = await worker(identity.accounts.GetAccount, pb.GetAccountRequest(name=f"accounts/{volunteer_id}"))
    assert seen.account.phone == "+8613700000006"
    await expect(grpc.StatusCode.PERMISSION_DENIED,
                 worker(identity.accounts.GetAccount, pb.GetAccountRequest(name=f"accounts/{stranger_id}")))
    await expect(grpc.StatusCode.PERMISSION_DENIED,
                 volunteer(identity.accounts.GetAccount, pb.GetAccountRequest(name=f"accounts/{stranger_id}")))
    by_phone = await worker(identity.accounts.ListAccounts, pb.ListAccountsRequest(phone="137 0000 0006"))
    assert [a.name for a in by_phone.accounts] == [f"accounts/{volunteer_id}"]
    within = await worker(identity.accounts.ListAccounts, pb.ListAccountsRequest(scope=FENGSHU))
    assert f"accounts/{volunteer_id}" in [a.name for a in within.accounts]
    await expect(grpc.StatusCode.PERMISSION_DENIED,
                 worker(identity.accounts.ListAccounts, pb.ListAccountsRequest(scope="chengdu/chongzhou")))
    await expect(grpc.StatusCode.PERMISSION_DENIED, worker(identity.accounts.ListAccounts, pb.ListAccountsRequest()))
    await expect(grpc.StatusCode.PERMISSION_DENIED,
                 volunteer(identity.accounts.ListAccounts, pb.ListAccountsRequest(phone="13700000007")))
    await expect(grpc.StatusCode.INVALID_ARGUMENT,
                 worker(identity.accounts.ListAccounts, pb.ListAccountsRequest(phone="not a phone")))
    await expect(grpc.StatusCode.NOT_FOUND, worker(identity.accounts.GetAccount, pb.GetAccountRequest(
        name="accounts/acc_aaaaaaaaaaaaaaaaaaaa")))


async def test_paging_through_grants_within_a_scope(identity: Identity) -> None:
    admin = await identity.caller(await identity.admin())
    made = [await identity.with_grant(f"志愿者{i}", "volunteer", FENGSHU) for i in range(5)]
    seen: list[str] = []
    token = ""
    while True:
        page = await admin(identity.grants.ListGrants, pb.ListGrantsRequest(parent="accounts/-", scope=FENGSHU,
                                                                            page_size=2, page_token=token))
        seen += [g.account for g in page.grants]
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"accounts/{a}" for a in made]
    await expect(grpc.StatusCode.INVALID_ARGUMENT, admin(identity.grants.ListGrants, pb.ListGrantsRequest(
        parent="accounts/-", scope="chengdu", page_token="bogus")))


async def test_disabling_an_account_needs_authority_over_all_it_holds(identity: Identity) -> None:
    admin_id = await identity.admin()
    worker = await identity.caller(await identity.with_grant("工作者乙", "community_worker", FENGSHU))
    trustee_and_volunteer = await identity.with_grant("双重", "volunteer", FENGSHU)
    async with identity.app.db.transaction() as session:
        from linli_runtime.auth import Role

        await identity.app.grants.record(session, account_id=trustee_and_volunteer, role=Role.TRUSTEE,
                                         scope=f"{FENGSHU}/jinshang-chuntian", by="test", reason="fixture")
    await expect(grpc.StatusCode.PERMISSION_DENIED, worker(identity.accounts.DisableAccount, pb.DisableAccountRequest(
        name=f"accounts/{trustee_and_volunteer}", reason="x", request_id=rid())))
    await expect(grpc.StatusCode.PERMISSION_DENIED, worker(identity.accounts.DisableAccount, pb.DisableAccountRequest(
        name=f"accounts/{admin_id}", reason="coup", request_id=rid())))
    admin = await identity.caller(admin_id)
    before = await identity.caller(trustee_and_volunteer)
    done = await admin(identity.accounts.DisableAccount, pb.DisableAccountRequest(
        name=f"accounts/{trustee_and_volunteer}", reason="left", request_id=rid()))
    assert done.account.state == pb.ACCOUNT_STATE_DISABLED and done.account.disabled_by == f"accounts/{admin_id}"
    # Its token still verifies for its lifetime elsewhere, but identity, which knows, refuses it.
    failed = await expect(grpc.StatusCode.PERMISSION_DENIED, before(identity.accounts.GetAccount,
                                                                    pb.GetAccountRequest(name="accounts/me")))
    assert error_info(failed)[0] == "ACCOUNT_DISABLED"
    back = await admin(identity.accounts.EnableAccount, pb.EnableAccountRequest(
        name=f"accounts/{trustee_and_volunteer}", reason="came back", request_id=rid()))
    assert back.account.state == pb.ACCOUNT_STATE_ACTIVE


async def test_signing_keys_are_for_platform_admins(identity: Identity) -> None:
    admin = await identity.caller(await identity.admin())
    worker = await identity.caller(await identity.with_grant("工作者丙", "community_worker", FENGSHU))
    await expect(grpc.StatusCode.PERMISSION_DENIED, worker(identity.keys.ListSigningKeys, pb.ListSigningKeysRequest()))
    await expect(grpc.StatusCode.PERMISSION_DENIED, worker(identity.keys.RotateSigningKeys,
                                                           pb.RotateSigningKeysRequest(request_id=rid())))
    rotated = await admin(identity.keys.RotateSigningKeys, pb.RotateSigningKeysRequest(request_id=rid()))
    assert rotated.active_key.state == pb.SIGNING_KEY_STATE_ACTIVE
    assert rotated.retired_key.state == pb.SIGNING_KEY_STATE_RETIRED
    listed = await admin(identity.keys.ListSigningKeys, pb.ListSigningKeysRequest())
    assert [k.kid for k in listed.signing_keys] == [rotated.active_key.kid, rotated.retired_key.kid]
