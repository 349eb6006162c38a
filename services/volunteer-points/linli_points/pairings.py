"""Elders living alone, each paired with a volunteer family, and the monthly visiting rule:
every pairing owes its elder `visits_required` visits a month (DOMAIN.md: at least two).

- A visit is logged by a volunteer of the pairing's family and is PENDING until the elder (the
  account bound to the elder's record) or a community worker confirms it — or rejects it with a
  reason. Only a confirmed visit counts toward the month and earns points: the
  `elderly-visits` category's, within its caps, from its funding source, by a ledger transfer
  with the fixed id `visit:{visit_id}` in the confirming transaction (a retried confirmation
  credits once). Deciding is a conditional update from PENDING, so of two concurrent decisions
  one wins and the other answers what was decided. Each new visit publishes
  `points.visit.logged` with the month's confirmed count so far (the notification service asks
  the elder's account to confirm it); the winning decision publishes `points.visit.confirmed`
  or `points.visit.rejected` (the volunteer learns the points, or the reason).
- Compliance: the pairings active in a month (started by its last day) with their visits in
  it, shortest first — what a community worker follows up during the month.
- Reminding a month (from its 15th: care.py decides when) publishes `points.pairing.reminded`
  for each pairing short of its visits so far, to the family's volunteers, once: the reminder
  row's primary key, as below.
- Closing a month (once it has ended) publishes `points.pairing.lapsed` for each pairing that
  fell short, once: the close row's primary key makes a concurrent second close fail and
  retry as a replay of the first. care.py closes each month soon after it ends; CloseMonth
  does the same on demand.
- A visit says what it was for (VisitType: 暖心帮扶, 亲情陪护, 居家清扫, …).

Months are calendar months in Asia/Shanghai (`YYYY-MM`); a visit belongs to the month of its
local time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import IntEnum
from typing import cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.events.v1 import points_pb2 as events
from linli_points import names
from linli_points.activities import within_caps
from linli_points.funding import issuing_account
from linli_points.ledger.accounts import volunteer_account
from linli_points.ledger.model import TransferRequest
from linli_points.ledger.store import Ledger
from linli_points.people import family_members, family_names, volunteer
from linli_points.records import create_once, exists, find
from linli_points.tables import Elder, Family, MonthClose, MonthReminder, Pairing, TaskCategory, Visit
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.events import EventFactory, publish_in
from linli_runtime.models import loaded, loaded_all, table
from linli_runtime.paging import decode_int_token, encode_token, keyset_page, newest_first_page, where_given
from linli_runtime.times import local_day, month_bounds
from linli_runtime.transactions import fingerprint, run_in_transaction

ELDERS, PAIRINGS, VISITS, MONTH_CLOSES = table(Elder), table(Pairing), table(Visit), table(MonthClose)
MONTH_REMINDERS = table(MonthReminder)
DEFAULT_VISITS_REQUIRED = 2  # DOMAIN.md: at least two visits a month per pairing
MAX_VISITS_REQUIRED = 31
# A visit logged from a phone whose clock runs a little fast is still today's visit.
FUTURE_TOLERANCE = timedelta(hours=1)


class VisitType(IntEnum):
    """What a visit was for; numbers match linli.events.v1.VisitType."""

    WARM_SUPPORT = 1  # 暖心帮扶
    COMPANIONSHIP = 2  # 亲情陪护
    HOME_CLEANING = 3  # 居家清扫
    HEALTH_CARE = 4  # 健康关怀
    ERRANDS = 5  # 代购代办
    OTHER = 6


class Confirmation(IntEnum):
    """Who the volunteer says vouched for a visit; numbers match linli.points.v1.VisitConfirmation
    (a visit stores 0 when the volunteer did not say)."""

    ELDER = 1
    PROXY = 2


class VisitState(IntEnum):
    """Numbers match linli.points.v1.VisitState."""

    PENDING = 1
    CONFIRMED = 2
    REJECTED = 3


# The task category whose points a confirmed visit earns (DOMAIN.md: 关爱老人).
VISIT_CATEGORY = "elderly-visits"


def visit_transfer_id(visit_id: str) -> str:
    return f"visit:{visit_id}"


@dataclass(frozen=True)
class VisitFilter:
    state: int = 0  # 0: any
    pairing_id: str = ""
    volunteer_id: str = ""
    elder_id: str = ""


@dataclass(frozen=True)
class Compliance:
    pairing: Pairing
    visits_done: int

    @property
    def short(self) -> bool:
        return self.visits_done < self.pairing.visits_required


@dataclass(frozen=True)
class Reminded:
    pairings_evaluated: int
    pairings_reminded: int
    newly_reminded: bool  # False: reminded before; nothing was published again


@dataclass(frozen=True)
class MonthClosed:
    pairings_evaluated: int
    pairings_lapsed: int
    newly_closed: bool  # False: the month had been closed before; nothing was published again


def visit_month(when: datetime) -> str:
    """The month (`YYYY-MM`, Asia/Shanghai) a visit at `when` counts towards."""
    return f"{local_day(when):%Y-%m}"


class Pairings:
    def __init__(self, db: Database, clock: Clock, make_event: EventFactory, ledger: Ledger) -> None:
        self.db = db
        self.clock = clock
        self.make_event = make_event
        self.ledger = ledger

    async def create_elder(self, path: str, elder_id: str, name: str, account_id: str = "") -> Elder:
        return await run_in_transaction(self.db, lambda conn: create_elder(conn, path, elder_id, name, account_id))

    async def create_pairing(self, path: str, pairing_id: str, *, family_id: str, elder_id: str, start: date,
                             required: int) -> Pairing:
        """Pair a family with an elder from `start`, owing `required` visits a month (0: the default)."""
        return await run_in_transaction(self.db, lambda conn: create_pairing(
            conn, path, pairing_id, family_id=family_id, elder_id=elder_id, start=start,
            required=required or DEFAULT_VISITS_REQUIRED))

    async def list_pairings(self, path: str, *, page_token: str, size: int,
                            family_id: str = "") -> tuple[list[Pairing], dict[str, str], str]:
        """A page of pairings (only `family_id`'s when given) and their elders' names by id."""
        query = where_given(sa.select(PAIRINGS).where(PAIRINGS.c.community_path == path),
                            (PAIRINGS.c.family_id, family_id))
        async with self.db.engine.connect() as conn:
            rows, next_token = await keyset_page(conn, query, PAIRINGS.c.pairing_id, kind="pairings",
                                                 page_token=page_token, size=size)
            found = loaded_all(Pairing, rows)
            elders = await elder_names(conn, path, {p.elder_id for p in found})
        return found, elders, next_token

    async def list_visits(self, path: str, where: VisitFilter, *, page_token: str,
                          size: int) -> tuple[list[tuple[Visit, str]], str]:
        """A page of visits, newest first, each with its elder's id."""
        query = (sa.select(VISITS, PAIRINGS.c.elder_id.label("elder_id"))
                 .join(PAIRINGS, sa.and_(PAIRINGS.c.community_path == VISITS.c.community_path,
                                         PAIRINGS.c.pairing_id == VISITS.c.pairing_id))
                 .where(VISITS.c.community_path == path))
        query = where_given(query, (VISITS.c.state, where.state), (VISITS.c.pairing_id, where.pairing_id),
                            (VISITS.c.volunteer_id, where.volunteer_id), (PAIRINGS.c.elder_id, where.elder_id))
        async with self.db.engine.connect() as conn:
            rows, next_token = await newest_first_page(conn, query, VISITS.c.visit_time, VISITS.c.visit_id,
                                                       kind="visits", page_token=page_token, size=size)
        return [(loaded(Visit, row), str(row.elder_id)) for row in rows], next_token

    async def list_elders(self, path: str, *, page_token: str, size: int,
                          account_id: str = "") -> tuple[list[Elder], str]:
        query = where_given(sa.select(ELDERS).where(ELDERS.c.community_path == path),
                            (ELDERS.c.account_id, account_id))
        async with self.db.engine.connect() as conn:
            rows, next_token = await keyset_page(conn, query, ELDERS.c.elder_id, kind="elders",
                                                 page_token=page_token, size=size)
        return loaded_all(Elder, rows), next_token

    async def elder_of_account(self, path: str, account_id: str) -> Elder | None:
        """The elder of `path` bound to `account_id`, if any (never for "")."""
        if not account_id:
            return None
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(sa.select(ELDERS).where(
                ELDERS.c.community_path == path, ELDERS.c.account_id == account_id))).first()
        return loaded(Elder, row) if row is not None else None

    async def visit_and_elder(self, path: str, visit_id: str) -> tuple[Visit, Elder]:
        """The visit and the elder it was to (NOT_FOUND unless the visit exists)."""
        async with self.db.engine.connect() as conn:
            found = await _visit(conn, path, visit_id)
            pairing = await find(conn, Pairing, community_path=path, pairing_id=found.pairing_id)
            assert pairing is not None, "a pairing is never deleted"
            elder = await find(conn, Elder, community_path=path, elder_id=pairing.elder_id)
            assert elder is not None, "an elder is never deleted"
        return found, elder

    async def decide_visit(self, path: str, visit_id: str, *, confirm: bool, decided_by: str,
                           note: str = "") -> Visit:
        """Confirm (crediting the visit's points) or reject a pending visit; deciding the same way
        again answers the visit as it is, the other way is FAILED_PRECONDITION."""
        wanted = VisitState.CONFIRMED if confirm else VisitState.REJECTED

        def settled(found: Visit) -> Visit:
            if found.state == wanted:
                return found
            raise FailedPrecondition(
                f"visit {visit_id!r} was {VisitState(found.state).name.lower()} already", reason="VISIT_DECIDED",
                metadata={"state": VisitState(found.state).name})

        async def work(conn: AsyncConnection) -> Visit:
            found = await _visit(conn, path, visit_id)
            if found.state != VisitState.PENDING:
                return settled(found)
            now = self.clock.now()
            # Claim the decision first: of concurrent deciders one updates the row, the others
            # (waiting on its lock) find it decided and answer what was decided.
            claimed = await conn.execute(VISITS.update().where(
                VISITS.c.community_path == path, VISITS.c.visit_id == visit_id,
                VISITS.c.state == int(VisitState.PENDING)).values(
                state=int(wanted), decided_by=decided_by[:64], decided_at=now, decision_note=note))
            if not claimed.rowcount:
                return settled(await _visit(conn, path, visit_id))
            if confirm:
                points, transfer_id = await self._credit(conn, path, found, now)
                await conn.execute(VISITS.update().where(
                    VISITS.c.community_path == path, VISITS.c.visit_id == visit_id).values(
                    points_credited=points, transfer_id=transfer_id))
            decided = await _visit(conn, path, visit_id)
            await self._announce_decision(conn, path, decided)
            return decided

        return await run_in_transaction(self.db, work)

    async def _announce_decision(self, conn: AsyncConnection, path: str, visit: Visit) -> None:
        """`points.visit.confirmed|rejected`, in the deciding transaction: the volunteer learns
        what became of the visit they logged (only the claiming decider gets here: once)."""
        pairing = await find(conn, Pairing, community_path=path, pairing_id=visit.pairing_id)
        assert pairing is not None, "a pairing is never deleted"
        elder = await find(conn, Elder, community_path=path, elder_id=pairing.elder_id)
        assert elder is not None, "an elder is never deleted"
        confirmed = visit.state == VisitState.CONFIRMED
        await publish_in(conn, self.make_event(
            "points.visit.confirmed" if confirmed else "points.visit.rejected", events.VisitDecided(
                pairing=names.pairing_name(path, pairing.pairing_id), community_path=path,
                family_id=pairing.family_id, elder_id=pairing.elder_id,
                elder_name=elder.display_name,
                volunteer_id=visit.volunteer_id, visit_id=visit.visit_id, month=visit.month,
                visit_day=local_day(visit.visit_time).isoformat(),
                visit_type=cast(events.VisitType.ValueType, int(visit.visit_type)),
                visits_this_month=await confirmed_visits(conn, path, pairing.pairing_id, visit.month),
                visits_required=pairing.visits_required, points_credited=visit.points_credited,
                reason="" if confirmed else visit.decision_note, decided_by=visit.decided_by), path))

    async def _credit(self, conn: AsyncConnection, path: str, visit: Visit, now: datetime) -> tuple[int, str]:
        """The confirmed visit's points (the `elderly-visits` category's, within its caps) to the
        visitor: (points, transfer id), (0, "") without such a category or under a spent cap."""
        category = await find(conn, TaskCategory, community_path=path, slug=VISIT_CATEGORY)
        if category is None:
            return 0, ""
        points = await within_caps(conn, path, visit.volunteer_id, category, category.default_points, now)
        if points <= 0:
            return 0, ""
        transfer_id = visit_transfer_id(visit.visit_id)
        await self.ledger.transfer_in(conn, TransferRequest(
            community_path=path, transfer_id=transfer_id,
            debit_account=await issuing_account(conn, path, category.funding_source),
            credit_account=volunteer_account(visit.volunteer_id), amount=points, reason=category.slug,
            source=names.pairing_name(path, visit.pairing_id)))
        return points, transfer_id

    async def log_visit(self, path: str, visit_id: str, *, pairing_id: str, volunteer_id: str, when: datetime,
                        confirmation: Confirmation | None, note: str, visit_type: VisitType) -> Visit:
        """Record a visit by a volunteer of the pairing's family (a repeat answers the first)."""
        if when > self.clock.now() + FUTURE_TOLERANCE:
            raise InvalidArgument.field("visit.visit_time", "must not be in the future")
        month = visit_month(when)

        async def work(conn: AsyncConnection) -> Visit:
            pairing = await find(conn, Pairing, community_path=path, pairing_id=pairing_id)
            if pairing is None:
                raise NotFound(f"pairing {pairing_id!r} does not exist in {path}", reason="PAIRING_NOT_FOUND")
            who = await volunteer(conn, path, volunteer_id)
            if who.family_id != pairing.family_id:
                raise FailedPrecondition(f"volunteer {volunteer_id!r} is not in family {pairing.family_id!r}",
                                         reason="NOT_IN_FAMILY")
            visit, created = await create_once(
                conn, Visit, {"community_path": path, "visit_id": visit_id},
                {"pairing_id": pairing_id, "month": month, "visit_time": when, "volunteer_id": volunteer_id,
                 "confirmation": int(confirmation or 0), "note": note, "visit_type": int(visit_type),
                 "state": int(VisitState.PENDING)},
                fingerprint(pairing_id, when.isoformat(), volunteer_id, int(confirmation or 0), note, int(visit_type)),
                "visit")
            if created:
                elder = await find(conn, Elder, community_path=path, elder_id=pairing.elder_id)
                assert elder is not None, "an elder is never deleted"
                await publish_in(conn, self.make_event("points.visit.logged", events.VisitLogged(
                    pairing=names.pairing_name(path, pairing_id), community_path=path, family_id=pairing.family_id,
                    elder_id=pairing.elder_id, volunteer_id=volunteer_id, visit_id=visit_id, month=month,
                    visits_this_month=await confirmed_visits(conn, path, pairing_id, month),
                    visit_type=cast(events.VisitType.ValueType, int(visit_type)),
                    elder_account_id=elder.account_id, elder_name=elder.display_name,
                    volunteer_name=who.display_name, visit_day=local_day(when).isoformat()), path))
            return visit

        return await run_in_transaction(self.db, work)

    async def compliance_page(self, path: str, month: str, *, only_short: bool, page_token: str,
                              size: int) -> tuple[list[Compliance], str]:
        """A page of `compliance(month)` (only the pairings short of visits with `only_short`)."""
        offset = decode_int_token("compliance", page_token)
        async with self.db.engine.connect() as conn:
            found = await compliance(conn, path, month)
        if only_short:
            found = [c for c in found if c.short]
        more = offset + size < len(found)
        return found[offset:offset + size], encode_token("compliance", offset + size) if more else ""

    async def remind(self, path: str, month: str) -> Reminded:
        """Remind every family whose pairing is short of its visits in `month` so far; reminding
        the same month again answers the first and publishes nothing."""

        async def work(conn: AsyncConnection) -> Reminded:
            done = await find(conn, MonthReminder, community_path=path, month=month)
            if done is not None:
                return Reminded(done.evaluated, done.reminded, newly_reminded=False)
            found = await compliance(conn, path, month)
            short = [c for c in found if c.short]
            families = await family_names(conn, path, {c.pairing.family_id for c in short})
            elders = await elder_names(conn, path, {c.pairing.elder_id for c in short})
            members = await family_members(conn, path, {c.pairing.family_id for c in short})
            _, end = month_bounds(month)
            last_day = local_day(end - timedelta(microseconds=1))
            for c in short:
                p = c.pairing
                await publish_in(conn, self.make_event("points.pairing.reminded", events.PairingReminded(
                    pairing=names.pairing_name(path, p.pairing_id), community_path=path, family_id=p.family_id,
                    family_name=families.get(p.family_id, ""), elder_id=p.elder_id,
                    elder_name=elders.get(p.elder_id, ""), month=month, visits_done=c.visits_done,
                    visits_required=p.visits_required, volunteer_ids=members.get(p.family_id, []),
                    month_ends=last_day.isoformat()), path))
            # The row's primary key makes a concurrent second reminder fail and retry as a replay.
            await conn.execute(MONTH_REMINDERS.insert().values(community_path=path, month=month, evaluated=len(found),
                                                               reminded=len(short), sent_at=self.clock.now()))
            return Reminded(len(found), len(short), newly_reminded=True)

        return await run_in_transaction(self.db, work)

    async def communities(self) -> list[str]:
        """The communities that have pairings."""
        async with self.db.engine.connect() as conn:
            return list((await conn.execute(
                sa.select(PAIRINGS.c.community_path).distinct().order_by(PAIRINGS.c.community_path))).scalars())

    async def close_month(self, path: str, month: str) -> MonthClosed:
        """Publish a lapse for every pairing short of visits in `month`, once the month is over;
        closing it again answers the first close and publishes nothing."""
        if self.clock.now() < month_bounds(month)[1]:
            raise FailedPrecondition(f"{month} has not ended yet", reason="MONTH_NOT_OVER")

        async def work(conn: AsyncConnection) -> MonthClosed:
            done = await find(conn, MonthClose, community_path=path, month=month)
            if done is not None:
                return MonthClosed(done.evaluated, done.lapsed, newly_closed=False)
            found = await compliance(conn, path, month)
            short = [c for c in found if c.short]
            families = await family_names(conn, path, {c.pairing.family_id for c in short})
            elders = await elder_names(conn, path, {c.pairing.elder_id for c in short})
            for c in short:
                p = c.pairing
                await publish_in(conn, self.make_event("points.pairing.lapsed", events.PairingLapsed(
                    pairing=names.pairing_name(path, p.pairing_id), community_path=path, family_id=p.family_id,
                    family_name=families.get(p.family_id, ""), elder_id=p.elder_id,
                    elder_name=elders.get(p.elder_id, ""), month=month, visits_done=c.visits_done,
                    visits_required=p.visits_required), path))
            # The close row's primary key makes a concurrent second close fail and retry as a replay.
            await conn.execute(MONTH_CLOSES.insert().values(community_path=path, month=month, evaluated=len(found),
                                                            lapsed=len(short), closed_at=self.clock.now()))
            return MonthClosed(len(found), len(short), newly_closed=True)

        return await run_in_transaction(self.db, work)


# -- inside a transaction -------------------------------------------------------------------------

async def create_elder(conn: AsyncConnection, path: str, elder_id: str, name: str, account_id: str = "") -> Elder:
    created, _ = await create_once(conn, Elder, {"community_path": path, "elder_id": elder_id},
                                   {"display_name": name, "account_id": account_id},
                                   fingerprint(name, *([account_id] if account_id else [])), "elder")
    return created


async def _visit(conn: AsyncConnection, path: str, visit_id: str) -> Visit:
    found = await find(conn, Visit, community_path=path, visit_id=visit_id)
    if found is None:
        raise NotFound(f"visit {visit_id!r} does not exist in {path}", reason="VISIT_NOT_FOUND")
    return found


async def create_pairing(conn: AsyncConnection, path: str, pairing_id: str, *, family_id: str, elder_id: str,
                         start: date, required: int) -> Pairing:
    if not await exists(conn, Family, community_path=path, family_id=family_id):
        raise NotFound(f"family {family_id!r} does not exist in {path}", reason="FAMILY_NOT_FOUND")
    if not await exists(conn, Elder, community_path=path, elder_id=elder_id):
        raise NotFound(f"elder {elder_id!r} does not exist in {path}", reason="ELDER_NOT_FOUND")
    created, _ = await create_once(
        conn, Pairing, {"community_path": path, "pairing_id": pairing_id},
        {"family_id": family_id, "elder_id": elder_id, "start_date": start, "visits_required": required},
        fingerprint(family_id, elder_id, start, required), "pairing")
    return created


async def confirmed_visits(conn: AsyncConnection, path: str, pairing_id: str, month: str) -> int:
    """The pairing's confirmed visits in `month`."""
    return int((await conn.execute(sa.select(sa.func.count()).select_from(VISITS).where(
        VISITS.c.community_path == path, VISITS.c.pairing_id == pairing_id,
        VISITS.c.month == month, VISITS.c.state == int(VisitState.CONFIRMED)))).scalar_one())


async def compliance(conn: AsyncConnection, path: str, month: str) -> list[Compliance]:
    """Every pairing active in `month` with its visits in it, shortest first."""
    _, end = month_bounds(month)
    last_day = local_day(end - timedelta(microseconds=1))
    done = (
        sa.select(sa.func.count()).where(VISITS.c.community_path == PAIRINGS.c.community_path,
                                         VISITS.c.pairing_id == PAIRINGS.c.pairing_id, VISITS.c.month == month,
                                         VISITS.c.state == int(VisitState.CONFIRMED))
        .scalar_subquery()
    )
    rows = (await conn.execute(
        sa.select(PAIRINGS, done.label("done"))
        .where(PAIRINGS.c.community_path == path, PAIRINGS.c.start_date <= last_day)
        .order_by(done, PAIRINGS.c.pairing_id)
    )).all()
    return [Compliance(loaded(Pairing, row), int(row.done)) for row in rows]


async def elder_names(conn: AsyncConnection, path: str, elder_ids: set[str]) -> dict[str, str]:
    if not elder_ids:
        return {}
    rows = await conn.execute(sa.select(ELDERS.c.elder_id, ELDERS.c.display_name).where(
        ELDERS.c.community_path == path, ELDERS.c.elder_id.in_(elder_ids)))
    return {elder_id: name for elder_id, name in rows}
