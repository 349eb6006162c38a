"""Household claims on the portal (identity's HouseholdClaimService): an owner asks to be bound
to their unit (/me/home/claim), the compound's committee or the community worker decides
(/me/claims/review) with the owners' register's entry beside each claim.

Every call is made with the person's own token, so identity and trust-governance decide what it
may see and do; the register's entry (owner's name: `VoteService.ListOwners`, which any grant
reaching the compound may read; floor area: the org tree) comes from governance over gRPC.

A token carries the grants it was issued with. When a claim was approved after the owner signed
in, their token lacks the new `resident` grant: `stale` says so, and the pages then renew the
session once (`?renew=grants`, app.renew_session) — the unit shows, and the vote pages see it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from linli.governance.v1 import vote_pb2
from linli.identity.v1 import identity_pb2 as pb
from linli_portal import compound, residents
from linli_portal.backends import Backends
from linli_runtime.auth import Role

STATES = {pb.HOUSEHOLD_CLAIM_STATE_PENDING: ("审核中", "waiting for the committee"),
          pb.HOUSEHOLD_CLAIM_STATE_APPROVED: ("已绑定", "approved: bound"),
          pb.HOUSEHOLD_CLAIM_STATE_REJECTED: ("未通过", "rejected")}
# Who may bind owners (identity's authority.py: those who may grant `resident`); the portal only
# uses it to choose which places to list — identity decides.
REVIEWERS = {Role.OWNERS_COMMITTEE.value, Role.COMMUNITY_WORKER.value, Role.STREET_OFFICER.value,
             Role.CITY_OPERATOR.value}
RENEW = "grants"

# A directory of compounds for the claim form: (district or street, [(compound path, name)]).
Directory = Callable[[], Awaitable[list[tuple[str, list[tuple[str, str]]]]]]


async def mine(b: Backends, me: residents.Me) -> list[pb.HouseholdClaim]:
    """The person's own claims, newest first (none when the portal runs without identity)."""
    if getattr(b, "household_claims", None) is None:
        return []
    reply = await b.household_claims.ListHouseholdClaims(pb.ListHouseholdClaimsRequest(
        parent="accounts/me", page_size=50), **me.md)
    return list(reversed(reply.household_claims))


async def labels(b: Backends, claims: list[pb.HouseholdClaim]) -> dict[str, str]:
    """household path → `生建小区 1栋 101室` (the org tree's names; the path's last part when a
    place is unknown)."""
    units = {c.household_path for c in claims}
    places = sorted(units | {p.rsplit("/", 1)[0] for p in units} | {p.rsplit("/", 2)[0] for p in units})
    found = dict(zip(places, await asyncio.gather(*(b.org_unit(p) for p in places)), strict=True))

    def name(path: str) -> str:
        unit = found.get(path)
        return unit.display_name if unit is not None else path.rsplit("/", 1)[-1]

    return {p: f"{name(p.rsplit('/', 2)[0])} {name(p.rsplit('/', 1)[0])} {name(p)}" for p in units}


def stale(me: residents.Me, claims: list[pb.HouseholdClaim]) -> bool:
    """An approved claim whose unit the token does not carry yet."""
    bound = {h.path for h in me.households if h.is_owner}
    return any(c.state == pb.HOUSEHOLD_CLAIM_STATE_APPROVED and c.household_path not in bound for c in claims)


async def units_of(b: Backends, compound_path: str) -> list[tuple[str, str]]:
    """The compound's units as (path, `1栋 101室`); none for a place that is not a compound."""
    try:
        return await compound.households(b, compound_path)
    except grpc.aio.AioRpcError as exc:
        if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return []
        raise


async def file(b: Backends, me: residents.Me, household: str, register_name: str, note: str,
               request_id: str) -> pb.HouseholdClaim:
    reply = await b.household_claims.CreateHouseholdClaim(pb.CreateHouseholdClaimRequest(
        household_claim=pb.HouseholdClaim(household_path=household, register_name=register_name, note=note),
        request_id=request_id), **me.md)
    claim: pb.HouseholdClaim = reply.household_claim
    return claim


# -- the committee's side -------------------------------------------------------------------------


@dataclass
class Entry:
    """The owners' register's entry for a unit: its label, floor area and registered owner."""

    label: str = ""
    area_m2: str = ""
    owner_name: str = ""
    known: bool = False  # the unit exists in the org tree


@dataclass
class Review:
    claim: pb.HouseholdClaim
    entry: Entry

    @property
    def ident(self) -> str:
        return self.claim.name.rsplit("/", 1)[-1]

    @property
    def matches(self) -> bool:
        return bool(self.entry.owner_name) and self.entry.owner_name.strip() == self.claim.register_name.strip()

    def as_json(self) -> dict[str, Any]:
        c = self.claim
        return {"name": c.name, "account": c.account, "account_display_name": c.account_display_name,
                "household_path": c.household_path, "register_name": c.register_name, "note": c.note,
                "create_time": c.create_time.ToJsonString(),
                "register": {"unit": self.entry.label, "area_m2": self.entry.area_m2,
                             "owner_name": self.entry.owner_name, "known": self.entry.known}}


def review_scopes(me: residents.Me) -> list[str]:
    """The places where the person may bind owners, widest first, none inside another."""
    scopes = sorted({g.scope for g in me.principal.grants if g.role in REVIEWERS and g.scope},
                    key=lambda s: (s.count("/"), s))
    kept: list[str] = []
    for s in scopes:
        if not any(s == k or s.startswith(k + "/") for k in kept):
            kept.append(s)
    return kept


async def _register(b: Backends, me: residents.Me, compound_path: str) -> dict[str, str]:
    """household path → the registered owner's name, for one compound (read with the reviewer's
    token: governance lets any grant reaching the compound read its register)."""
    names: dict[str, str] = {}
    token = ""
    try:
        while True:
            reply = await b.votes.ListOwners(vote_pb2.ListOwnersRequest(
                compound_path=compound_path, page_size=1000, page_token=token), **me.md)
            for owner in reply.owners:
                if owner.holding == vote_pb2.UNIT_HOLDING_OWNED and owner.owner_id not in owner.households:
                    names.update(dict.fromkeys(owner.households, owner.display_name))
            token = reply.next_page_token
            if not token:
                return names
    except grpc.aio.AioRpcError as exc:
        if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED,
                          grpc.StatusCode.INVALID_ARGUMENT):
            return names
        raise


async def to_review(b: Backends, me: residents.Me) -> list[Review]:
    """The pending claims the person may decide, oldest first, each with the register's entry."""
    claims: dict[str, pb.HouseholdClaim] = {}
    for scope in review_scopes(me):
        reply = await b.household_claims.ListHouseholdClaims(pb.ListHouseholdClaimsRequest(
            parent="accounts/-", scope=scope, state=pb.HOUSEHOLD_CLAIM_STATE_PENDING, page_size=200), **me.md)
        claims.update((c.name, c) for c in reply.household_claims if c.account != f"accounts/{me.account_id}")
    compounds = sorted({residents.prefix(c.household_path, residents.COMPOUND_DEPTH) for c in claims.values()})
    registers, labels = await asyncio.gather(
        asyncio.gather(*(_register(b, me, p) for p in compounds)), asyncio.gather(*(units_of(b, p) for p in compounds)))
    owners = {path: name for names in registers for path, name in names.items()}
    label_of = {path: label for found in labels for path, label in found}
    units = await asyncio.gather(*(b.org_unit(c.household_path) for c in claims.values()))
    reviews = []
    for claim, unit in zip(claims.values(), units, strict=True):
        area = unit.exclusive_area_dm2 if unit is not None else 0
        reviews.append(Review(claim, Entry(
            label=label_of.get(claim.household_path, claim.household_path.rsplit("/", 1)[-1]),
            area_m2=f"{area / 100:.2f}" if area else "", owner_name=owners.get(claim.household_path, ""),
            known=unit is not None)))
    return sorted(reviews, key=lambda r: r.claim.create_time.ToDatetime())


async def decide(b: Backends, me: residents.Me, ident: str, approve: bool, reason: str,
                 request_id: str) -> pb.HouseholdClaim:
    name = f"householdClaims/{ident}"
    if approve:
        reply: Any = await b.household_claims.ApproveHouseholdClaim(pb.ApproveHouseholdClaimRequest(
            name=name, reason=reason, request_id=request_id), **me.md)
    else:
        reply = await b.household_claims.RejectHouseholdClaim(pb.RejectHouseholdClaimRequest(
            name=name, reason=reason, request_id=request_id), **me.md)
    claim: pb.HouseholdClaim = reply.household_claim
    return claim


def claim_json(c: pb.HouseholdClaim) -> dict[str, Any]:
    return {"name": c.name, "household_path": c.household_path, "register_name": c.register_name, "note": c.note,
            "state": pb.HouseholdClaimState.Name(c.state), "create_time": c.create_time.ToJsonString(),
            "decision_reason": c.decision_reason,
            "decide_time": c.decide_time.ToJsonString() if c.HasField("decide_time") else ""}
