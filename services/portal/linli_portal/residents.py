"""Residents' own pages ("我的" / My page): a person signed in at the issuer (phone + SMS code)
sees their household(s) and acts for them — votes, objections, help requests, the inbox.

**Household = the account's grants for households.** An owner's account is bound to a unit of
the owners' register by a `resident` grant for the unit (given by the owners' committee or a
community worker, who check the register); an owner adds a family member or tenant with a
`household_member` grant for the same unit (identity's authority rules allow exactly that). The
token carries the grants, the services check them again on every call made with it: this module
only decides what to show. Everything person-keyed is keyed by the token's `sub` (the global
account id): the inbox (`recipients/{sub}`), who filed a request, who changed a ballot.

Every call below is made with the resident's own token (`as_operator`), never the portal's —
so what a page shows is what the services let this account see, and household A's pages cannot
show household B's ballots, objections, requests or notices.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import grpc

from linli.governance.v1 import disclosure_pb2, org_pb2, vote_pb2
from linli.identity.v1 import identity_pb2
from linli.notification.v1 import notification_pb2 as npb
from linli_portal.backends import Backends, as_operator
from linli_runtime.auth import Principal, Role

# Org levels: a compound is the fifth (city/district/street/community/compound), a household the
# seventh (…/building/household).
COMMUNITY_DEPTH, COMPOUND_DEPTH, HOUSEHOLD_DEPTH = 4, 5, 7
HOUSEHOLD_ROLES = {Role.RESIDENT.value: "owner", Role.HOUSEHOLD_MEMBER.value: "member"}
# Roles whose holders may file a help request for someone else in a community they reach (the
# canteen's staff hold a resident grant for their compound).
STAFF_ROLES = {Role.COMMUNITY_WORKER.value, Role.PARTY_COMMITTEE.value, Role.STREET_OFFICER.value,
               Role.CITY_OPERATOR.value, Role.PLATFORM_ADMIN.value}

CHOICES = {"for": vote_pb2.BALLOT_CHOICE_FOR, "against": vote_pb2.BALLOT_CHOICE_AGAINST,
           "abstain": vote_pb2.BALLOT_CHOICE_ABSTAIN}
CHOICE_NAMES = {vote_pb2.BALLOT_CHOICE_FOR: ("赞成", "for"), vote_pb2.BALLOT_CHOICE_AGAINST: ("反对", "against"),
                vote_pb2.BALLOT_CHOICE_ABSTAIN: ("弃权", "abstain")}
HELP_CATEGORIES = {"meal": ("送餐", "a meal"), "medical": ("就医", "medical"), "repair": ("维修", "a repair"),
                   "companionship": ("陪伴", "company"), "errand": ("跑腿", "an errand"), "other": ("其他", "other")}
STATUS_NAMES = {
    npb.STATUS_SUBMITTED: ("已提交", "submitted"), npb.STATUS_ASSIGNED: ("已派给值班社工", "routed to the duty worker"),
    npb.STATUS_ACKNOWLEDGED: ("社工已接单", "acknowledged"), npb.STATUS_IN_PROGRESS: ("处理中", "in progress"),
    npb.STATUS_RESOLVED: ("已解决", "resolved"), npb.STATUS_FOLLOWED_UP: ("已回访", "followed up"),
    npb.STATUS_CLOSED: ("已结束", "closed"), npb.STATUS_CANCELLED: ("已撤回", "cancelled"),
}
THANKABLE = {npb.STATUS_RESOLVED, npb.STATUS_FOLLOWED_UP, npb.STATUS_CLOSED}
CHANNELS = {"sms": ("短信", "SMS"), "wechat": ("微信", "WeChat")}


def prefix(path: str, depth: int) -> str:
    parts = path.split("/")
    return "/".join(parts[:depth]) if len(parts) >= depth else ""


@dataclass
class Household:
    path: str
    role: str  # "owner" or "member"
    unit: org_pb2.OrgUnit | None = None
    compound: org_pb2.OrgUnit | None = None

    @property
    def compound_path(self) -> str:
        return prefix(self.path, COMPOUND_DEPTH)

    @property
    def community_path(self) -> str:
        return prefix(self.path, COMMUNITY_DEPTH)

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"

    @property
    def area_m2(self) -> str:
        return f"{self.unit.exclusive_area_dm2 / 100:.2f}" if self.unit and self.unit.exclusive_area_dm2 else ""

    @property
    def name(self) -> str:
        unit = self.unit.display_name if self.unit else self.path.rsplit("/", 1)[-1]
        building = self.path.split("/")[-2] if self.path.count("/") >= 1 else ""
        compound = self.compound.display_name if self.compound else self.compound_path.rsplit("/", 1)[-1]
        return f"{compound} {building} {unit}".strip()

    def as_json(self) -> dict[str, Any]:
        return {"household_path": self.path, "relation": self.role, "compound_path": self.compound_path,
                "community_path": self.community_path, "name": self.name,
                "exclusive_area_dm2": self.unit.exclusive_area_dm2 if self.unit else 0}


@dataclass
class Me:
    """The signed-in person: their token (for every call), account and households."""

    token: str
    principal: Principal
    households: list[Household] = field(default_factory=list)

    @property
    def account_id(self) -> str:
        return self.principal.subject

    @property
    def display_name(self) -> str:
        return str(self.principal.claims.get("name", "")) or self.account_id

    @property
    def owned(self) -> list[Household]:
        return [h for h in self.households if h.is_owner]

    def household(self, path: str) -> Household | None:
        return next((h for h in self.households if h.path == path), None)

    @property
    def staff_communities(self) -> list[str]:
        """Communities where this person may file for someone else: staff grants reaching a
        community, or a grant for a whole compound (the canteen's staff)."""
        found = []
        for g in self.principal.grants:
            depth = g.scope.count("/") + 1 if g.scope else 0
            if (g.role in STAFF_ROLES and depth <= COMMUNITY_DEPTH and depth >= 1) or (
                    g.role == Role.RESIDENT.value and depth == COMPOUND_DEPTH):
                found.append(prefix(g.scope, COMMUNITY_DEPTH) if depth >= COMMUNITY_DEPTH else g.scope)
        return sorted(set(p for p in found if p))

    @property
    def md(self) -> dict[str, Any]:
        return as_operator(self.token)


def households_of(principal: Principal) -> list[Household]:
    """The households the token's grants bind the person to, owners' first."""
    found: dict[str, Household] = {}
    for g in principal.grants:
        relation = HOUSEHOLD_ROLES.get(g.role)
        if relation and g.scope.count("/") + 1 == HOUSEHOLD_DEPTH:
            if g.scope not in found or relation == "owner":
                found[g.scope] = Household(g.scope, relation)
    return sorted(found.values(), key=lambda h: (not h.is_owner, h.path))


async def load_me(b: Backends, token: str, principal: Principal) -> Me:
    """The person with their households' units and compounds (public reads, the portal's token)."""
    me = Me(token, principal, households_of(principal))

    paths = sorted({h.path for h in me.households} | {h.compound_path for h in me.households})
    units = dict(zip(paths, await asyncio.gather(*(b.org_unit(p) for p in paths)), strict=True))
    for h in me.households:
        h.unit, h.compound = units.get(h.path), units.get(h.compound_path)
    return me


# -- votes ----------------------------------------------------------------------------------------


@dataclass
class VoteRow:
    vote: vote_pb2.Vote
    household: Household
    ballot: vote_pb2.Ballot | None

    @property
    def choice(self) -> str:
        if self.ballot is None:
            return ""
        return next((k for k, v in CHOICES.items() if v == self.ballot.choice), "")

    def as_json(self) -> dict[str, Any]:
        t = self.vote.tally
        return {"vote": self.vote.name, "title": self.vote.title, "household_path": self.household.path,
                "closed": self.vote.closed, "close_time": self.vote.close_time.ToJsonString(),
                "my_ballot": {"choice": self.choice, "household_path": self.ballot.household_path,
                              "channel": vote_pb2.BallotChannel.Name(self.ballot.channel),
                              "cast_time": self.ballot.cast_time.ToJsonString()} if self.ballot else None,
                "tally": {"electorate_area_dm2": t.electorate_area_dm2, "electorate_owners": t.electorate_households,
                          "participating_area_dm2": t.participating_area_dm2,
                          "participating_owners": t.participating_households, "for_area_dm2": t.for_area_dm2,
                          "for_owners": t.for_households, "outcome": vote_pb2.VoteOutcome.Name(t.outcome)}}


async def votes_of(b: Backends, me: Me) -> list[VoteRow]:
    """The open votes of each compound where the person owns a unit, with their own ballot (one
    per owner: an owner of two units in one compound sees each vote once)."""
    rows: list[VoteRow] = []
    seen: set[str] = set()
    for h in me.owned:
        if h.compound_path in seen:
            continue
        seen.add(h.compound_path)
        listed = await b.votes.ListVotes(vote_pb2.ListVotesRequest(path=h.compound_path, state=vote_pb2.VOTE_STATE_OPEN,
                                                                   page_size=50), **me.md)
        for vote in listed.votes:
            if not vote.opened:
                continue
            ballot = None
            try:
                ballot = (await b.votes.GetBallot(vote_pb2.GetBallotRequest(vote=vote.name, household_path=h.path),
                                                  **me.md)).ballot
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:
                    raise
            rows.append(VoteRow(vote, h, ballot))
    return rows


# -- objections -----------------------------------------------------------------------------------


@dataclass
class ObjectionRow:
    objection: disclosure_pb2.Objection
    disclosure: disclosure_pb2.Disclosure
    household: Household

    def as_json(self) -> dict[str, Any]:
        o = self.objection
        return {"name": o.name, "disclosure": self.disclosure.name, "period": self.disclosure.period,
                "household_path": o.household_path, "kind": disclosure_pb2.ObjectionKind.Name(o.kind),
                "account": o.account, "text": o.text, "state": disclosure_pb2.ObjectionState.Name(o.state),
                "answer": o.answer, "answered_by": o.answered_by, "overdue": o.overdue,
                "resolution": disclosure_pb2.ObjectionResolution.Name(o.resolution), "closing_note": o.closing_note}


async def disclosures_of(b: Backends, compound_path: str) -> list[disclosure_pb2.Disclosure]:
    reply = await b.disclosures.ListDisclosures(disclosure_pb2.ListDisclosuresRequest(compound_path=compound_path,
                                                                                      page_size=100))
    return list(reply.disclosures)


async def objections_of(b: Backends, me: Me) -> tuple[list[ObjectionRow], dict[str, list[disclosure_pb2.Disclosure]]]:
    """Each owned household's objections on its compound's disclosures, newest disclosure first,
    with the answers; and the disclosures (to object to) by compound."""
    rows: list[ObjectionRow] = []
    by_compound: dict[str, list[disclosure_pb2.Disclosure]] = {}
    for h in me.owned:
        if h.compound_path not in by_compound:
            by_compound[h.compound_path] = await disclosures_of(b, h.compound_path)
        for d in reversed(by_compound[h.compound_path]):
            reply = await b.disclosures.ListObjections(disclosure_pb2.ListObjectionsRequest(
                disclosure=d.name, household_path=h.path, page_size=100), **me.md)
            rows.extend(ObjectionRow(o, d, h) for o in reply.objections)
    return rows, by_compound


# -- help -----------------------------------------------------------------------------------------


def community_name(path: str) -> str:
    return "communities/" + path.replace("/", "~")


def compound_name(path: str) -> str:
    """`compounds/{compound}`, the org path written with `~` (trust-governance's names)."""
    return "compounds/" + path.replace("/", "~")


async def help_requests_of(b: Backends, me: Me) -> list[tuple[Household, npb.HelpRequest]]:
    """The requests about the person's households, newest first."""
    found: list[tuple[Household, npb.HelpRequest]] = []
    for h in me.households:
        reply = await b.help_requests.ListHelpRequests(npb.ListHelpRequestsRequest(
            parent=community_name(h.community_path), household_path=h.path, page_size=50), **me.md)
        found.extend((h, r) for r in reply.help_requests)
    return sorted(found, key=lambda pair: pair[1].create_time.ToDatetime(), reverse=True)


def help_json(r: npb.HelpRequest) -> dict[str, Any]:
    return {
        "name": r.name, "status": npb.Status.Name(r.status), "category": r.category,
        "household_path": r.household_path, "description": r.description, "on_behalf_of": r.on_behalf_of,
        "create_time": r.create_time.ToJsonString(), "resolution": r.resolution,
        "history": [{"to": npb.Status.Name(h.to_status), "time": h.change_time.ToJsonString(), "note": h.note}
                    for h in r.history],
        "follow_ups": [{"day_offset": f.day_offset, "due_time": f.due_time.ToJsonString(), "done": f.done,
                        "note": f.note} for f in r.follow_ups],
        "thanks": [{"kind": t.kind, "text": t.text, "from": getattr(t, "from")} for t in r.thanks],
    }


# -- inbox ----------------------------------------------------------------------------------------


async def inbox_of(b: Backends, me: Me) -> tuple[list[npb.Notice], npb.Preferences]:
    recipient = f"recipients/{me.account_id}"
    notices, prefs = await asyncio.gather(
        b.inbox.ListNotices(npb.ListNoticesRequest(parent=recipient, page_size=50), **me.md),
        b.inbox.GetPreferences(npb.GetPreferencesRequest(name=f"{recipient}/preferences"), **me.md))
    return list(notices.notices), prefs.preferences


def notice_json(n: npb.Notice) -> dict[str, Any]:
    return {"name": n.name, "kind": n.kind, "title": n.title, "body": n.body, "critical": n.critical,
            "read": n.HasField("read_time"), "create_time": n.create_time.ToJsonString()}


# -- household members ----------------------------------------------------------------------------


async def add_member(b: Backends, me: Me, household: str, account: str, reason: str) -> identity_pb2.Grant:
    """An owner adds a family member or tenant: a household_member grant for the unit, given with
    the owner's own token (identity checks that the owner may)."""
    reply = await b.grants.CreateGrant(identity_pb2.CreateGrantRequest(
        parent=f"accounts/{account}", grant=identity_pb2.Grant(role=Role.HOUSEHOLD_MEMBER.value, scope=household,
                                                               reason=reason)), **me.md)
    grant: identity_pb2.Grant = reply.grant
    return grant
