"""Who may stand on a community's duty roster: an account — the `sub` of a person's tokens,
global — holding a community worker's grant that reaches the community.

Help requests are routed to the worker on duty, whose inbox is keyed by the account; a local
name (`worker-li`) reaches nobody's inbox, and the same name in two communities would be two
people. So the roster names accounts (`acc_…`), and a shift, swap or head is accepted only for
an account with such a grant (`require_workers`). Grants come from identity's
`identity.grant.granted|revoked` events (the IDENTITY stream, `learn`); a revoked grant takes
the account off duty at once (`community.on_duty_at` passes over it to the backup, then the
head), whatever the roster still says. So does disabling the account (`identity.account.disabled`,
`learn_standing`): its grants stand, and count again once it is enabled.

Only the roles that handle help requests are kept (`DUTY_ROLES`: the worker on duty must see
how to reach the person, as `api.access.HANDLERS` allows)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from linli_notification.tables import AccountStanding, WorkerGrant
from linli_runtime import fields
from linli_runtime.auth import Role, normalize_path, path_within
from linli_runtime.errors import FailedPrecondition
from linli_runtime.models import table
from linli_runtime.times import as_utc

WORKER_GRANTS = table(WorkerGrant)
STANDING = table(AccountStanding)
DUTY_ROLES: tuple[Role, ...] = (Role.COMMUNITY_WORKER,)
def account_id(field: str, value: str, *, required: bool = True) -> str:
    """`acc_…` or `accounts/acc_…` (any OIDC provider's `sub`) → the account id; "" when not
    `required` and empty. Whether it is a worker here is `require_workers`' question."""
    value = value.strip().removeprefix("accounts/")
    if not value and not required:
        return ""
    return fields.account_id(field, value)


async def learn(conn: AsyncConnection, *, grant: str, account: str, role: str, scope: str, granted: bool) -> None:
    """Apply one `identity.grant.granted` (`granted`) or `.revoked` event. Idempotent."""
    await conn.execute(WORKER_GRANTS.delete().where(WORKER_GRANTS.c.grant_name == grant))
    if granted and role in DUTY_ROLES:
        await conn.execute(WORKER_GRANTS.insert().values(
            grant_name=grant, account_id=account.removeprefix("accounts/"), role=role, scope=normalize_path(scope)))


async def learn_standing(conn: AsyncConnection, *, account: str, disabled: bool, changed_at: datetime) -> None:
    """Apply one `identity.account.disabled` (`disabled`) or `.enabled` event: the newest change
    wins, whatever order the events arrive in. Idempotent."""
    values = dict(account_id=account.removeprefix("accounts/"), disabled=disabled, changed_at=changed_at)
    current = (await conn.execute(sa.select(STANDING.c.changed_at).where(
        STANDING.c.account_id == values["account_id"]))).scalar_one_or_none()
    if current is None:
        await conn.execute(STANDING.insert().values(**values))
    elif as_utc(current) < changed_at:
        await conn.execute(STANDING.update().where(STANDING.c.account_id == values["account_id"]).values(**values))


async def workers_among(conn: AsyncConnection, path: str, accounts: Iterable[str]) -> set[str]:
    """Those of `accounts` holding a duty role at `path` or a place above it, and not disabled."""
    wanted = {a for a in accounts if a}
    if not wanted:
        return set()
    disabled = sa.select(STANDING.c.account_id).where(STANDING.c.account_id == WORKER_GRANTS.c.account_id,
                                                       STANDING.c.disabled.is_(True))
    rows = await conn.execute(sa.select(WORKER_GRANTS.c.account_id, WORKER_GRANTS.c.scope).where(
        WORKER_GRANTS.c.account_id.in_(wanted), ~disabled.exists()))
    return {account for account, scope in rows if path_within(path, scope)}


async def require_workers(conn: AsyncConnection, path: str, named: Mapping[str, str]) -> None:
    """Each of `named` (field → account, "" skipped) is a worker of community `path`, else
    FAILED_PRECONDITION naming the field: grant the account a community worker's role first."""
    found = await workers_among(conn, path, named.values())
    for field, account in named.items():
        if account and account not in found:
            raise FailedPrecondition(
                f"{field}: accounts/{account} holds no community worker grant for {path}, or the account is "
                "disabled; grant it the community_worker role there first (only the community's workers, "
                "with an enabled account, may be on duty)",
                reason="NOT_A_COMMUNITY_WORKER", metadata={"field": field, "account": account})
