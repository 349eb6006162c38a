"""Which account a community's volunteer is: notices about a volunteer go to that account.

Events name volunteers as their community does (`v-001`), and a volunteer id is unique only
within its community: Chongzhou's `v-001` and Fengshu's `v-001` are two people. Inboxes are
keyed by account (the `sub` of a person's tokens, global), so a notice addressed to a volunteer
is delivered to the account volunteer-points bound to that volunteer — kept here from its
`points.volunteer.account_bound` events (`bind`). A volunteer bound to no account has no inbox:
the notice is not given (and logged), never filed under the bare volunteer id, where a
same-named person elsewhere could read it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_notification.tables import VolunteerAccount
from linli_runtime.models import table

log = logging.getLogger("linli.notification.volunteers")

VOLUNTEER_ACCOUNTS = table(VolunteerAccount)


async def bind(conn: AsyncConnection, path: str, volunteer_id: str, account_id: str) -> None:
    """Record that `volunteer_id` of community `path` is `account_id` ("" unbinds)."""
    key = (VOLUNTEER_ACCOUNTS.c.community_path == path, VOLUNTEER_ACCOUNTS.c.volunteer_id == volunteer_id)
    if not account_id:
        await conn.execute(VOLUNTEER_ACCOUNTS.delete().where(*key))
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(dialect.insert(VOLUNTEER_ACCOUNTS).values(
        community_path=path, volunteer_id=volunteer_id, account_id=account_id).on_conflict_do_update(
        index_elements=["community_path", "volunteer_id"], set_={"account_id": account_id}))


async def accounts_of(conn: AsyncConnection, path: str, volunteer_ids: Iterable[str]) -> list[str]:
    """The accounts of these volunteers of `path`, in their order; unbound ones are left out."""
    wanted = [v for v in dict.fromkeys(volunteer_ids) if v]
    if not wanted:
        return []
    rows = await conn.execute(sa.select(VOLUNTEER_ACCOUNTS.c.volunteer_id, VOLUNTEER_ACCOUNTS.c.account_id).where(
        VOLUNTEER_ACCOUNTS.c.community_path == path, VOLUNTEER_ACCOUNTS.c.volunteer_id.in_(wanted)))
    bound = {volunteer: account for volunteer, account in rows}
    missing = [v for v in wanted if v not in bound]
    if missing:
        log.info("volunteers with no account get no notice", extra={"community": path, "volunteers": missing})
    return [bound[v] for v in wanted if v in bound]


async def people(conn: AsyncConnection, path: str, ids: Iterable[str], volunteers: Iterable[str]) -> list[str]:
    """Recipients named by id, some of them volunteers of `path` (thanks go to the assignee, an
    account, and the helpers, volunteers): a bound volunteer becomes their account, one of
    `volunteers` bound to nobody is left out, any other id is taken as an account."""
    wanted = [i for i in dict.fromkeys(ids) if i]
    known = set(volunteers)
    rows = await conn.execute(sa.select(VOLUNTEER_ACCOUNTS.c.volunteer_id, VOLUNTEER_ACCOUNTS.c.account_id).where(
        VOLUNTEER_ACCOUNTS.c.community_path == path, VOLUNTEER_ACCOUNTS.c.volunteer_id.in_(wanted)))
    bound = {volunteer: account for volunteer, account in rows}
    out = [bound.get(i, i) for i in wanted if i in bound or i not in known]
    return list(dict.fromkeys(out))
