"""Household claims: an owner asks to be bound to a unit; someone who may bind them decides.

An owner signed in on the portal names a unit of a compound (its household path) and the name
that stands on the owners' register for it. The claim waits (`pending`) until someone who may
give `resident` at that unit — by `authority.py`: the owners' committee of the compound, a
community worker, a street officer, … — compares it with the register (the portal and the CLI
show governance's entry beside it) and decides:

| decision | what happens, in one transaction |
|---|---|
| approve | the claim becomes `approved`; `Grants.grant` gives the claimant `resident` at the unit |
|         | (its authority checks, its audit row and its `identity.grant.granted` event, as any grant) |
| reject  | the claim becomes `rejected` with the reason, which the claimant sees on their page |

Either decision publishes `identity.household_claim.approved|rejected` in the same transaction,
from which notification tells the claimant (their inbox, and their channels).

A claim is decided once: the decision is a conditional update (`state = 'pending'`), so two
committee members deciding at the same moment cannot both win. Nobody decides their own claim
(SAME_ACCOUNT): being on the committee does not make one's own unit one's own to grant.

Flooding is bounded: one pending claim per account and unit (a partial unique index keeps that
true under races too), at most `MAX_PENDING` pending claims per account and `MAX_PER_DAY` claims
a day. Identity does not know the org tree below compounds (the owners' register is
governance's), so a claim for a unit that does not exist is decided like any other — the
register shows no such unit, and the decider rejects it.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.events.v1 import identity_pb2 as events_pb2
from linli_identity import authority
from linli_identity.accounts import Accounts, MakeEvent
from linli_identity.grants import Actor, Grants
from linli_identity.names import account_name, claim_name, grant_name, new_claim_id
from linli_identity.tables import HouseholdClaim, RoleGrant
from linli_runtime import fields, paging
from linli_runtime.auth import Grant, Role, normalize_path, path_within
from linli_runtime.clock import Clock
from linli_runtime.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
)
from linli_runtime.events.outbox import publish_in
from linli_runtime.models import table, typed, typed_all
from linli_runtime.times import to_timestamp

CLAIMS = table(HouseholdClaim)
GRANTS = table(RoleGrant)
PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
MAX_PENDING = 3  # pending claims per account: an owner of several units files them a few at a time
MAX_PER_DAY = 10  # claims per account in 24 hours, whatever became of them


def may_decide(grants: tuple[Grant, ...], household_path: str) -> bool:
    """True when these grants may give `resident` at the unit (so may decide a claim to it)."""
    return authority.authority_for(grants, Role.RESIDENT, household_path) is not None


def may_review_within(grants: tuple[Grant, ...], scope: str) -> bool:
    """True when these grants may decide claims somewhere at or below `scope` — a grant whose role
    may give `resident` and whose scope contains `scope` (the committee: its compound or a unit
    in it; a worker: the community or anything in it)."""
    return any(Role.RESIDENT in authority.MAY_GRANT.get(Role(g.role), frozenset()) and path_within(scope, g.scope)
               for g in grants if g.role in {r.value for r in authority.MAY_GRANT})


class HouseholdClaims:
    def __init__(self, clock: Clock, accounts: Accounts, grants: Grants, make_event: MakeEvent) -> None:
        self.clock = clock
        self.accounts = accounts
        self.grants = grants
        self.make_event = make_event

    async def create(self, session: AsyncSession, *, actor: Actor, household_path: str, register_name: str,
                     note: str) -> HouseholdClaim:
        """The actor's claim to a unit (a household path: city/…/compound/building/unit)."""
        path = normalize_path(household_path)
        if authority.level(path) != authority.HOUSEHOLD:
            raise InvalidArgument.field("household_claim.household_path",
                                        "must name one unit: city/district/street/community/compound/building/unit "
                                        f"(7 segments), got '{path or '/'}' (请选择具体的房屋)")
        name = fields.display_name("household_claim.register_name", register_name)
        why = fields.text("household_claim.note", note, 500)
        if any(g.role == Role.RESIDENT.value and g.scope == path for g in actor.grants):
            raise AlreadyExists(f"you are bound to '{path}' already (您已绑定该房屋)", reason="ALREADY_BOUND")
        now = self.clock.now()
        conn = await session.connection()
        mine = (await conn.execute(sa.select(CLAIMS.c.state, CLAIMS.c.household_path, CLAIMS.c.id).where(
            CLAIMS.c.account_id == actor.account_id, CLAIMS.c.created_at > now - timedelta(days=1)))).all()
        pending = (await conn.execute(sa.select(CLAIMS.c.id, CLAIMS.c.household_path).where(
            CLAIMS.c.account_id == actor.account_id, CLAIMS.c.state == PENDING))).all()
        same = next((r for r in pending if r.household_path == path), None)
        if same is not None:
            raise AlreadyExists(f"your claim to '{path}' is waiting for the committee already ({claim_name(same.id)}; "
                                "该房屋的申请正在审核中)", reason="CLAIM_PENDING")
        if len(pending) >= MAX_PENDING or len(mine) >= MAX_PER_DAY:
            raise ResourceExhausted(
                f"you have {len(pending)} claims waiting and filed {len(mine)} today; at most {MAX_PENDING} may wait "
                f"and {MAX_PER_DAY} be filed a day — wait for the committee's answer (待审核的申请过多，请等待审核)",
                reason="TOO_MANY_CLAIMS")
        claim = HouseholdClaim(id=new_claim_id(), account_id=actor.account_id, household_path=path,
                               register_name=name, note=why, state=PENDING, created_at=now)
        # A concurrent duplicate fails here on the pending index; the request-id layer
        # (`idempotency.once`) then answers as the call that won, or asks for a retry.
        result = await conn.execute(CLAIMS.insert().values(**claim.model_dump(exclude={"seq"})))
        claim.seq = int(result.inserted_primary_key[0]) if result.inserted_primary_key else None
        return claim

    async def get(self, session: AsyncSession, claim_id: str) -> HouseholdClaim:
        conn = await session.connection()
        row = (await conn.execute(sa.select(CLAIMS).where(CLAIMS.c.id == claim_id))).first()
        if row is None:
            raise NotFound(f"no household claim {claim_name(claim_id)}", reason="CLAIM_NOT_FOUND")
        return typed(HouseholdClaim, row)

    async def visible(self, session: AsyncSession, actor: Actor, claim_id: str) -> HouseholdClaim:
        """The claim, to its claimant or someone who may decide it; NOT_FOUND to anyone else (a
        claim of another compound is as unknown as one nobody filed)."""
        claim = await self.get(session, claim_id)
        if claim.account_id != actor.account_id and not may_decide(actor.grants, claim.household_path):
            raise NotFound(f"no household claim {claim_name(claim_id)}", reason="CLAIM_NOT_FOUND")
        return claim

    def _check_decider(self, actor: Actor, claim: HouseholdClaim) -> None:
        if claim.account_id == actor.account_id:
            raise PermissionDenied("nobody decides their own claim: another committee member or the community worker "
                                   "decides it (不能审核自己的申请)", reason="SAME_ACCOUNT")
        if not may_decide(actor.grants, claim.household_path):
            raise PermissionDenied(f"you may not bind owners to '{claim.household_path}': it needs the owners' "
                                   "committee of its compound or a community worker there", reason="NO_AUTHORITY")
        if claim.state != PENDING:
            raise FailedPrecondition(f"{claim_name(claim.id)} was {claim.state} already by "
                                     f"accounts/{claim.decided_by} (该申请已处理)", reason="CLAIM_DECIDED")

    async def _decide(self, session: AsyncSession, claim: HouseholdClaim, *, state: str, by: str, reason: str,
                      grant_id: str | None) -> HouseholdClaim:
        now = self.clock.now()
        conn = await session.connection()
        done = await conn.execute(CLAIMS.update().where(CLAIMS.c.id == claim.id, CLAIMS.c.state == PENDING).values(
            state=state, decided_at=now, decided_by=by, decision_reason=reason, grant_id=grant_id))
        if done.rowcount != 1:
            raise FailedPrecondition(f"{claim_name(claim.id)} was decided already (该申请已处理)",
                                     reason="CLAIM_DECIDED")
        decided = events_pb2.HouseholdClaimDecided(
            household_claim=claim_name(claim.id), account=account_name(claim.account_id),
            household_path=claim.household_path, register_name=claim.register_name,
            decided_by=account_name(by), reason=reason, decided_at=to_timestamp(now))
        await publish_in(session, self.make_event(f"identity.household_claim.{state}", decided, claim.household_path))
        return claim.model_copy(update={"state": state, "decided_at": now, "decided_by": by,
                                        "decision_reason": reason, "grant_id": grant_id})

    async def approve(self, session: AsyncSession, *, actor: Actor, claim: HouseholdClaim,
                      reason: str) -> HouseholdClaim:
        """Approve and bind: the claim decided and the `resident` grant given, together."""
        self._check_decider(actor, claim)
        why = fields.text("reason", reason, 300) or "核对业主名册无误 checked against the owners' register"
        conn = await session.connection()
        held = (await conn.execute(sa.select(GRANTS.c.id).where(
            GRANTS.c.account_id == claim.account_id, GRANTS.c.role == Role.RESIDENT.value,
            GRANTS.c.scope == claim.household_path, GRANTS.c.revoked_at.is_(None)))).first()
        decided = await self._decide(session, claim, state=APPROVED, by=actor.account_id, reason=why,
                                     grant_id=held.id if held else None)
        if held is not None:  # bound meanwhile (e.g. by a grant): the claim is settled by it
            return decided
        claimant = await self.accounts.get(session, claim.account_id)
        given = await self.grants.grant(session, actor=actor, account=claimant, role=Role.RESIDENT.value,
                                        scope=claim.household_path,
                                        reason=f"{claim_name(claim.id)}: {why}"[:500])
        await conn.execute(CLAIMS.update().where(CLAIMS.c.id == claim.id).values(grant_id=given.id))
        return decided.model_copy(update={"grant_id": given.id})

    async def reject(self, session: AsyncSession, *, actor: Actor, claim: HouseholdClaim,
                     reason: str) -> HouseholdClaim:
        why = fields.text("reason", reason, 300, required=True)
        self._check_decider(actor, claim)
        return await self._decide(session, claim, state=REJECTED, by=actor.account_id, reason=why, grant_id=None)

    async def list(self, session: AsyncSession, *, account_id: str = "", scope: str | None = None,
                   state: str = "", page_size: int = 0, page_token: str = "") -> tuple[list[HouseholdClaim], str]:
        """One account's claims, or every claim for units at or below `scope`; oldest first."""
        query = paging.where_given(sa.select(CLAIMS), (CLAIMS.c.account_id, account_id), (CLAIMS.c.state, state))
        if scope:
            query = query.where(sa.or_(CLAIMS.c.household_path == scope,
                                       CLAIMS.c.household_path.startswith(scope + "/", autoescape=True)))
        conn = await session.connection()
        rows, token = await paging.keyset_page(conn, query, CLAIMS.c.seq, kind=f"claims:{account_id}:{scope}:{state}",
                                               page_token=page_token, size=paging.page_size(page_size))
        return typed_all(HouseholdClaim, rows), token


def grant_of(claim: HouseholdClaim) -> str:
    return grant_name(claim.account_id, claim.grant_id) if claim.grant_id else ""
