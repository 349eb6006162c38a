"""Year-end "Red Maple Guardian" awards: once a year has ended, a community closes it and its
best volunteers by points earned (rankings.py) are given gold, silver and bronze.

The rule says how many ranks each tier takes — as counts (default: rank 1 gold, the next 2
silver, the next 3 bronze) or as shares of the volunteers ranked, rounded up. Ties share a rank,
and a tie across a tier's boundary goes to the better tier. A close is written once: the close
row first (a concurrent close of the same year fails on its key and retries as a replay), then
the awards and one `points.award.granted` event each. Closing again with the same rule answers
the awards as they stand; another rule is refused, since the awards have been announced.

A close records who closed it and in whose name the certificates are given. Each award's
certificate (certificates.py) is drawn in a worker process on first request and kept, so the
same PDF comes back every time; the material reward is recorded once when handed over: what,
to whom, by whom, when.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeAlias

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from linli.events.v1 import points_pb2 as events
from linli_points import names
from linli_points.certificates import CertificateText, draw
from linli_points.certificates import filename as certificate_filename
from linli_points.ledger import queries
from linli_points.people import VOLUNTEERS
from linli_points.rankings import Period, Ranked, rankings
from linli_points.records import exists, find
from linli_points.tables import WORKER, Award, AwardCertificate, YearClose
from linli_points.workers import Workers
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from linli_runtime.events import EventFactory, publish_in
from linli_runtime.models import loaded_all, table
from linli_runtime.paging import decode_int_token, encode_token
from linli_runtime.times import as_utc, local_day, year_bounds
from linli_runtime.transactions import run_in_transaction

AWARDS, YEAR_CLOSES, CERTIFICATES = table(Award), table(YearClose), table(AwardCertificate)
# A handover entered from a phone whose clock runs a little fast is still now.
FUTURE_TOLERANCE = timedelta(hours=1)
FIRST_YEAR, LAST_YEAR = 2000, 2200
MAX_TIER_COUNT = 1000


# Tiers as linli.events.v1.AwardTier numbers: what the award rows store and the events carry.
Tier: TypeAlias = events.AwardTier.ValueType
TIERS: tuple[Tier, ...] = (events.AWARD_TIER_GOLD, events.AWARD_TIER_SILVER, events.AWARD_TIER_BRONZE)
TIER_NAMES: dict[int, str] = {events.AWARD_TIER_GOLD: "gold", events.AWARD_TIER_SILVER: "silver",
                              events.AWARD_TIER_BRONZE: "bronze"}


@dataclass(frozen=True)
class Rule:
    """How many ranks each tier takes: given as counts, or as percentages of the ranked."""

    kind: str  # "count" | "percent"
    numbers: tuple[int, int, int]

    def counts(self, ranked: int) -> tuple[int, int, int]:
        if self.kind == "count":
            return self.numbers
        gold, silver, bronze = (math.ceil(p * ranked / 100) for p in self.numbers)
        return gold, silver, bronze


DEFAULT_COUNTS = (1, 2, 3)  # ranks given gold, silver, bronze


def rule_of(counts: tuple[int, int, int], percents: tuple[int, int, int]) -> Rule:
    """The rule a close asks for: shares when any is given, else counts (the default when none)."""
    if any(percents):
        return Rule("percent", percents)
    return Rule("count", counts if any(counts) else DEFAULT_COUNTS)


def assign_tiers(ranked: list[Ranked], rule: tuple[int, int, int]) -> list[tuple[Ranked, Tier]]:
    """Gold for ranks ≤ gold, silver for ranks ≤ gold + silver, bronze ≤ gold + silver + bronze.
    Shared ranks carry ties across a boundary into the better tier."""
    limits = (rule[0], rule[0] + rule[1], rule[0] + rule[1] + rule[2])
    granted = []
    for entry in ranked:
        for tier, limit in zip(TIERS, limits, strict=True):
            if entry.rank <= limit:
                granted.append((entry, tier))
                break
    return granted


def awards_csv(awards: list[Award]) -> bytes:
    """The awards as a CSV file Excel opens as UTF-8 (it needs the byte-order mark)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["rank", "tier", "volunteer_id", "display_name", "points_earned"])
    for award in awards:
        writer.writerow([award.rank, TIER_NAMES[award.tier], award.volunteer_id, award.display_name,
                         award.points_earned])
    return ("\ufeff" + out.getvalue()).encode()


def export_filename(path: str, year: int) -> str:
    return f"{path.rsplit('/', 1)[-1]}-awards-{year}.csv"


@dataclass(frozen=True)
class Certificate:
    filename: str
    pdf: bytes
    sha256: str


@dataclass(frozen=True)
class Handover:
    """A material reward given (checked by the caller)."""

    item: str
    received_by: str
    handed_over_by: str
    when: datetime | None  # None: now


class Awards:
    def __init__(self, db: Database, clock: Clock, make_event: EventFactory | None, workers: Workers | None = None,
                 certificate_font: str = "") -> None:
        self.db = db
        self.clock = clock
        self.make_event = make_event  # None: no events (the demo's starting state is not news)
        self.workers = workers
        self.certificate_font = certificate_font

    async def close_year(self, path: str, year: int, rule: Rule, *, closed_by: str,
                         issuer_name: str = "") -> tuple[list[Award], YearClose, bool]:
        """Close `year` under `rule` (once it has ended): its awards, the close, and whether this
        call closed it."""
        return await run_in_transaction(self.db, lambda conn: self.close_in(
            conn, path, year, rule, closed_by=closed_by, issuer_name=issuer_name))

    async def close_in(self, conn: AsyncConnection, path: str, year: int, rule: Rule, *, closed_by: str,
                       issuer_name: str = "") -> tuple[list[Award], YearClose, bool]:
        """`close_year` inside the caller's transaction."""
        period = year_bounds(year)
        self._ended(year, period)
        closed = await find(conn, YearClose, community_path=path, year=year)
        if closed is None:
            await self._close(conn, path, year, period, rule, closed_by, issuer_name)
        elif (refusal := _other_close(closed, rule, issuer_name)) is not None:
            raise refusal
        close = await find(conn, YearClose, community_path=path, year=year)
        assert close is not None, "closed in this transaction or before"
        return await _awards(conn, path, year), close, closed is None

    def _ended(self, year: int, period: Period) -> None:
        if self.clock.now() < period[1]:
            raise FailedPrecondition(f"{year} has not ended yet", reason="YEAR_NOT_OVER")

    async def close_many(self, paths: list[str], year: int, rule: Rule, *, closed_by: str,
                         issuer_name: str = "") -> list[Closed | AlreadyExists]:
        """`close_year` of many communities in one transaction, set by set: one statement
        reads their earlier closes, one sums every volunteer's points of the year in all of
        them, one names the winners, then the closes, the awards and their events are each
        written in one statement. A community closed before answers as a replay, or is refused
        alone (another rule). Its answer is the close and how many awards it has."""
        period = year_bounds(year)
        self._ended(year, period)
        return await run_in_transaction(self.db, lambda conn: self._close_many(
            conn, paths, year, period, rule, closed_by, issuer_name))

    async def _close_many(self, conn: AsyncConnection, paths: list[str], year: int, period: Period, rule: Rule,
                          closed_by: str, issuer_name: str) -> list[Closed | AlreadyExists]:
        before = {c.community_path: c for c in loaded_all(YearClose, (await conn.execute(
            sa.select(YEAR_CLOSES).where(YEAR_CLOSES.c.year == year, YEAR_CLOSES.c.community_path.in_(paths)))).all())}
        fresh = [p for p in paths if p not in before]
        now = self.clock.now()
        closes = {p: YearClose(community_path=p, year=year, gold_count=rule.numbers[0], silver_count=rule.numbers[1],
                               bronze_count=rule.numbers[2], rule_kind=rule.kind, closed_at=now,
                               closed_by=closed_by[:WORKER], issuer_name=issuer_name) for p in fresh}
        granted: dict[str, list[tuple[Ranked, Tier]]] = {}
        if fresh:
            # The close rows first, as in `_close`: a concurrent close of one of them fails this
            # transaction on its key, and the retry answers that one as a replay.
            await conn.execute(YEAR_CLOSES.insert(), [c.model_dump() for c in closes.values()])
            limit = {"percent": sum(rule.numbers)} if rule.kind == "percent" else {"ranks": sum(rule.numbers)}
            best = await queries.top_earners_in(conn, fresh, period, **limit)
            for path in fresh:
                count, top = best.get(path, (0, []))
                # Listed as rankings lists them: by rank, ties by volunteer id.
                ranked = [Ranked(t.rank, t.volunteer_id, "", t.points_earned)
                          for t in sorted(top, key=lambda t: (t.rank, t.volunteer_id))]
                granted[path] = assign_tiers(ranked, rule.counts(count))
            await self._grant(conn, year, granted)
        counts: dict[str, int] = {}
        if before:
            counts = {path: int(n) for path, n in await conn.execute(
                sa.select(AWARDS.c.community_path, sa.func.count()).where(
                    AWARDS.c.year == year, AWARDS.c.community_path.in_(list(before)))
                .group_by(AWARDS.c.community_path))}
        results: list[Closed | AlreadyExists] = []
        for path in paths:
            if path in closes:
                results.append(Closed(closes[path], True, len(granted[path])))
            elif (refusal := _other_close(before[path], rule, issuer_name)) is not None:
                results.append(refusal)
            else:
                results.append(Closed(before[path], False, counts.get(path, 0)))
        return results

    async def _grant(self, conn: AsyncConnection, year: int, granted: dict[str, list[tuple[Ranked, Tier]]]) -> None:
        """The awards of many communities and their events, each in one statement; the winners'
        names read in one (a close names only those it awards)."""
        winners = [(path, r.volunteer_id) for path, awarded in granted.items() for r, _ in awarded]
        if not winners:
            return
        rows = await conn.execute(sa.select(VOLUNTEERS.c.community_path, VOLUNTEERS.c.volunteer_id,
                                            VOLUNTEERS.c.display_name).where(
            sa.tuple_(VOLUNTEERS.c.community_path, VOLUNTEERS.c.volunteer_id).in_(winners)))
        names_of = {(p, v): name for p, v, name in rows}
        awards = [{"community_path": path, "year": year, "volunteer_id": r.volunteer_id,
                   "display_name": names_of.get((path, r.volunteer_id), ""), "tier": tier, "rank": r.rank,
                   "points_earned": r.points_earned} for path, awarded in granted.items() for r, tier in awarded]
        await conn.execute(AWARDS.insert(), awards)
        if self.make_event is None:
            return
        make = self.make_event
        await publish_in(conn, *(make("points.award.granted", events.YearEndAwardGranted(
            award=names.award_name(a["community_path"], year, a["volunteer_id"]), community_path=a["community_path"],
            year=year, volunteer_id=a["volunteer_id"], volunteer_name=a["display_name"], tier=a["tier"],
            rank=a["rank"], points_earned=a["points_earned"]), a["community_path"]) for a in awards))

    async def _close(self, conn: AsyncConnection, path: str, year: int, period: Period, rule: Rule, closed_by: str,
                     issuer_name: str) -> None:
        # The close row first: a concurrent close of the same year fails on its key and retries
        # as a replay, so awards and events are written once.
        await conn.execute(YEAR_CLOSES.insert().values(community_path=path, year=year, gold_count=rule.numbers[0],
                                                       silver_count=rule.numbers[1], bronze_count=rule.numbers[2],
                                                       rule_kind=rule.kind, closed_at=self.clock.now(),
                                                       closed_by=closed_by[:WORKER], issuer_name=issuer_name))
        ranked = await rankings(conn, path, period)
        granted = assign_tiers(ranked, rule.counts(len(ranked)))
        if granted:
            await conn.execute(AWARDS.insert(), [
                {"community_path": path, "year": year, "volunteer_id": r.volunteer_id, "display_name": r.display_name,
                 "tier": tier, "rank": r.rank, "points_earned": r.points_earned} for r, tier in granted])
        if self.make_event is None:
            return
        for r, tier in granted:
            await publish_in(conn, self.make_event("points.award.granted", events.YearEndAwardGranted(
                award=names.award_name(path, year, r.volunteer_id), community_path=path, year=year,
                volunteer_id=r.volunteer_id, volunteer_name=r.display_name, tier=tier, rank=r.rank,
                points_earned=r.points_earned), path))

    async def list_page(self, path: str, year: int, *, page_token: str,
                        size: int) -> tuple[list[Award], str, YearClose | None]:
        """The year's awards by rank, then volunteer id, and the year's close (None before it)."""
        offset = decode_int_token("awards", page_token)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(_by_rank(path, year).offset(offset).limit(size + 1))).all()
            close = await find(conn, YearClose, community_path=path, year=year)
        more = len(rows) > size
        return loaded_all(Award, rows[:size]), encode_token("awards", offset + size) if more else "", close

    async def certificate(self, path: str, year: int, volunteer_id: str) -> Certificate:
        """An award's certificate: the one drawn before, or drawn now (in a worker process) and
        kept, so every request gets the same bytes."""
        async with self.db.engine.connect() as conn:
            award, close = await _award_and_close(conn, path, year, volunteer_id)
            stored = await find(conn, AwardCertificate, community_path=path, year=year, volunteer_id=volunteer_id)
        text = CertificateText(
            community_path=path, year=year, volunteer_id=volunteer_id, volunteer_name=award.display_name,
            tier=award.tier, rank=award.rank, points_earned=award.points_earned, issuer=close.issuer_name,
            issued_on=local_day(close.closed_at))
        if stored is None:
            assert self.workers is not None, "the service's Awards draws certificates"
            pdf = await self.workers.run(draw, text, self.certificate_font)

            async def keep(conn: AsyncConnection) -> AwardCertificate:
                # Two first requests at once draw twice; the first kept is the one every request gets.
                dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
                await conn.execute(dialect.insert(CERTIFICATES).values(
                    community_path=path, year=year, volunteer_id=volunteer_id, pdf=pdf,
                    sha256=hashlib.sha256(pdf).hexdigest(), created_at=self.clock.now()).on_conflict_do_nothing())
                kept = await find(conn, AwardCertificate, community_path=path, year=year, volunteer_id=volunteer_id)
                assert kept is not None
                return kept

            stored = await run_in_transaction(self.db, keep)
        return Certificate(certificate_filename(text), stored.pdf, stored.sha256)

    async def hand_over(self, path: str, year: int, volunteer_id: str, given: Handover) -> Award:
        """Record the award's material reward as handed over (once; a repeat with the same item
        and recipient answers the record)."""
        now = self.clock.now()
        when = given.when or now

        async def work(conn: AsyncConnection) -> Award:
            award, close = await _award_and_close(conn, path, year, volunteer_id)
            if award.reward_handed_over_at is not None:
                if (award.reward_item, award.reward_received_by) == (given.item, given.received_by):
                    return award
                raise AlreadyExists(
                    f"{volunteer_id}'s {year} reward was handed over on {local_day(award.reward_handed_over_at)} "
                    f"({award.reward_item!r} to {award.reward_received_by!r}); it is recorded once",
                    reason="REWARD_ALREADY_HANDED_OVER")
            if when > now + FUTURE_TOLERANCE or when < as_utc(close.closed_at):
                raise InvalidArgument.field("handover_time", "must lie between the year's close and now")
            await conn.execute(AWARDS.update().where(*_award_key(path, year, volunteer_id)).values(
                reward_item=given.item, reward_received_by=given.received_by,
                reward_handed_over_by=given.handed_over_by[:WORKER], reward_handed_over_at=when))
            updated, _ = await _award_and_close(conn, path, year, volunteer_id)
            return updated

        return await run_in_transaction(self.db, work)

    async def export(self, path: str, year: int) -> list[Award]:
        """Every award of a closed year, by rank (FAILED_PRECONDITION before the close)."""
        async with self.db.engine.connect() as conn:
            if not await exists(conn, YearClose, community_path=path, year=year):
                raise FailedPrecondition(f"{year} is not closed yet; close it first", reason="YEAR_NOT_CLOSED")
            return await _awards(conn, path, year)


@dataclass(frozen=True)
class Closed:
    """A community's closed year in a `close_many`: the close, whether this call made it, and
    how many awards it has."""

    close: YearClose
    newly_closed: bool
    award_count: int


def _other_close(closed: YearClose, rule: Rule, issuer_name: str) -> AlreadyExists | None:
    """The refusal of a close asked again with another rule or issuer (its awards have been
    announced), or None for the same close asked again."""
    if Rule(closed.rule_kind, (closed.gold_count, closed.silver_count, closed.bronze_count)) != rule:
        return AlreadyExists(
            f"{closed.year} was closed with another rule ({closed.rule_kind}: gold {closed.gold_count}, silver "
            f"{closed.silver_count}, bronze {closed.bronze_count}); its awards stand",
            reason="YEAR_CLOSED_WITH_OTHER_RULE")
    if issuer_name and issuer_name != closed.issuer_name:
        return AlreadyExists(f"{closed.year} was closed with the certificates given in the name of "
                             f"{closed.issuer_name or closed.community_path!r}; its awards stand",
                             reason="YEAR_CLOSED_WITH_OTHER_RULE")
    return None


def _award_key(path: str, year: int, volunteer_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    return AWARDS.c.community_path == path, AWARDS.c.year == year, AWARDS.c.volunteer_id == volunteer_id


async def _award_and_close(conn: AsyncConnection, path: str, year: int, volunteer_id: str) -> tuple[Award, YearClose]:
    """The volunteer's award of a closed year, with the close; NOT_FOUND / FAILED_PRECONDITION."""
    close = await find(conn, YearClose, community_path=path, year=year)
    if close is None:
        raise FailedPrecondition(f"{year} is not closed yet; close it first", reason="YEAR_NOT_CLOSED")
    award = await find(conn, Award, community_path=path, year=year, volunteer_id=volunteer_id)
    if award is None:
        raise NotFound(f"volunteer {volunteer_id!r} has no award for {year} in {path}", reason="AWARD_NOT_FOUND")
    return award, close


def _by_rank(path: str, year: int) -> sa.Select[Any]:
    return (sa.select(AWARDS).where(AWARDS.c.community_path == path, AWARDS.c.year == year)
            .order_by(AWARDS.c.rank, AWARDS.c.volunteer_id))


async def _awards(conn: AsyncConnection, path: str, year: int) -> list[Award]:
    return loaded_all(Award, (await conn.execute(_by_rank(path, year))).all())
