"""The POS abuse limits (pos_limits), counted in the service's database so that every replica
sees the same counts: a terminal's calls spread over three replicas are limited as if they
reached one.

A count is one row per key and fixed window (`rd_rate_count`), bumped by a single
`INSERT … ON CONFLICT DO UPDATE … RETURNING count` — atomic on PostgreSQL and SQLite, so two
replicas counting at the same instant get 1 and 2, never 1 and 1. A refused call's bump is
rolled back with its transaction (a refusal does not make the wait longer). Lockouts are rows
of `rd_lockout` until a time. Each check is one short transaction of its own, apart from the
work it guards, so a refusal leaves nothing else behind — except the redeem counts, taken in the
reserve's own transaction for a batch of redeems at once (`count_redeems`).

Keys name what is limited: `resolve:t:{terminal}`, `wrong:t:{terminal}`, `redeem:t:{terminal}`,
`wrong:m:{digest}`, `redeem:m:{digest}` — a member is the digest of (community, volunteer id),
so no volunteer id is stored here. A member's wrong codes are counted *before* the code is
looked at (a `Try`) and handed back when it was right (`right_code`): counting after would let
many terminals guessing at the same instant all pass a count of 9.
"""

from __future__ import annotations

import collections
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_redemption.pos_limits import Limit, PosLimits, lockout_ends, wrong_codes_left
from linli_redemption.tables import LOCKOUTS, RATE_COUNTS
from linli_runtime.clock import Clock
from linli_runtime.db import Database
from linli_runtime.errors import ResourceExhausted, retry_after
from linli_runtime.times import as_utc
from linli_runtime.transactions import run_in_transaction

log = logging.getLogger("linli.redemption.pos_guard")


def member_key(community_path: str, volunteer_id: str) -> str:
    """A member as the limits key it: a digest, not the volunteer id."""
    return hashlib.sha256(f"{community_path}\x1f{volunteer_id}".encode()).hexdigest()[:40]


async def bump(conn: AsyncConnection, key: str, limit: Limit, now: datetime) -> int:
    """Count one call under `key` in `now`'s window; the count so far, this call included."""
    window = limit.window_of(now)
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert(RATE_COUNTS).values(key=key, window_no=window, count=1)
    statement = statement.on_conflict_do_update(index_elements=[RATE_COUNTS.c.key, RATE_COUNTS.c.window_no],
                                                set_={"count": RATE_COUNTS.c.count + 1})
    counted = int((await conn.execute(statement.returning(RATE_COUNTS.c.count))).scalar_one())
    if counted == 1:  # a new window: the key's older windows count for nothing any more
        await conn.execute(RATE_COUNTS.delete().where(RATE_COUNTS.c.key == key, RATE_COUNTS.c.window_no < window))
    return counted


def _bump_many_statement() -> Any:
    """PostgreSQL: INSERT … SELECT FROM unnest(keys, windows, counts) ON CONFLICT add them,
    RETURNING each key's count — every key of a batch counted in one statement, whatever limit
    (window) it counts for (keys unique, in sorted order)."""
    rows = sa.func.unnest(sa.bindparam("keys", type_=postgresql.ARRAY(sa.String)),
                          sa.bindparam("windows", type_=postgresql.ARRAY(sa.BigInteger)),
                          sa.bindparam("ns", type_=postgresql.ARRAY(sa.BigInteger))
                          ).table_valued("key", "window_no", "n").render_derived()
    statement = pg_insert(RATE_COUNTS).from_select(
        ["key", "window_no", "count"], sa.select(rows.c.key, rows.c.window_no, rows.c.n))
    statement = statement.on_conflict_do_update(index_elements=[RATE_COUNTS.c.key, RATE_COUNTS.c.window_no],
                                                set_={"count": RATE_COUNTS.c.count + statement.excluded.count})
    return statement.returning(RATE_COUNTS.c.key, RATE_COUNTS.c.count)


_BUMP_MANY = _bump_many_statement()
_UNBUMP = (RATE_COUNTS.update().where(RATE_COUNTS.c.key == sa.bindparam("k"),
                                      RATE_COUNTS.c.window_no == sa.bindparam("w"))
           .values(count=RATE_COUNTS.c.count - sa.bindparam("n")))
_FORGET_OLD = RATE_COUNTS.delete().where(RATE_COUNTS.c.key.in_(sa.bindparam("keys", expanding=True)),
                                         RATE_COUNTS.c.window_no < sa.bindparam("w"))


async def bump_many(conn: AsyncConnection, counts: Mapping[str, tuple[int, Limit]], now: datetime) -> dict[str, int]:
    """`bump` for many keys at once, each by its own number of calls in its own limit's window:
    each key's count so far, these calls included (one statement on PostgreSQL: the till and the
    member counts of a batch of redeems together — issue 18, a round trip per batch saved)."""
    keys = sorted(counts)  # rows locked in one order by every replica
    windows = {k: counts[k][1].window_of(now) for k in keys}
    if conn.dialect.name == "postgresql":
        result = await conn.execute(_BUMP_MANY, {"keys": keys, "windows": [windows[k] for k in keys],
                                                 "ns": [counts[k][0] for k in keys]})
        counted = {str(k): int(c) for k, c in result}
    else:
        counted = {}
        for key in keys:
            n = counts[key][0]
            statement = sqlite_insert(RATE_COUNTS).values(key=key, window_no=windows[key], count=n)
            statement = statement.on_conflict_do_update(index_elements=[RATE_COUNTS.c.key, RATE_COUNTS.c.window_no],
                                                        set_={"count": RATE_COUNTS.c.count + n})
            counted[key] = int((await conn.execute(statement.returning(RATE_COUNTS.c.count))).scalar_one())
    fresh = [k for k in keys if counted[k] == counts[k][0]]  # new windows: older ones count for nothing any more
    for window in sorted({windows[k] for k in fresh}):
        await conn.execute(_FORGET_OLD, {"keys": [k for k in fresh if windows[k] == window], "w": window})
    return counted


async def unbump(conn: AsyncConnection, counts: Mapping[str, int], limit: Limit, now: datetime) -> None:
    """Take back calls `bump_many` counted (refused ones: a refusal does not make the wait longer)."""
    window = limit.window_of(now)
    taken_back = [{"k": k, "w": window, "n": n} for k, n in sorted(counts.items()) if n]
    if taken_back:
        await conn.execute(_UNBUMP, taken_back)


def wait_if_over(counted: int, limit: Limit, now: datetime) -> dict[str, str] | None:
    """The refusal's retry metadata when the `counted`-th call of the window is one too many."""
    return retry_after((limit.window_end(now) - now).total_seconds()) if limit.exceeded_by(counted) else None


@dataclass(frozen=True)
class Try:
    """A member's code try counted in a window, to hand back if the code was right."""

    key: str
    window_no: int


class PosGuard:
    def __init__(self, db: Database, clock: Clock, limits: PosLimits) -> None:
        self.db, self.clock, self.limits = db, clock, limits

    async def before_code(self, terminal_id: str, member: str | None) -> Try | None:
        """Before a terminal's member code is looked at: refuse a locked-out terminal, then count
        the try for the terminal and, when the code names a card, against its member's wrong
        codes (`member_key`) — the `Try` to hand back with `right_code` if it was right."""
        now = self.clock.now()
        limit = self.limits.wrong_codes_per_member

        async def work(conn: AsyncConnection) -> Try | None:
            until = (await conn.execute(sa.select(LOCKOUTS.c.until).where(
                LOCKOUTS.c.key == f"wrong:t:{terminal_id}"))).scalar_one_or_none()
            if until is not None and as_utc(until) > now:
                raise ResourceExhausted(f"this terminal sent too many wrong member codes and may resolve none until "
                                        f"{as_utc(until):%H:%M:%S} UTC (本终端输错会员码次数过多，已暂停使用)",
                                        reason="TERMINAL_LOCKED_OUT",
                                        metadata=retry_after((as_utc(until) - now).total_seconds()))
            resolves = self.limits.resolves_per_terminal
            wait = wait_if_over(await bump(conn, f"resolve:t:{terminal_id}", resolves, now), resolves, now)
            if wait is not None:
                raise ResourceExhausted("this terminal is resolving member codes too fast; slow down (操作过于频繁)",
                                        reason="TERMINAL_RATE_LIMITED", metadata=wait)
            if member is None:
                return None
            wait = wait_if_over(await bump(conn, f"wrong:m:{member}", limit, now), limit, now)
            if wait is not None:
                raise ResourceExhausted("this member card has had too many wrong codes; the member may try again "
                                        "later (该会员码输错次数过多，请稍后再试)",
                                        reason="MEMBER_CODE_TRIES_EXHAUSTED", metadata=wait)
            return Try(f"wrong:m:{member}", limit.window_of(now))

        return await run_in_transaction(self.db, work)

    async def right_code(self, counted: Try) -> None:
        """Hand back a try whose code was right: a member's count is of wrong codes."""
        async with self.db.transaction() as session:
            conn = await session.connection()
            await conn.execute(RATE_COUNTS.update().where(
                RATE_COUNTS.c.key == counted.key, RATE_COUNTS.c.window_no == counted.window_no,
                RATE_COUNTS.c.count > 0).values(count=RATE_COUNTS.c.count - 1))

    async def wrong_code(self, terminal_id: str) -> int:
        """Count a wrong, expired or unknown code from the terminal, locking it out when that was
        one too many; the wrong codes it may still send in the window."""
        now = self.clock.now()
        limits = self.limits

        async def work(conn: AsyncConnection) -> int:
            key = f"wrong:t:{terminal_id}"
            counted = await bump(conn, key, limits.wrong_codes_per_terminal, now)
            until = lockout_ends(counted, limits, now)
            if until is not None:
                insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
                await conn.execute(insert(LOCKOUTS).values(key=key, until=until).on_conflict_do_update(
                    index_elements=[LOCKOUTS.c.key], set_={"until": until}))
                log.warning("terminal locked out after too many wrong member codes",
                            extra={"terminal_id": terminal_id, "wrong_codes": counted, "until": until.isoformat()})
            return wrong_codes_left(counted, limits)

        return await run_in_transaction(self.db, work)

    async def count_redeems(self, conn: AsyncConnection, asks: Sequence[tuple[str, str]],
                            now: datetime) -> list[ResourceExhausted | None]:
        """Count a batch of new redeems (not retries) for their terminals and members, inside the
        caller's transaction (the reserve's, issue 18): `asks` are (terminal id, member key) in
        arrival order; the refusal of each, or None — as if counted one by one in that order.
        Every key is counted for all its asks at once (its row locked), the asks are then judged
        in order against the counts before the batch, and what the refused ones added is taken
        back."""
        by_till, by_member = self.limits.redeems_per_terminal, self.limits.redeems_per_member
        tills = collections.Counter(f"redeem:t:{t}" for t, _ in asks)
        members = collections.Counter(f"redeem:m:{m}" for _, m in asks)
        counted = await bump_many(conn, {**{k: (n, by_till) for k, n in tills.items()},
                                         **{k: (n, by_member) for k, n in members.items()}}, now)
        till_counts = {k: counted[k] for k in tills}
        member_counts = {k: counted[k] for k in members}
        till_count = {k: till_counts[k] - n for k, n in tills.items()}  # before the batch, then as judged
        member_count = {k: member_counts[k] - n for k, n in members.items()}
        outcomes: list[ResourceExhausted | None] = []
        for terminal_id, member in asks:
            till, key = f"redeem:t:{terminal_id}", f"redeem:m:{member}"
            wait = wait_if_over(till_count[till] + 1, by_till, now)
            if wait is not None:
                outcomes.append(ResourceExhausted("this terminal is redeeming too fast; slow down (操作过于频繁)",
                                                  reason="TERMINAL_RATE_LIMITED", metadata=wait))
                continue
            wait = wait_if_over(member_count[key] + 1, by_member, now)
            if wait is not None:
                outcomes.append(ResourceExhausted(
                    "this member has redeemed as often as allowed for now; try again later "
                    "(该会员兑换过于频繁，请稍后再试)", reason="MEMBER_RATE_LIMITED", metadata=wait))
                continue
            till_count[till] += 1
            member_count[key] += 1
            outcomes.append(None)
        await unbump(conn, {k: till_counts[k] - c for k, c in till_count.items()}, by_till, now)
        await unbump(conn, {k: member_counts[k] - c for k, c in member_count.items()}, by_member, now)
        return outcomes
