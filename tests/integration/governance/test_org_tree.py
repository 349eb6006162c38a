"""The org tree over gRPC: creation with its event, the kind hierarchy, field errors, request
ids, and scope."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from linli.events.v1 import governance_pb2 as events_pb2
from linli.events.v1.envelope_pb2 import EventEnvelope
from linli.governance.v1 import org_pb2, rollout_pb2
from linli_runtime.testing.waiting import wait_until

from .conftest import Governance
from .helpers import CITY, DISTRICT, HUAIYUAN, JIANGNANTING, JINSHENG, YANGMA, build_chongzhou, expect_error, rid

pytestmark = pytest.mark.asyncio


async def governance_events(gov: Governance) -> list[EventEnvelope]:
    js = gov.app.bus.js
    try:
        info = await js.stream_info("GOVERNANCE")
    except Exception:
        return []
    found: list[EventEnvelope] = []
    if info.state.messages == 0:  # created, nothing relayed yet
        return found
    for seq in range(max(1, info.state.first_seq), info.state.last_seq + 1):
        msg = await js.get_msg("GOVERNANCE", seq)
        assert msg.data is not None
        found.append(EventEnvelope.FromString(msg.data))
    return found


async def test_tree_is_built_level_by_level_and_each_unit_is_announced(gov: Governance) -> None:
    await build_chongzhou(gov)
    reply = await gov.admin(gov.org.GetOrgUnit, org_pb2.GetOrgUnitRequest(path=JIANGNANTING))
    assert reply.org_unit.kind == org_pb2.ORG_UNIT_KIND_COMPOUND
    assert reply.org_unit.parent_path == f"{HUAIYUAN}/dingjiangqiao"
    listed = await gov.admin(gov.org.ListOrgUnits, org_pb2.ListOrgUnitsRequest(parent_path=DISTRICT, page_size=1))
    assert [u.path for u in listed.org_units] == [HUAIYUAN]
    rest = await gov.admin(
        gov.org.ListOrgUnits,
        org_pb2.ListOrgUnitsRequest(parent_path=DISTRICT, page_size=1, page_token=listed.next_page_token),
    )
    assert [u.path for u in rest.org_units] == [YANGMA] and rest.next_page_token == ""
    # The subtree in one call (the city dashboard's walk), down to communities: not the compounds.
    community = org_pb2.ORG_UNIT_KIND_COMMUNITY
    subtree = await gov.admin(gov.org.ListOrgUnits, org_pb2.ListOrgUnitsRequest(parent_path=CITY,
                                                                               down_to_kind=community))
    assert [u.path for u in subtree.org_units] == [
        DISTRICT, HUAIYUAN, f"{HUAIYUAN}/dingjiangqiao", YANGMA, f"{YANGMA}/chongjianglu"]
    assert subtree.next_page_token == ""
    for u in subtree.org_units:  # the same message as GetOrgUnit's, though made straight from the row
        assert u == (await gov.admin(gov.org.GetOrgUnit, org_pb2.GetOrgUnitRequest(path=u.path))).org_unit
    streets = await gov.admin(gov.org.ListOrgUnits, org_pb2.ListOrgUnitsRequest(
        parent_path=CITY, down_to_kind=org_pb2.ORG_UNIT_KIND_STREET))
    assert [u.path for u in streets.org_units] == [DISTRICT, HUAIYUAN, YANGMA]
    paged, token = [], ""
    while True:  # pages of 2 in path order, each resuming after the last
        page = await gov.admin(gov.org.ListOrgUnits, org_pb2.ListOrgUnitsRequest(
            parent_path=CITY, down_to_kind=org_pb2.ORG_UNIT_KIND_COMPOUND, page_size=2, page_token=token))
        assert len(page.org_units) <= 2
        paged.extend(u.path for u in page.org_units)
        if not (token := page.next_page_token):
            break
    assert paged == sorted([u.path for u in subtree.org_units] + [JIANGNANTING, JINSHENG])

    async def all_announced() -> bool:
        return len(await governance_events(gov)) == 8

    await wait_until(all_announced, what="8 org_unit.created events on GOVERNANCE")
    events = await governance_events(gov)
    assert {e.subject for e in events} == {"governance.org_unit.created"}
    payloads = []
    for e in events:
        p = events_pb2.OrgUnitCreated()
        assert e.payload.Unpack(p)
        payloads.append(p)
    compound = next(p for p in payloads if p.path == JIANGNANTING)
    assert (compound.kind, compound.name, compound.parent_path) == (
        events_pb2.ORG_UNIT_KIND_COMPOUND,
        "江楠庭小区",
        f"{HUAIYUAN}/dingjiangqiao",
    )
    assert next(e for e in events if e.org_scope == JINSHENG)


async def test_a_new_compound_starts_not_started_with_its_checklist(gov: Governance) -> None:
    await build_chongzhou(gov)
    reply = await gov.admin(gov.rollout.GetRollout, rollout_pb2.GetRolloutRequest(compound_path=JINSHENG))
    assert reply.rollout.stage == rollout_pb2.ROLLOUT_STAGE_NOT_STARTED
    assert len(reply.rollout.checklist) == 5 and not any(i.done for i in reply.rollout.checklist)


async def test_units_must_sit_under_the_level_above_them(gov: Governance) -> None:
    await build_chongzhou(gov)
    request = org_pb2.CreateOrgUnitRequest(
        parent_path=DISTRICT,
        slug="stray",
        kind=org_pb2.ORG_UNIT_KIND_COMPOUND,
        display_name="x",
        compound_type=org_pb2.COMPOUND_TYPE_COMMERCIAL,
    )
    await expect_error(
        gov.admin(gov.org.CreateOrgUnit, request), grpc.StatusCode.FAILED_PRECONDITION, reason="WRONG_PARENT_KIND"
    )
    missing = org_pb2.CreateOrgUnitRequest(
        parent_path=f"{CITY}/nowhere", slug="x", kind=org_pb2.ORG_UNIT_KIND_STREET, display_name="x"
    )
    await expect_error(gov.admin(gov.org.CreateOrgUnit, missing), grpc.StatusCode.NOT_FOUND)
    again = org_pb2.CreateOrgUnitRequest(
        parent_path=DISTRICT, slug="huaiyuan", kind=org_pb2.ORG_UNIT_KIND_STREET, display_name="怀远镇"
    )
    await expect_error(gov.admin(gov.org.CreateOrgUnit, again), grpc.StatusCode.ALREADY_EXISTS)


async def test_bad_input_names_the_field(gov: Governance) -> None:
    await build_chongzhou(gov)
    base = dict(parent_path=HUAIYUAN, slug="newcomm", kind=org_pb2.ORG_UNIT_KIND_COMMUNITY, display_name="新社区")
    cases = [
        ({"slug": "Bad Slug"}, "slug"),
        ({"slug": ""}, "slug"),
        ({"display_name": " "}, "display_name"),
        ({"kind": org_pb2.ORG_UNIT_KIND_UNSPECIFIED}, "kind"),
        ({"parent_path": "chengdu/怀远"}, "parent_path"),
        ({"compound_type": org_pb2.COMPOUND_TYPE_COMMERCIAL}, "compound_type"),
        ({"exclusive_area_dm2": 100}, "exclusive_area_dm2"),
        ({"kind": org_pb2.ORG_UNIT_KIND_CITY}, "parent_path"),
        ({"request_id": "x" * 129}, "request_id"),
    ]
    for change, field in cases:
        request = org_pb2.CreateOrgUnitRequest(**{**base, **change})  # type: ignore[arg-type]
        await expect_error(gov.admin(gov.org.CreateOrgUnit, request), grpc.StatusCode.INVALID_ARGUMENT, field=field)
    household = org_pb2.CreateOrgUnitRequest(
        parent_path=JINSHENG, slug="b1", kind=org_pb2.ORG_UNIT_KIND_BUILDING, display_name="1栋"
    )
    await gov.admin(gov.org.CreateOrgUnit, household)
    no_area = org_pb2.CreateOrgUnitRequest(
        parent_path=f"{JINSHENG}/b1", slug="h1", kind=org_pb2.ORG_UNIT_KIND_HOUSEHOLD, display_name="101"
    )
    await expect_error(
        gov.admin(gov.org.CreateOrgUnit, no_area), grpc.StatusCode.INVALID_ARGUMENT, field="exclusive_area_dm2"
    )
    children_token = (await gov.admin(gov.org.ListOrgUnits, org_pb2.ListOrgUnitsRequest(
        parent_path=DISTRICT, page_size=1))).next_page_token
    for request, field in [
        (org_pb2.ListOrgUnitsRequest(parent_path=DISTRICT, page_size=-1), "page_size"),
        (org_pb2.ListOrgUnitsRequest(parent_path=DISTRICT, page_token="@@@"), "page_token"),
        (org_pb2.ListOrgUnitsRequest(parent_path=""), "parent_path"),
        (org_pb2.ListOrgUnitsRequest(parent_path=DISTRICT, down_to_kind=org_pb2.ORG_UNIT_KIND_HOUSEHOLD),
         "down_to_kind"),
        (org_pb2.ListOrgUnitsRequest(parent_path=DISTRICT, down_to_kind=org_pb2.ORG_UNIT_KIND_COMMUNITY,
                                     page_token=children_token), "page_token"),  # another list's token
    ]:
        await expect_error(gov.admin(gov.org.ListOrgUnits, request), grpc.StatusCode.INVALID_ARGUMENT, field=field)


async def test_same_request_id_returns_the_first_answer_and_a_different_request_is_refused(gov: Governance) -> None:
    await build_chongzhou(gov)
    request_id = rid()
    request = org_pb2.CreateOrgUnitRequest(
        parent_path=HUAIYUAN,
        slug="newcomm",
        kind=org_pb2.ORG_UNIT_KIND_COMMUNITY,
        display_name="新社区",
        request_id=request_id,
    )
    first = await gov.admin(gov.org.CreateOrgUnit, request)
    second = await gov.admin(gov.org.CreateOrgUnit, request)
    assert first == second
    other = org_pb2.CreateOrgUnitRequest(
        parent_path=HUAIYUAN,
        slug="othercomm",
        kind=org_pb2.ORG_UNIT_KIND_COMMUNITY,
        display_name="别的",
        request_id=request_id,
    )
    await expect_error(
        gov.admin(gov.org.CreateOrgUnit, other),
        grpc.StatusCode.ALREADY_EXISTS,
        field="request_id",
        reason="REQUEST_ID_REUSED",
    )


async def test_a_street_officer_reaches_only_their_street(gov: Governance) -> None:
    await build_chongzhou(gov)
    yangma = gov.caller("street_officer", YANGMA)
    # Own street: read and add.
    await yangma(gov.org.GetOrgUnit, org_pb2.GetOrgUnitRequest(path=JINSHENG))
    await yangma(
        gov.org.CreateOrgUnit,
        org_pb2.CreateOrgUnitRequest(
            parent_path=YANGMA, slug="newcomm", kind=org_pb2.ORG_UNIT_KIND_COMMUNITY, display_name="新社区"
        ),
    )
    # Another street: neither read nor change.
    for call in [
        yangma(gov.org.GetOrgUnit, org_pb2.GetOrgUnitRequest(path=JIANGNANTING)),
        yangma(gov.org.ListOrgUnits, org_pb2.ListOrgUnitsRequest(parent_path=HUAIYUAN)),
        yangma(
            gov.org.CreateOrgUnit,
            org_pb2.CreateOrgUnitRequest(
                parent_path=HUAIYUAN, slug="intruder", kind=org_pb2.ORG_UNIT_KIND_COMMUNITY, display_name="x"
            ),
        ),
        yangma(gov.org.ListOrgUnits, org_pb2.ListOrgUnitsRequest(parent_path=DISTRICT)),
        yangma(gov.org.ListOrgUnits, org_pb2.ListOrgUnitsRequest(parent_path=DISTRICT,
                                                                 down_to_kind=org_pb2.ORG_UNIT_KIND_COMMUNITY)),
    ]:
        await expect_error(call, grpc.StatusCode.PERMISSION_DENIED, reason="OUT_OF_SCOPE")
    resident = gov.caller("resident", JINSHENG)
    await expect_error(
        resident(
            gov.org.CreateOrgUnit,
            org_pb2.CreateOrgUnitRequest(
                parent_path=JINSHENG, slug="b9", kind=org_pb2.ORG_UNIT_KIND_BUILDING, display_name="9栋"
            ),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        reason="ROLE_NOT_ALLOWED",
    )
    await expect_error(gov.org.GetOrgUnit(org_pb2.GetOrgUnitRequest(path=JINSHENG)), grpc.StatusCode.UNAUTHENTICATED)


async def test_simultaneous_creates_of_one_path_make_one_unit_and_one_event(gov: Governance) -> None:
    import asyncio

    await build_chongzhou(gov)
    results = await asyncio.gather(
        *[
            gov.admin(
                gov.org.CreateOrgUnit,
                org_pb2.CreateOrgUnitRequest(
                    parent_path=HUAIYUAN,
                    slug="twin",
                    kind=org_pb2.ORG_UNIT_KIND_COMMUNITY,
                    display_name="双",
                    request_id=rid(),
                ),
            )
            for _ in range(4)
        ],
        return_exceptions=True,
    )
    created = [r for r in results if isinstance(r, org_pb2.CreateOrgUnitResponse)]
    assert len(created) == 1
    assert all(r.code() == grpc.StatusCode.ALREADY_EXISTS for r in results if isinstance(r, grpc.aio.AioRpcError))

    async def settled() -> bool:
        return len(await governance_events(gov)) == 9

    await wait_until(settled, what="9 org_unit.created events")
    assert sum(e.org_scope == f"{HUAIYUAN}/twin" for e in await governance_events(gov)) == 1


async def test_every_service_refuses_calls_without_credentials(gov: Governance) -> None:
    from linli.governance.v1 import account_pb2, bodies_pb2, disclosure_pb2, project_pb2, vote_pb2

    calls = [
        gov.rollout.SummarizeRollout(rollout_pb2.SummarizeRolloutRequest(path=CITY)),
        gov.account.GetBalances(account_pb2.GetBalancesRequest(compound_path=JINSHENG)),
        gov.votes.GetVote(vote_pb2.GetVoteRequest(name="compounds/a/votes/b")),
        gov.disclosures.VerifyDisclosureChain(disclosure_pb2.VerifyDisclosureChainRequest(compound_path=JINSHENG)),
        gov.bodies.GetOwnersCommittee(bodies_pb2.GetOwnersCommitteeRequest(compound_path=JINSHENG)),
        gov.projects.ListProjects(project_pb2.ListProjectsRequest(compound_path=JINSHENG)),
    ]
    for call in calls:
        await expect_error(call, grpc.StatusCode.UNAUTHENTICATED)


async def test_a_rename_close_and_reopen_each_raise_the_revision_and_are_announced_whole(gov: Governance) -> None:
    await build_chongzhou(gov)
    community = f"{YANGMA}/chongjianglu"
    renamed = (await gov.admin(gov.org.UpdateOrgUnit, org_pb2.UpdateOrgUnitRequest(
        org_unit=org_pb2.OrgUnit(path=community, display_name="崇江路社区（新）", display_name_en="Chongjianglu"),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name", "display_name_en"]),
        request_id=rid()))).org_unit
    assert (renamed.display_name, renamed.display_name_en, renamed.revision) == ("崇江路社区（新）", "Chongjianglu", 2)
    # The same names again change nothing: no new revision, no event.
    same = (await gov.admin(gov.org.UpdateOrgUnit, org_pb2.UpdateOrgUnitRequest(
        org_unit=org_pb2.OrgUnit(path=community, display_name="崇江路社区（新）"),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name"])))).org_unit
    assert same.revision == 2
    closed = (await gov.admin(gov.org.CloseOrgUnit, org_pb2.CloseOrgUnitRequest(
        path=community, reason="并入定江桥社区 merged", request_id=rid()))).org_unit
    assert (closed.closed, closed.revision, closed.status_reason) == (True, 3, "并入定江桥社区 merged")
    assert closed.HasField("close_time")
    # Nothing new below a closed unit; closing twice is said plainly.
    await expect_error(gov.admin(gov.org.CreateOrgUnit, org_pb2.CreateOrgUnitRequest(
        parent_path=community, slug="late", kind=org_pb2.ORG_UNIT_KIND_COMPOUND, display_name="迟到小区",
        compound_type=org_pb2.COMPOUND_TYPE_COMMERCIAL)), grpc.StatusCode.FAILED_PRECONDITION, reason="ORG_UNIT_CLOSED")
    await expect_error(gov.admin(gov.org.CloseOrgUnit, org_pb2.CloseOrgUnitRequest(path=community, reason="again")),
                       grpc.StatusCode.FAILED_PRECONDITION, reason="ORG_UNIT_CLOSED")
    reopened = (await gov.admin(gov.org.ReopenOrgUnit, org_pb2.ReopenOrgUnitRequest(
        path=community, reason="撤销合并 the merger was called off"))).org_unit
    assert (reopened.closed, reopened.revision) == (False, 4) and not reopened.HasField("close_time")

    async def updates() -> list[events_pb2.OrgUnitUpdated]:
        found = []
        for e in await governance_events(gov):
            if e.subject == "governance.org_unit.updated":
                p = events_pb2.OrgUnitUpdated()
                assert e.payload.Unpack(p)
                found.append(p)
        return found

    announced = await wait_until(lambda: updates_when(updates, 3), what="three org_unit.updated events")
    assert [(u.revision, u.name, u.closed, list(u.changed_fields)) for u in announced] == [
        (2, "崇江路社区（新）", False, ["name", "name_en"]),
        (3, "崇江路社区（新）", True, ["closed"]),
        (4, "崇江路社区（新）", False, ["closed"]),
    ]
    assert {(u.path, u.parent_path, u.kind) for u in announced} == {
        (community, YANGMA, events_pb2.ORG_UNIT_KIND_COMMUNITY)}


async def updates_when(read: Any, count: int) -> Any:
    found = await read()
    return found if len(found) >= count else None


async def test_changing_a_unit_is_refused_with_reasons(gov: Governance) -> None:
    await build_chongzhou(gov)
    community = f"{YANGMA}/chongjianglu"
    # A unit is managed from above: its own worker may not close it, its street officer may. (A
    # grant within the unit's parent makes it a matter of role, as `authorize` answers everywhere.)
    worker = gov.caller("community_worker", community)
    await expect_error(worker(gov.org.CloseOrgUnit, org_pb2.CloseOrgUnitRequest(path=community, reason="x")),
                       grpc.StatusCode.PERMISSION_DENIED, reason="ROLE_NOT_ALLOWED")
    officer = gov.caller("street_officer", YANGMA)
    await officer(gov.org.CloseOrgUnit, org_pb2.CloseOrgUnitRequest(path=community, reason="merged"))
    await expect_error(officer(gov.org.CloseOrgUnit, org_pb2.CloseOrgUnitRequest(path=YANGMA, reason="x")),
                       grpc.StatusCode.PERMISSION_DENIED, reason="ROLE_NOT_ALLOWED")
    elsewhere = gov.caller("street_officer", "chengdu/jinjiang/chenglonglu")
    await expect_error(elsewhere(gov.org.CloseOrgUnit, org_pb2.CloseOrgUnitRequest(path=community, reason="x")),
                       grpc.StatusCode.PERMISSION_DENIED, reason="OUT_OF_SCOPE")
    resident = gov.caller("resident", YANGMA)
    await expect_error(resident(gov.org.ReopenOrgUnit, org_pb2.ReopenOrgUnitRequest(path=community, reason="x")),
                       grpc.StatusCode.PERMISSION_DENIED, reason="ROLE_NOT_ALLOWED")
    for request, field in [
        (org_pb2.UpdateOrgUnitRequest(org_unit=org_pb2.OrgUnit(path=JINSHENG, display_name="x")), "update_mask"),
        (org_pb2.UpdateOrgUnitRequest(org_unit=org_pb2.OrgUnit(path=JINSHENG, parent_path=HUAIYUAN),
                                      update_mask=field_mask_pb2.FieldMask(paths=["parent_path"])), "update_mask"),
        (org_pb2.UpdateOrgUnitRequest(org_unit=org_pb2.OrgUnit(path=JINSHENG, display_name=" "),
                                      update_mask=field_mask_pb2.FieldMask(paths=["display_name"])),
         "org_unit.display_name"),
    ]:
        await expect_error(gov.admin(gov.org.UpdateOrgUnit, request), grpc.StatusCode.INVALID_ARGUMENT, field=field)
    await expect_error(gov.admin(gov.org.CloseOrgUnit, org_pb2.CloseOrgUnitRequest(path=JINSHENG, reason=" ")),
                       grpc.StatusCode.INVALID_ARGUMENT, field="reason")
    await expect_error(gov.admin(gov.org.ReopenOrgUnit, org_pb2.ReopenOrgUnitRequest(path=JINSHENG, reason="x")),
                       grpc.StatusCode.FAILED_PRECONDITION, reason="ORG_UNIT_OPEN")
    await expect_error(gov.admin(gov.org.CloseOrgUnit, org_pb2.CloseOrgUnitRequest(path=f"{YANGMA}/nowhere",
                                                                                   reason="x")),
                       grpc.StatusCode.NOT_FOUND, reason="ORG_UNIT_NOT_FOUND")
