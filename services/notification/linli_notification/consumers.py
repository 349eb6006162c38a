"""Events from every service (and our own help-request events) → notices.

Each consumer applies an event once (the runtime's inbox); `notices.notify` adds a unique
(event, recipient, kind) so one event never gives anyone two notices. Recipients are accounts
(inboxes are keyed by the `sub` of people's tokens): events that name a volunteer by the
community's volunteer id are delivered to the account bound to that volunteer
(`volunteer_accounts`, kept from volunteer-points' `points.volunteer.account_bound`).

`identity.grant.granted|revoked` → the community workers who may be on duty (`workers`);
`identity.account.disabled|enabled` → a disabled account is on nobody's duty.
`identity.household_claim.approved|rejected` → the owner who claimed the unit learns the decision.
`points.visit.logged` → the elder's own account (if the elder has one) is asked to confirm the
visit; `points.visit.confirmed|rejected` → the volunteer who logged it learns the points, or why.

`governance.org_unit.created|updated` → the places notification knows (nf_org_unit, see
`linli_runtime.org_units`): help requests, duty shifts and swaps, providers and a community's
settings are accepted only for a known, open place."""

from __future__ import annotations

import json
import logging
from datetime import UTC

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.events.v1 import governance_pb2, identity_pb2, points_pb2, redemption_pb2
from linli.events.v1 import notification_pb2 as ev
from linli.notification.v1 import notification_pb2 as pb
from linli_notification import helpdesk, volunteer_accounts, workers
from linli_notification.community import on_duty_at, settings_of
from linli_notification.notices import notify, subscribers
from linli_notification.tables import HelpRequest, known_org_unit
from linli_runtime import org_units
from linli_runtime.clock import Clock
from linli_runtime.events import ConsumerSpec, Event, PoisonMessage

log = logging.getLogger("linli.notification.consumers")

TIERS = {points_pb2.AWARD_TIER_GOLD: ("金牌", "Gold"), points_pb2.AWARD_TIER_SILVER: ("银牌", "Silver"),
         points_pb2.AWARD_TIER_BRONZE: ("铜牌", "Bronze")}
# What a visit was for, as people read it (VisitType; DOMAIN.md: company, cleaning, care).
VISIT_TYPES = {points_pb2.VISIT_TYPE_WARM_SUPPORT: ("暖心帮扶", "help with daily needs"),
               points_pb2.VISIT_TYPE_COMPANIONSHIP: ("亲情陪护", "company"),
               points_pb2.VISIT_TYPE_HOME_CLEANING: ("居家清扫", "cleaning"),
               points_pb2.VISIT_TYPE_HEALTH_CARE: ("健康关怀", "health care"),
               points_pb2.VISIT_TYPE_ERRANDS: ("代购代办", "errands")}
CATEGORY_ZH = {"meal": "送餐", "medical": "就医", "repair": "维修", "companionship": "陪伴", "errand": "跑腿"}

HELP_SUBJECTS = (
    "notification.help_request.assigned", "notification.help_request.escalated",
    "notification.help_request.acknowledged", "notification.help_request.resolved",
    "notification.help_request.suggested",
    "notification.follow_up.due", "notification.thanks.recorded",
)


def yuan(fen: int) -> str:
    return f"{fen / 100:.2f}"


class NoticeConsumers:
    def __init__(self, clock: Clock, *, workers_only: bool = False) -> None:
        self.clock = clock
        self.workers_only = workers_only  # as HelpDesk: the duty worker still holds their grant

    def specs(self) -> list[ConsumerSpec]:
        return [
            ConsumerSpec("notification-points", "POINTS",
                         ["points.award.granted", "points.pairing.lapsed", "points.pairing.reminded",
                          "points.volunteer.account_bound"],
                         self.on_points),
            ConsumerSpec("notification-visits", "POINTS",
                         ["points.visit.logged", "points.visit.confirmed", "points.visit.rejected"], self.on_visit),
            ConsumerSpec("notification-redemption", "REDEMPTION", ["redemption.redemption.committed"],
                         self.on_redemption),
            ConsumerSpec("notification-governance", "GOVERNANCE", ["governance.disclosure.published"],
                         self.on_governance),
            ConsumerSpec("notification-help", "NOTIFICATION", list(HELP_SUBJECTS), self.on_help),
            org_units.consumer("notification-org-units", known_org_unit, self.clock),
            ConsumerSpec("notification-grants", "IDENTITY", ["identity.grant.granted", "identity.grant.revoked"],
                         self.on_grant),
            ConsumerSpec("notification-accounts", "IDENTITY", ["identity.account.disabled", "identity.account.enabled"],
                         self.on_account),
            ConsumerSpec("notification-household-claims", "IDENTITY",
                         ["identity.household_claim.approved", "identity.household_claim.rejected"],
                         self.on_household_claim),
        ]

    async def on_account(self, event: Event, session: AsyncSession) -> None:
        changed = event.payload(identity_pb2.AccountChanged)
        if not changed.account.removeprefix("accounts/"):
            raise PoisonMessage(f"account event {event.id} names no account")
        await workers.learn_standing(await session.connection(), account=changed.account,
                                     disabled=event.event_type == "identity.account.disabled",
                                     changed_at=changed.changed_at.ToDatetime(tzinfo=UTC))

    async def on_household_claim(self, event: Event, session: AsyncSession) -> None:
        decided = event.payload(identity_pb2.HouseholdClaimDecided)
        claimant = decided.account.removeprefix("accounts/")
        if not claimant:
            raise PoisonMessage(f"household claim decision {decided.household_claim!r} names no account")
        await notify(await session.connection(), self.clock.now(), event_id=event.id, recipients=[claimant],
                     kind="household_claim.decided",
                     context=dict(approved=event.event_type == "identity.household_claim.approved",
                                  unit=decided.household_path, register_name=decided.register_name,
                                  reason=decided.reason),
                     subject_resource=decided.household_claim, org_path=decided.household_path)

    async def on_grant(self, event: Event, session: AsyncSession) -> None:
        changed = event.payload(identity_pb2.GrantChanged)
        await workers.learn(await session.connection(), grant=changed.grant, account=changed.account,
                            role=changed.role, scope=changed.scope,
                            granted=event.event_type == "identity.grant.granted")

    async def on_points(self, event: Event, session: AsyncSession) -> None:
        conn = await session.connection()
        now = self.clock.now()
        if event.event_type == "points.volunteer.account_bound":
            bound = event.payload(points_pb2.VolunteerAccountBound)
            await volunteer_accounts.bind(conn, bound.community_path, bound.volunteer_id, bound.account_id)
        elif event.event_type == "points.award.granted":
            award = event.payload(points_pb2.YearEndAwardGranted)
            tier, tier_en = TIERS.get(award.tier, ("", ""))
            winner = await volunteer_accounts.accounts_of(conn, award.community_path, [award.volunteer_id])
            await notify(conn, now, event_id=event.id, recipients=winner, kind="award.granted",
                         context=dict(name=award.volunteer_name or award.volunteer_id, year=award.year, tier=tier,
                                      tier_en=tier_en, rank=award.rank, points=award.points_earned),
                         subject_resource=award.award, org_path=award.community_path)
        elif event.event_type == "points.pairing.lapsed":
            lapse = event.payload(points_pb2.PairingLapsed)
            worker = await self._worker_for(conn, lapse.community_path)
            if not worker:
                log.warning("pairing lapse with nobody on duty and no head", extra={"pairing": lapse.pairing})
                return
            await notify(conn, now, event_id=event.id, recipients=[worker], kind="pairing.lapsed",
                         context=dict(family=lapse.family_name or lapse.family_id,
                                      elder=lapse.elder_name or lapse.elder_id, month=lapse.month,
                                      done=lapse.visits_done, required=lapse.visits_required),
                         subject_resource=lapse.pairing, org_path=lapse.community_path)
        elif event.event_type == "points.pairing.reminded":
            # Mid-month: the family's volunteers (the worker on duty when the family has none).
            due = event.payload(points_pb2.PairingReminded)
            recipients = (await volunteer_accounts.accounts_of(conn, due.community_path, due.volunteer_ids)
                          or [await self._worker_for(conn, due.community_path)])
            await notify(conn, now, event_id=event.id, recipients=[r for r in recipients if r],
                         kind="pairing.reminded",
                         context=dict(family=due.family_name or due.family_id, elder=due.elder_name or due.elder_id,
                                      month=due.month, done=due.visits_done, required=due.visits_required,
                                      month_ends=due.month_ends),
                         subject_resource=due.pairing, org_path=due.community_path)

    async def on_visit(self, event: Event, session: AsyncSession) -> None:
        conn = await session.connection()
        if event.event_type == "points.visit.logged":
            logged = event.payload(points_pb2.VisitLogged)
            elder = logged.elder_account_id.removeprefix("accounts/")
            if not elder:  # an elder without an account: a community worker confirms the visit
                return
            purpose, purpose_en = VISIT_TYPES.get(logged.visit_type, ("探访", "a visit"))
            await notify(conn, self.clock.now(), event_id=event.id, recipients=[elder], kind="visit.logged",
                         context=dict(volunteer=logged.volunteer_name or logged.volunteer_id,
                                      elder=logged.elder_name or logged.elder_id, day=logged.visit_day,
                                      purpose=purpose, purpose_en=purpose_en, visit_id=logged.visit_id),
                         subject_resource=logged.pairing, org_path=logged.community_path)
            return
        decided = event.payload(points_pb2.VisitDecided)
        visitor = await volunteer_accounts.accounts_of(conn, decided.community_path, [decided.volunteer_id])
        await notify(conn, self.clock.now(), event_id=event.id, recipients=visitor, kind="visit.decided",
                     context=dict(confirmed=event.event_type == "points.visit.confirmed",
                                  elder=decided.elder_name or decided.elder_id, day=decided.visit_day,
                                  points=decided.points_credited, done=decided.visits_this_month,
                                  required=decided.visits_required, month=decided.month, reason=decided.reason),
                     subject_resource=decided.pairing, org_path=decided.community_path)

    async def on_redemption(self, event: Event, session: AsyncSession) -> None:
        conn = await session.connection()
        done = event.payload(redemption_pb2.RedemptionCommitted)
        member = await volunteer_accounts.accounts_of(conn, done.community_path, [done.volunteer_id])
        await notify(conn, self.clock.now(), event_id=event.id, recipients=member,
                     kind="redemption.committed",
                     context=dict(reward=done.reward_name or done.reward_id, quantity=done.quantity,
                                  merchant=done.merchant_name or done.merchant_id, points=done.points,
                                  request_id=done.request_id),
                     subject_resource=done.redemption, org_path=done.community_path)

    async def on_governance(self, event: Event, session: AsyncSession) -> None:
        conn = await session.connection()
        disclosure = event.payload(governance_pb2.DisclosurePublished)
        residents = await subscribers(conn, disclosure.compound_path)
        await notify(conn, self.clock.now(), event_id=event.id, recipients=residents, kind="disclosure.published",
                     context=dict(compound=disclosure.compound_name, period=disclosure.period,
                                  income=yuan(disclosure.income_fen), expense=yuan(disclosure.expense_fen),
                                  to_fund=yuan(disclosure.to_maintenance_fund_fen),
                                  fund_balance=yuan(disclosure.maintenance_fund_balance_fen),
                                  # The compound's chain head, published to its residents: whoever
                                  # keeps it can tell a later deletion or replacement of this disclosure.
                                  seal=disclosure.seal_hash, sequence=disclosure.sequence),
                     subject_resource=disclosure.disclosure, org_path=disclosure.compound_path)

    async def on_help(self, event: Event, session: AsyncSession) -> None:
        conn = await session.connection()
        now = self.clock.now()
        kind = event.envelope.subject
        if kind == "notification.follow_up.due":
            due = event.payload(ev.FollowUpDue)
            row = await self._request(conn, due.help_request)
            await notify(conn, now, event_id=event.id, recipients=[due.assignee_id], kind="follow_up.due",
                         context=dict(on_behalf_of=row.on_behalf_of, day_offset=due.day_offset,
                                      description=row.description),
                         subject_resource=due.follow_up, org_path=due.community_path)
            return
        if kind == "notification.thanks.recorded":
            given = event.payload(ev.ThanksRecorded)
            row = await self._request(conn, given.help_request)
            thanked = await volunteer_accounts.people(conn, given.community_path, given.recipient_ids,
                                                      volunteers=json.loads(row.helper_ids))
            await notify(conn, now, event_id=event.id, recipients=thanked, kind="thanks.recorded",
                         context=dict(giver=getattr(given, "from"), kind=given.kind, text=given.text),
                         subject_resource=given.help_request, org_path=given.community_path)
            return
        changed = event.payload(ev.HelpRequestChanged)
        row = await self._request(conn, changed.help_request)
        context = dict(category=CATEGORY_ZH.get(row.category, row.category), on_behalf_of=row.on_behalf_of,
                       description=row.description, contact=row.contact, resolution=row.resolution,
                       level=changed.escalation_level, urgent=row.urgency >= pb.URGENCY_HIGH,
                       suggestions="、".join(f"{d}（{p}）" if p else d for _, d, p in json.loads(row.suggestions)))
        if kind in ("notification.help_request.acknowledged", "notification.help_request.resolved"):
            # The person who filed it learns that someone is on it, and when it is done: the
            # account that filed it, not `reporter_id`, which the filer may set to anyone.
            template = "help_request." + kind.rsplit(".", 1)[1]
            context["assignee"] = changed.assignee_id
            filer = await helpdesk.filed_by(conn, row.id)
            await notify(conn, now, event_id=event.id, recipients=[filer], kind=template,
                         context=context, subject_resource=changed.help_request, org_path=changed.community_path)
            return
        if kind == "notification.help_request.suggested":
            # Whoever holds the request learns that a provider has opened (urgent ones at once).
            await notify(conn, now, event_id=event.id, recipients=[changed.assignee_id],
                         kind="help_request.suggested", context=context, critical=row.urgency >= pb.URGENCY_HIGH,
                         subject_resource=changed.help_request, org_path=changed.community_path)
            return
        # assigned or escalated: the person now responsible. Escalations and urgent requests
        # cannot wait for the end of someone's quiet hours.
        critical = changed.escalation_level > 0 or row.urgency >= pb.URGENCY_HIGH
        # Routing gives a request straight to the head (level 2) only when nobody is rostered: the
        # head should read that, not that two colleagues ignored it (that is an escalation).
        context["nobody_on_duty"] = kind == "notification.help_request.assigned" and changed.escalation_level == 2
        await notify(conn, now, event_id=event.id, recipients=[changed.assignee_id], kind="help_request.assigned",
                     context=context, critical=critical, subject_resource=changed.help_request,
                     org_path=changed.community_path)

    async def _request(self, conn: AsyncConnection, name: str) -> HelpRequest:
        found = await helpdesk.find(conn, name.rsplit("/", 1)[-1])
        if found is None:
            raise PoisonMessage(f"help request {name!r} is unknown here")
        return found

    async def _worker_for(self, conn: AsyncConnection, community_path: str) -> str:
        settings = await settings_of(conn, community_path)
        duty = await on_duty_at(conn, community_path, self.clock.now(), settings.utc_offset_minutes,
                                workers_only=self.workers_only)
        return duty.worker_id if duty else settings.head_id
