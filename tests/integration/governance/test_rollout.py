"""Trust-model rollout: stage order, the acceptance checklist, the city roll-up, and the
Chongzhou demo data (14 adopted + 3 importing) seeded idempotently."""

from __future__ import annotations

import grpc
import sqlalchemy as sa
from linli_governance.demo import SHENGJIAN, seed_demo_data
from linli_governance.rollout import CHECKLIST
from linli_governance.tables import ORG_UNITS

from linli.governance.v1 import bodies_pb2, disclosure_pb2, org_pb2, rollout_pb2, vote_pb2

from .conftest import Governance
from .helpers import JIANGNANTING, JINSHENG, YANGMA, build_chongzhou, expect_error, rid

S = rollout_pb2.RolloutStage


async def advance(gov: Governance, stage: int, compound: str = JINSHENG, **extra: object) -> rollout_pb2.Rollout:
    officer = gov.caller("street_officer", YANGMA)
    reply = await officer(
        gov.rollout.AdvanceRollout,
        rollout_pb2.AdvanceRolloutRequest(compound_path=compound, stage=stage, request_id=rid(), **extra),
    )  # type: ignore[arg-type]
    return reply.rollout


async def test_stages_advance_in_order_and_adoption_needs_the_checklist(gov: Governance) -> None:
    await build_chongzhou(gov)
    officer = gov.caller("street_officer", YANGMA)
    surveyed = await advance(
        gov,
        S.ROLLOUT_STAGE_SURVEYED,
        date="2026-03-01",
        note="居民痛点调查 pain-point survey",
        working_group=["街道党工委 王", "社区 李"],
    )
    assert list(surveyed.working_group) == ["街道党工委 王", "社区 李"]
    await expect_error(
        advance(gov, S.ROLLOUT_STAGE_IMPORTING), grpc.StatusCode.FAILED_PRECONDITION, reason="ROLLOUT_OUT_OF_ORDER"
    )
    await advance(gov, S.ROLLOUT_STAGE_PILOT)
    await advance(gov, S.ROLLOUT_STAGE_IMPORTING)
    await expect_error(
        advance(gov, S.ROLLOUT_STAGE_ADOPTED), grpc.StatusCode.FAILED_PRECONDITION, reason="CHECKLIST_INCOMPLETE"
    )
    for key, _ in CHECKLIST:
        await officer(
            gov.rollout.UpdateRolloutChecklistItem,
            rollout_pb2.UpdateRolloutChecklistItemRequest(compound_path=JINSHENG, key=key, done=True),
        )
    adopted = await advance(gov, S.ROLLOUT_STAGE_ADOPTED)
    assert [step.stage for step in adopted.history] == [
        S.ROLLOUT_STAGE_NOT_STARTED,
        S.ROLLOUT_STAGE_SURVEYED,
        S.ROLLOUT_STAGE_PILOT,
        S.ROLLOUT_STAGE_IMPORTING,
        S.ROLLOUT_STAGE_ADOPTED,
    ]
    assert adopted.history[1].date == "2026-03-01"
    exited = await advance(gov, S.ROLLOUT_STAGE_EXITED)
    assert exited.stage == S.ROLLOUT_STAGE_EXITED
    await expect_error(advance(gov, S.ROLLOUT_STAGE_SURVEYED), grpc.StatusCode.FAILED_PRECONDITION)


async def test_rollout_bad_input_and_scope(gov: Governance) -> None:
    await build_chongzhou(gov)
    officer = gov.caller("street_officer", YANGMA)
    for stage, extra, field in [
        (S.ROLLOUT_STAGE_UNSPECIFIED, {}, "stage"),
        (S.ROLLOUT_STAGE_NOT_STARTED, {}, "stage"),
        (S.ROLLOUT_STAGE_SURVEYED, {"date": "2026-13-01"}, "date"),
        (S.ROLLOUT_STAGE_SURVEYED, {"compound_path": ""}, "compound_path"),
    ]:
        fields = {"compound_path": JINSHENG, "stage": stage, **extra}
        await expect_error(
            officer(gov.rollout.AdvanceRollout, rollout_pb2.AdvanceRolloutRequest(**fields)),  # type: ignore[arg-type]
            grpc.StatusCode.INVALID_ARGUMENT,
            field=field,
        )
    await expect_error(
        officer(
            gov.rollout.UpdateRolloutChecklistItem,
            rollout_pb2.UpdateRolloutChecklistItemRequest(compound_path=JINSHENG, key="nonsense", done=True),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        field="key",
    )
    await expect_error(
        advance(gov, S.ROLLOUT_STAGE_SURVEYED, compound=JIANGNANTING),
        grpc.StatusCode.PERMISSION_DENIED,
        reason="OUT_OF_SCOPE",
    )
    await expect_error(
        officer(gov.rollout.GetRollout, rollout_pb2.GetRolloutRequest(compound_path=JIANGNANTING)),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    await expect_error(
        officer(gov.rollout.SummarizeRollout, rollout_pb2.SummarizeRolloutRequest(path="chengdu/chongzhou")),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    resident = gov.caller("resident", JINSHENG)
    await expect_error(
        resident(
            gov.rollout.AdvanceRollout,
            rollout_pb2.AdvanceRolloutRequest(compound_path=JINSHENG, stage=S.ROLLOUT_STAGE_SURVEYED),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        reason="ROLE_NOT_ALLOWED",
    )


def counts(group: rollout_pb2.RolloutGroup | rollout_pb2.SummarizeRolloutResponse) -> dict[int, int]:
    items = group.counts if isinstance(group, rollout_pb2.RolloutGroup) else group.totals
    return {c.stage: c.count for c in items}


async def test_chongzhou_demo_rolls_up_to_14_adopted_and_3_importing_and_seeds_once(gov: Governance) -> None:
    await seed_demo_data(gov.app)
    async with gov.app.db.session() as session:
        units_after_first = (
            await (await session.connection()).execute(sa.select(sa.func.count()).select_from(ORG_UNITS))
        ).scalar_one()
    await seed_demo_data(gov.app)  # a restart: nothing is added twice
    async with gov.app.db.session() as session:
        assert (
            await (await session.connection()).execute(sa.select(sa.func.count()).select_from(ORG_UNITS))
        ).scalar_one() == units_after_first

    city = gov.caller("city_operator", "chengdu")
    summary = await city(gov.rollout.SummarizeRollout, rollout_pb2.SummarizeRolloutRequest(path="chengdu/chongzhou"))
    assert summary.headline == "崇州市: 14 adopted, 3 importing"
    assert summary.compound_count == 17
    assert counts(summary) == {S.ROLLOUT_STAGE_ADOPTED: 14, S.ROLLOUT_STAGE_IMPORTING: 3}
    by_type = {g.key: counts(g) for g in summary.by_compound_type}
    assert set(by_type) == {"commercial", "resettlement"}
    assert sum(by_type["resettlement"].values()) > sum(by_type["commercial"].values())  # priority for 安置小区
    by_street = {g.key: counts(g) for g in summary.by_street}
    assert set(by_street) == {
        f"chengdu/chongzhou/{t}" for t in ("huaiyuan", "yangma", "longxing", "sanjiang", "chongyang")
    }
    assert sum(sum(c.values()) for c in by_street.values()) == 17

    for path, name in [
        ("chengdu/chongzhou/huaiyuan/dingjiangqiao/jiangnanting", "江楠庭小区"),
        ("chengdu/chongzhou/yangma/chongjianglu/jinsheng", "金圣小区"),
        ("chengdu/chongzhou/longxing/longxing-community/shengjian", "生建小区"),
        ("chengdu/jinjiang/chenglonglu/fengshu", "枫树社区"),
    ]:
        unit = (await city(gov.org.GetOrgUnit, org_pb2.GetOrgUnitRequest(path=path))).org_unit
        assert unit.display_name == name
    shengjian = await city(
        gov.rollout.GetRollout,
        rollout_pb2.GetRolloutRequest(compound_path="chengdu/chongzhou/longxing/longxing-community/shengjian"),
    )
    assert shengjian.rollout.stage == S.ROLLOUT_STAGE_ADOPTED
    assert shengjian.rollout.compound_type == org_pb2.COMPOUND_TYPE_RESETTLEMENT
    # Shengjian's illustrative books: two sealed months, the surplus share in the maintenance fund,
    # and October's repair of the charging shed paid from the fund under the owners' vote.
    listed = await city(gov.disclosures.ListDisclosures, disclosure_pb2.ListDisclosuresRequest(compound_path=SHENGJIAN))
    assert [d.period for d in listed.disclosures] == ["2026-09", "2026-10"]
    assert all(d.to_maintenance_fund_fen > 0 for d in listed.disclosures)
    september, october = listed.disclosures
    [use] = [m for m in october.fund_movements if m.kind == disclosure_pb2.FUND_MOVEMENT_KIND_USE]
    assert use.amount_fen == -280_000 and "充电棚" in use.memo
    decision = (await city(gov.votes.GetVote, vote_pb2.GetVoteRequest(name=use.owners_decision))).vote
    assert (decision.matter, decision.outcome, decision.amount_fen) == (
        vote_pb2.VOTE_MATTER_USE_MAINTENANCE_FUND,
        vote_pb2.VOTE_OUTCOME_PASSED,
        280_000,
    )
    assert october.maintenance_fund_opening_fen == september.maintenance_fund_balance_fen
    # Two of Shengjian's twelve units are the developer's, unsold: eleven owners vote.
    owners = await city(gov.votes.ListOwners, vote_pb2.ListOwnersRequest(compound_path=SHENGJIAN))
    assert owners.total_owners == 11
    assert [len(o.households) for o in owners.owners if o.owner_id == "developer"] == [2]
    # Jiangnanting forms its first committee: the preparatory group and the candidates are there.
    forming = await city(
        gov.bodies.GetCommitteeFormation,
        bodies_pb2.GetCommitteeFormationRequest(compound_path="chengdu/chongzhou/huaiyuan/dingjiangqiao/jiangnanting"),
    )
    assert forming.formation.stage == bodies_pb2.FORMATION_STAGE_CANDIDATES
    assert len(forming.formation.candidates) == 5
    assert october.maintenance_fund_balance_fen == sum(d.to_maintenance_fund_fen for d in listed.disclosures) - 280_000
    verified = await city(
        gov.disclosures.VerifyDisclosureChain, disclosure_pb2.VerifyDisclosureChainRequest(compound_path=SHENGJIAN)
    )
    assert verified.valid and verified.checked == 2
    yangma = gov.caller("street_officer", YANGMA)
    street = await yangma(gov.rollout.SummarizeRollout, rollout_pb2.SummarizeRolloutRequest(path=YANGMA))
    assert [g.key for g in street.by_street] == [YANGMA]
