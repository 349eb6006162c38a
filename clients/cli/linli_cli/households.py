"""`linli households claims`: owners asking to be bound to their units (identity's
HouseholdClaimService) — list a place's claims with the owners' register's entry beside each
(owner's name from trust-governance's `ListOwners`, floor area from the org tree), approve one
(the owner gets `resident` at the unit) or reject it with a reason the owner sees. For the
owners' committee of a compound and the community's workers; nobody decides their own claim.

A claim is named `hcl_…` (or `householdClaims/hcl_…`), as the list shows it."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

import typer
from rich.console import Console

from linli.governance.v1 import org_pb2, org_pb2_grpc, vote_pb2, vote_pb2_grpc
from linli.identity.v1 import identity_pb2 as pb
from linli.identity.v1 import identity_pb2_grpc as pb_grpc
from linli_cli import names, session
from linli_cli.errors import CliError, ExitCode, usage
from linli_cli.export import exportable
from linli_cli.output import Json, Token, emit, enum_name, local, note, titled, when

app = typer.Typer(help="Households: owners bound to their units.", no_args_is_help=True)
claims_app = typer.Typer(help="Owners asking to be bound to a unit: list, approve, reject.", no_args_is_help=True)
app.add_typer(claims_app, name="claims")

STATES = {"pending": pb.HOUSEHOLD_CLAIM_STATE_PENDING, "approved": pb.HOUSEHOLD_CLAIM_STATE_APPROVED,
          "rejected": pb.HOUSEHOLD_CLAIM_STATE_REJECTED, "all": pb.HOUSEHOLD_CLAIM_STATE_UNSPECIFIED}
CLAIM = re.compile(r"(?:householdClaims/)?(hcl_[a-z2-7]{20})")
RequestId = Annotated[str | None, typer.Option("--request-id", help="Reuse to retry without acting twice.")]


def claim_name(value: str) -> str:
    match = CLAIM.fullmatch(value.strip())
    if match is None:
        raise usage(f"CLAIM: {value!r} is not a household claim: write hcl_… as the list shows it")
    return f"householdClaims/{match.group(1)}"


def as_dict(c: pb.HouseholdClaim, register: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": c.name.removeprefix("householdClaims/"), "account": c.account,
           "account_display_name": c.account_display_name, "household_path": c.household_path,
           "register_name": c.register_name, "note": c.note,
           "state": enum_name(pb.HouseholdClaimState.Name(c.state), "HOUSEHOLD_CLAIM_STATE_"),
           "create_time": when(c.create_time), "decided_by": c.decided_by, "decide_time": when(c.decide_time),
           "decision_reason": c.decision_reason, "grant": c.grant}
    if register is not None:
        out["register"] = register
    return out


async def _registers(token: str | None, claims: list[pb.HouseholdClaim]) -> dict[str, dict[str, Any]]:
    """household path → {"owner_name", "area_m2", "known"}: the register's entry, read with the
    caller's own token (any grant reaching the compound may read its register); none, with a
    warning, when trust-governance cannot be reached (the claims still list)."""
    try:
        return await _read_registers(token, claims)
    except CliError as exc:
        if exc.code != ExitCode.UNAVAILABLE:
            raise
        note(f"[yellow]the owners' register could not be read: {exc.message}[/]")
        return {}


async def _read_registers(token: str | None, claims: list[pb.HouseholdClaim]) -> dict[str, dict[str, Any]]:
    compounds = sorted({c.household_path.rsplit("/", 2)[0] for c in claims})
    owners: dict[str, str] = {}
    found: dict[str, dict[str, Any]] = {}
    async with session.client("trust-governance", token) as c:
        votes, org = c.stub(vote_pb2_grpc.VoteServiceStub), c.stub(org_pb2_grpc.OrgServiceStub)
        for compound in compounds:
            async def page(page_token: str, compound: str = compound) -> tuple[list[vote_pb2.Owner], str]:
                reply = await c.call(votes.ListOwners, vote_pb2.ListOwnersRequest(
                    compound_path=compound, page_size=1000, page_token=page_token))
                return list(reply.owners), reply.next_page_token

            for owner in await session.pages(page):
                if owner.holding == vote_pb2.UNIT_HOLDING_OWNED and owner.owner_id not in owner.households:
                    owners.update(dict.fromkeys(owner.households, owner.display_name))
        for claim in claims:
            try:
                unit = (await c.call(org.GetOrgUnit, org_pb2.GetOrgUnitRequest(path=claim.household_path))).org_unit
                area = f"{unit.exclusive_area_dm2 / 100:.2f}" if unit.exclusive_area_dm2 else ""
                known = True
            except CliError:
                area, known = "", False
            found[claim.household_path] = {"owner_name": owners.get(claim.household_path, ""), "area_m2": area,
                                           "known": known}
    return found


@claims_app.command("list")
@exportable
def list_(scope: Annotated[str | None, typer.Option(
              "--scope", help="The compound or community whose claims to list (default: your token's place).")] = None,
          state: Annotated[str, typer.Option(help="pending, approved, rejected or all.")] = "pending",
          mine: Annotated[bool, typer.Option("--mine", help="My own claims instead.")] = False,
          token: Token = None, as_json: Json = False) -> None:
    """Claims for units at or below a place, oldest first, with the owners' register's entry."""
    if state not in STATES:
        raise usage(f"--state: {state!r} is not one of {', '.join(STATES)}")
    where = names.org_path(scope, "--scope") if scope else session.require_identity(token).scope
    if not mine and not where:
        raise usage("--scope: give the compound (or community) whose claims to list: your token is for several "
                    "places or the whole platform")

    async def fetch() -> tuple[list[pb.HouseholdClaim], dict[str, dict[str, Any]]]:
        async with session.client("identity", token) as c:
            stub = c.stub(pb_grpc.HouseholdClaimServiceStub)

            async def page(page_token: str) -> tuple[list[pb.HouseholdClaim], str]:
                reply = await c.call(stub.ListHouseholdClaims, pb.ListHouseholdClaimsRequest(
                    parent="accounts/me" if mine else "accounts/-", scope="" if mine else where,
                    state=STATES[state], page_size=1000, page_token=page_token))
                return list(reply.household_claims), reply.next_page_token

            found = await session.pages(page)
        return found, ({} if mine or not found else await _registers(token, found))

    claims, registers = session.run(fetch())

    def render(out: Console) -> None:
        table = titled(f"household claims ({state})")
        for column in ("claim", "unit", "name given", "on the register", "area m²", "account", "filed", "state"):
            table.add_column(column, overflow="fold")
        for c in claims:
            entry = registers.get(c.household_path, {})
            table.add_row(c.name.removeprefix("householdClaims/"), c.household_path, c.register_name,
                          entry.get("owner_name") or ("not registered" if entry.get("known") else "not on record"),
                          entry.get("area_m2", ""), c.account_display_name or c.account, local(c.create_time),
                          as_dict(c)["state"] + (f": {c.decision_reason}" if c.decision_reason else ""))
        out.print(table)
        if not claims:
            out.print("none")
        elif not mine and not registers:
            out.print("the owners' register could not be read (trust-governance unreachable): check it before "
                      "deciding")

    emit(as_json, {"household_claims": [as_dict(c, registers.get(c.household_path)) for c in claims]}, render)


def _decide(claim: str, reason: str, request_id: str | None, token: str | None, approve: bool) -> pb.HouseholdClaim:
    name, rid = claim_name(claim), request_id or uuid.uuid4().hex

    async def act() -> pb.HouseholdClaim:
        async with session.client("identity", token) as c:
            stub = c.stub(pb_grpc.HouseholdClaimServiceStub)
            if approve:
                reply: Any = await c.change(stub.ApproveHouseholdClaim(pb.ApproveHouseholdClaimRequest(
                    name=name, reason=reason, request_id=rid), metadata=c.metadata or None), rid)
            else:
                reply = await c.change(stub.RejectHouseholdClaim(pb.RejectHouseholdClaimRequest(
                    name=name, reason=reason, request_id=rid), metadata=c.metadata or None), rid)
            return reply.household_claim  # type: ignore[no-any-return]

    return session.run(act())


@claims_app.command("approve")
def approve(claim: Annotated[str, typer.Argument(help="hcl_…, as the list shows it.")],
            reason: Annotated[str, typer.Option("--reason", help="What you checked (optional).")] = "",
            request_id: RequestId = None, token: Token = None, as_json: Json = False) -> None:
    """Approve a claim after checking the owners' register: the owner gets `resident` at the unit."""
    c = _decide(claim, reason, request_id, token, True)
    emit(as_json, as_dict(c), lambda out: out.print(
        f"approved {as_dict(c)['name']}: {c.account_display_name or c.account} is bound to {c.household_path} "
        f"({c.grant})"))


@claims_app.command("reject")
def reject(claim: Annotated[str, typer.Argument(help="hcl_…, as the list shows it.")],
           reason: Annotated[str, typer.Option("--reason", help="Why (required): the owner sees it.")],
           request_id: RequestId = None, token: Token = None, as_json: Json = False) -> None:
    """Reject a claim with a reason the owner sees on their page."""
    c = _decide(claim, reason, request_id, token, False)
    emit(as_json, as_dict(c), lambda out: out.print(
        f"rejected {as_dict(c)['name']} ({c.household_path}): “{c.decision_reason}”"))
