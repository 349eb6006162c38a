"""Two people who share a local id: volunteer `v-001` of Fengshu (account A) and `v-001` of a
Chongzhou community (account B). Volunteer ids are unique only within a community; what a
service keeps about a person is keyed by their global account (the `sub` of their tokens). So
neither sees the other's balance, notices or help requests — and a token whose subject is the
bare local id `v-001` is nobody's volunteer anywhere (issue 12: "a Chongzhou token whose subject
is v-001 reads the notices of Fengshu's v-001").

Real servers: volunteer-points and notification on loopback with real NATS; the bindings reach
notification through volunteer-points' own `points.volunteer.account_bound` events."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
import sqlalchemy as sa
from linli_identity.testing import TestIssuer
from linli_notification.app import NotificationApp
from linli_notification.tables import VolunteerAccount
from linli_points.app import PointsApp

from linli.events.v1 import redemption_pb2
from linli.notification.v1 import notification_pb2 as npb
from linli.notification.v1 import notification_pb2_grpc as npb_grpc
from linli.points.v1 import ledger_pb2 as led
from linli.points.v1 import volunteers_pb2 as vol
from linli_runtime.events import make_event
from linli_runtime.models import table
from linli_runtime.testing.errors import error_info
from linli_runtime.testing.waiting import wait_until

from .conftest import FENGSHU, Metadata, Stubs, bearer

CHONGZHOU = "chengdu/chongzhou/longxing/longxing-community"
JINSHANG = f"{FENGSHU}/jinshang-chuntian"
A, B = "acc-fengshu-person", "acc-chongzhou-person"  # two people, two accounts


def community_name(path: str) -> str:
    return "communities/" + path.replace("/", "~")


async def refused(call: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value.code(), error_info(caught.value)[0]


async def test_two_people_sharing_v_001_in_two_communities_see_only_their_own(
    app: PointsApp, notification: NotificationApp, stubs: Stubs, issuer: TestIssuer, as_service: Metadata,
    token_for: Callable[..., Metadata],
) -> None:
    s = stubs
    for path, account, points in ((FENGSHU, A, 30), (CHONGZHOU, B, 7)):
        worker = token_for("community_worker", scope=path)
        await s.volunteers.CreateVolunteer(vol.CreateVolunteerRequest(volunteer=vol.Volunteer(
            community_path=path, volunteer_id="v-001", display_name="同名志愿者", account_id=account)),
            metadata=worker)
        await s.ledger.CreateTransfer(led.CreateTransferRequest(
            community_path=path, transfer_id="fund-v-001", debit_account="system/issuance",
            credit_account="volunteers/v-001", amount=points, reason="governance"), metadata=as_service)
    a = bearer(issuer.issue(A, role="volunteer", scope=FENGSHU))
    b = bearer(issuer.issue(B, role="volunteer", scope=CHONGZHOU))
    # B again, also a volunteer at Fengshu (grants in two places): still not Fengshu's v-001.
    b_both = bearer(issuer.issue(B, grants=[("volunteer", CHONGZHOU), ("volunteer", FENGSHU)]))
    bare = bearer(issuer.issue("v-001", role="volunteer", scope=FENGSHU))  # the local id as a subject

    # -- balances: each reads their own, by the binding; nobody reads the other's ---------------
    def balance(path: str) -> led.GetBalanceRequest:
        return led.GetBalanceRequest(community_path=path, account="volunteers/v-001")

    assert (await s.ledger.GetBalance(balance(FENGSHU), metadata=a)).balance == 30
    assert (await s.ledger.GetBalance(balance(CHONGZHOU), metadata=b)).balance == 7
    assert (await s.ledger.GetBalance(balance(CHONGZHOU), metadata=b_both)).balance == 7
    assert await refused(s.ledger.GetBalance(balance(CHONGZHOU), metadata=a)) == (
        grpc.StatusCode.PERMISSION_DENIED, "OUT_OF_SCOPE")
    for stranger in (b_both, bare):
        assert await refused(s.ledger.GetBalance(balance(FENGSHU), metadata=stranger)) == (
            grpc.StatusCode.PERMISSION_DENIED, "NOT_OWN_ACCOUNT")
    # Each finds their own record through the binding, wherever their grants reach.
    mine = await s.volunteers.ListVolunteers(vol.ListVolunteersRequest(community_path=FENGSHU, account_id=A),
                                             metadata=a)
    assert [(v.volunteer_id, v.account_id) for v in mine.volunteers] == [("v-001", A)]
    assert (await s.volunteers.ListVolunteers(vol.ListVolunteersRequest(community_path=FENGSHU, account_id=B),
                                              metadata=b_both)).volunteers == []
    assert (await refused(s.volunteers.ListVolunteers(vol.ListVolunteersRequest(
        community_path=FENGSHU, account_id=A), metadata=b_both)))[0] == grpc.StatusCode.PERMISSION_DENIED

    # -- notices: a redemption by each v-001 reaches only that person's inbox -------------------
    async def bound() -> bool:
        async with notification.db.engine.connect() as conn:
            return len((await conn.execute(sa.select(table(VolunteerAccount)))).all()) == 2
    await wait_until(bound, what="notification to learn both bindings from volunteer-points' events")
    for path, reward in ((FENGSHU, "体检套餐"), (CHONGZHOU, "理发券")):
        envelope = make_event("redemption.redemption.committed", redemption_pb2.RedemptionCommitted(
            redemption=f"merchants/m/redemptions/r-{reward}", request_id=f"pos-{reward}", community_path=path,
            volunteer_id="v-001", reward_name=reward, quantity=1, points=5), org_scope=path,
            source="partner-redemption")
        await notification.bus.js.publish(envelope.subject, envelope.SerializeToString(),
                                          headers={"Nats-Msg-Id": envelope.event_id})
    async with grpc.aio.insecure_channel(f"127.0.0.1:{notification.port}") as channel:
        inbox = npb_grpc.InboxServiceStub(channel)
        desk = npb_grpc.HelpRequestServiceStub(channel)

        async def titles(recipient: str, md: Metadata) -> list[str]:
            page = await inbox.ListNotices(npb.ListNoticesRequest(parent=f"recipients/{recipient}"), metadata=md)
            return [n.title for n in page.notices]

        async def both_delivered() -> bool:
            return bool(await titles(A, a)) and bool(await titles(B, b))
        await wait_until(both_delivered, what="each redemption notice in its person's inbox")
        assert [("体检套餐" in t, "理发券" in t) for t in await titles(A, a)] == [(True, False)]
        assert [("体检套餐" in t, "理发券" in t) for t in await titles(B, b)] == [(False, True)]
        assert await titles("v-001", bare) == [], "nothing is filed under the bare local id"
        for md in (b, b_both, bare):
            assert await refused(inbox.ListNotices(npb.ListNoticesRequest(parent=f"recipients/{A}"),
                                                   metadata=md)) == (grpc.StatusCode.PERMISSION_DENIED,
                                                                     "NOT_YOUR_INBOX")

        # -- help requests: the filer is the account; contact details for handlers and the filer ---
        a_at_home = bearer(issuer.issue(A, grants=[("volunteer", FENGSHU), ("resident", JINSHANG)]))
        filed = (await desk.CreateHelpRequest(npb.CreateHelpRequestRequest(
            parent=community_name(FENGSHU), help_request=npb.HelpRequest(
                reporter_role=npb.REPORTER_ROLE_RESIDENT, category="errand", description="帮忙取药",
                contact="138-0000-0001", compound_path=JINSHANG, reporter_id="v-001")),
            metadata=a_at_home)).help_request
        own = (await desk.GetHelpRequest(npb.GetHelpRequestRequest(name=filed.name), metadata=a_at_home)).help_request
        assert (own.contact, own.contact_withheld) == ("138-0000-0001", False), "the filer sees what they gave"
        # B — at Chongzhou, or also living in the same compound — did not file it and may not read it.
        b_neighbour = bearer(issuer.issue(B, grants=[("volunteer", CHONGZHOU), ("resident", JINSHANG)]))
        for md in (b, b_neighbour):
            assert (await refused(desk.GetHelpRequest(npb.GetHelpRequestRequest(name=filed.name), metadata=md)))[0] \
                == grpc.StatusCode.PERMISSION_DENIED
        assert (await refused(desk.CancelHelpRequest(npb.CancelHelpRequestRequest(
            name=filed.name, reason="不是我"), metadata=b_neighbour)))[0] == grpc.StatusCode.PERMISSION_DENIED
        # Fengshu's volunteers read the community's requests, without how to reach the person;
        # its community worker (who handles them) with it.
        listed = (await desk.ListHelpRequests(npb.ListHelpRequestsRequest(parent=community_name(FENGSHU)),
                                              metadata=b_both)).help_requests
        seen = next(h for h in listed if h.name == filed.name)
        assert (seen.contact, seen.contact_withheld, seen.description) == ("", True, "帮忙取药")
        worker = token_for("community_worker", scope=FENGSHU)
        handled = (await desk.GetHelpRequest(npb.GetHelpRequestRequest(name=filed.name),
                                             metadata=worker)).help_request
        assert (handled.contact, handled.contact_withheld) == ("138-0000-0001", False)
        # A resident (or a merchant) lists no one's requests; B's Chongzhou grants list only Chongzhou's.
        assert (await refused(desk.ListHelpRequests(npb.ListHelpRequestsRequest(parent=community_name(FENGSHU)),
                                                    metadata=b_neighbour))) == (
            grpc.StatusCode.PERMISSION_DENIED, "ROLE_NOT_ALLOWED")
        everywhere = (await desk.ListHelpRequests(npb.ListHelpRequestsRequest(parent="communities/-"),
                                                  metadata=b)).help_requests
        assert all(h.community_path == CHONGZHOU for h in everywhere)
