"""What every servicer shares: the domain's dependencies, the scoped-name preamble, the
idempotent write, and the role groups particular to trust governance."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from google.protobuf.message import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from linli_governance import names
from linli_runtime import fields, idempotency
from linli_runtime import names as runtime_names
from linli_runtime.auth import STAFF, Principal, Role, authorized_path, caller, may_act_as, reach

if TYPE_CHECKING:
    from linli_governance.app import GovernanceApp

T = TypeVar("T")
R = TypeVar("R", bound=Message)

# Who runs owners' votes and types in paper ballots: the committee, or the community and
# street officers who support it.
VOTE_OFFICERS = (Role.OWNERS_COMMITTEE, Role.COMMUNITY_WORKER, Role.STREET_OFFICER)
# The community party committee and operators record bodies and meetings; the owners'
# committee keeps its own membership current.
BODY_KEEPERS = (*STAFF, Role.OWNERS_COMMITTEE)


# A compound is the fifth level of the org tree (city/district/street/community/compound): its path
# has four slashes, and its households lie two levels below (building/household).
COMPOUND_DEPTH = 4


def owner_households(compound_path: str, who: Principal | None = None) -> list[str]:
    """The households of `compound_path` whose resident (owner) the caller is: its `resident`
    grants at a household of the compound (one owner may hold several units). Read from the
    token's grants, so an owner of two units is one of the compound's owners from either."""
    principal = who or caller()
    return [
        g.scope
        for g in principal.grants
        if g.role == Role.RESIDENT.value and g.scope.count("/") > COMPOUND_DEPTH
        and "/".join(g.scope.split("/")[: COMPOUND_DEPTH + 1]) == compound_path
    ]


def require_owner_or_scope(compound_path: str) -> None:
    """The compound's officers (its scope or a wider one), or one of its owners: a resident whose
    grant is for a household of the compound (what the owners' own books are open to)."""
    if owner_households(compound_path):
        return
    reach(compound_path)


def require_household(household_path: str) -> Principal:
    """The household's own resident (by a grant for it, whatever else the token carries), or an
    officer whose scope reaches it."""
    who = caller()
    if may_act_as(who, [Role.RESIDENT], household_path) is None:
        reach(household_path, who)
    return who


class Api:
    def __init__(self, app: GovernanceApp) -> None:
        self.db = app.db
        self.clock = app.clock
        self.make_event = app.make_event
        self.settings = app.governance_settings
        self.vouchers = app.vouchers
        self.heads = app.heads

    def now(self) -> datetime:
        return self.clock.now()

    @staticmethod
    def scoped_path(field: str, path: str, *roles: Role) -> str:
        """An org path field, normalised, where the caller may act as one of `roles` — with no
        roles, where any grant of the caller reaches (reads open to everyone there) — else
        PERMISSION_DENIED."""
        target = runtime_names.org_path(field, path)
        return authorized_path(*roles, path=target) if roles else reach(target)

    @staticmethod
    def scoped_child(field: str, name: str, collection: str, *roles: Role) -> tuple[str, str]:
        """`compounds/{c}/{collection}/{id}` → (compound path, id), the compound checked as
        `scoped_path` checks it."""
        path, ident = names.parse_compound_child(field, name, collection)
        return (authorized_path(*roles, path=path) if roles else reach(path)), ident

    async def write(
        self,
        request: Message,
        response_cls: type[R],
        step: Callable[[AsyncSession], Awaitable[T]],
        respond: Callable[[T], R],
        *,
        request_id_required: bool = False,
    ) -> R:
        """Run the domain `step` in one transaction and answer `respond(result)`, at most once per
        (caller, method, request id): a retry gets the first answer back (AIP-155). The method is
        the request's name without `Request` (`CreateVoteRequest` → `CreateVote`). Ledger
        mutations require a request id; elsewhere it is optional."""
        request_id: str = getattr(request, "request_id", "")
        fields.request_id(request_id, required=request_id_required)
        method = type(request).__name__.removesuffix("Request")

        async def body(session: AsyncSession) -> R:
            return respond(await step(session))

        return await idempotency.once(self.db, self.clock, method, request, response_cls, body)
