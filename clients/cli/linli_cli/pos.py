"""`linli pos member-code | rewards | quote | redeem`: a POS simulator on the PUBLIC POS API
(`linli.redemption.v1.PosService`, `authorization: Terminal {id}:{secret}`), as a merchant's
till would use it: at partner-redemption's POS edge (PARTNER_REDEMPTION_POS_ADDR, make run's
127.0.0.1:50443), over TLS. Only `member-code` (and `--volunteer`, which fetches one) uses the
operator's token, at the service's own port: it plays the volunteer's app showing a member code
(MemberCardService.GetMemberCode), an API the POS edge does not serve.

The shared pieces (`member_code`, `redeem_with_retry`, the demo constants) are also what the
sample client `tools/pos_client.py` runs on."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

import grpc
import typer
from rich.console import Console

from linli.redemption.v1 import admin_pb2, admin_pb2_grpc, pos_pb2, pos_pb2_grpc, resources_pb2
from linli_cli import names, session
from linli_cli.errors import usage
from linli_cli.export import exportable
from linli_cli.i18n import _
from linli_cli.output import Json, Token, emit, enum_name, when

app = typer.Typer(help="A POS terminal simulator on the public POS API.", no_args_is_help=True)
REDEMPTION = "partner-redemption"
FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
# Published on purpose: `make run`'s demo terminal of the community health service centre.
DEMO_CREDENTIAL = "Terminal fengshu-demo-pos:demo-only-fengshu-pos-secret"
DEMO_REWARD = "merchants/jinchengyijing-health/rewards/blood-pressure-check"
RETRIED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


async def member_code(channel: grpc.aio.Channel, community: str, volunteer: str,
                      metadata: tuple[tuple[str, str], ...] = ()) -> str:
    """The member code the volunteer's app shows now (valid for one to two minutes), fetched
    with an operator's credentials (the channel's token, or `metadata`)."""
    cards = admin_pb2_grpc.MemberCardServiceStub(channel)
    reply = await cards.GetMemberCode(admin_pb2.GetMemberCodeRequest(community_path=community, volunteer_id=volunteer),
                                      metadata=metadata or None, timeout=10)
    return str(reply.member_code)


async def redeem_with_retry(pos: pos_pb2_grpc.PosServiceStub, request: pos_pb2.RedeemRequest,
                            terminal: tuple[tuple[str, str], ...], attempts: int = 5) -> pos_pb2.RedeemResponse:
    """Redeem, retrying a lost or unanswered call with the SAME request id (the service answers
    a repeated id with the first outcome, so points move at most once). Raises the last error."""
    for attempt in range(attempts):
        try:
            return await pos.Redeem(request, metadata=terminal, timeout=10)  # type: ignore[no-any-return]
        except grpc.aio.AioRpcError as error:
            if error.code() not in RETRIED or attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


Credential = Annotated[str, typer.Option(envvar="LINLI_POS_CREDENTIAL", show_envvar=True,
                                         help="The terminal's 'Terminal {id}:{secret}' (default: the demo terminal).")]
Address = Annotated[str | None, typer.Option(help="partner-redemption's POS edge, comma-separated replicas "
                                             "(default: PARTNER_REDEMPTION_POS_ADDR or 127.0.0.1:50443).")]
AdminAddress = Annotated[str | None, typer.Option(help="partner-redemption's own port, for member codes "
                                                  "(default: PARTNER_REDEMPTION_SERVICE_ADDR or 127.0.0.1:50053).")]
Community = Annotated[str, typer.Option(help="The volunteer's community.")]
Volunteer = Annotated[str, typer.Option(help="Fetch this volunteer's current member code (needs linli login).")]
# The parameter is member_code_ so it does not shadow member_code() above.
MemberCode = Annotated[str, typer.Option("--member-code", help="The 14-digit code the volunteer shows.")]
Reward = Annotated[str, typer.Option(help="merchants/{merchant}/rewards/{reward}.")]
Quantity = Annotated[int, typer.Option(min=1, max=100, help="Units.")]


def terminal_client(credential: str, address: str | None) -> session.Client:
    if not credential.startswith("Terminal ") or ":" not in credential:
        raise usage(_("--credential: give the terminal's credential as 'Terminal {{terminal_id}}:{{secret}}'").format())
    return session.Client(REDEMPTION, address=session.pos_edge_of(REDEMPTION, address),
                          metadata=(("authorization", credential),), terminal=True)


def reward_name(value: str) -> str:
    parts = value.split("/")
    if len(parts) != 4 or parts[0] != "merchants" or parts[2] != "rewards" or not parts[1] or not parts[3]:
        raise usage(_("--reward: {value!r} is not a reward name (merchants/{{merchant}}/rewards/{{reward}})").format(
            value=value))
    return value


async def code_for(member: str, volunteer: str, community: str, token: str | None, address: str | None) -> str:
    """The code given, or the volunteer's current one fetched with the operator's token."""
    if member and volunteer:
        raise usage(_("give --member-code or --volunteer, not both"))
    if member:
        if not (member.isdigit() and len(member) == 14):
            raise usage(_("--member-code: must be the 14 digits the volunteer shows"))
        return member
    if not volunteer:
        raise usage(_("give --member-code (what the volunteer shows) or --volunteer (fetch it, as an operator)"))
    async with session.client(REDEMPTION, token, address=address) as c:
        return await c.guard(member_code(c.channel, names.org_path(community, "--community"), volunteer))


@app.command("member-code")
def show_member_code(volunteer: Annotated[str, typer.Option(help="The volunteer's id.")],
                     community: Community = FENGSHU, address: AdminAddress = None,
                     token: Token = None, as_json: Json = False) -> None:
    """The member code a volunteer's app shows now (operators within scope may fetch it)."""

    async def fetch() -> admin_pb2.GetMemberCodeResponse:
        async with session.client(REDEMPTION, token, address=address) as c:
            stub = c.stub(admin_pb2_grpc.MemberCardServiceStub)
            return await c.call(stub.GetMemberCode, admin_pb2.GetMemberCodeRequest(
                community_path=names.org_path(community, "--community"), volunteer_id=volunteer))

    r = session.run(fetch())
    emit(as_json, {"volunteer_id": volunteer, "member_code": r.member_code, "expire_time": when(r.expire_time)},
         lambda out: out.print(r.member_code))


@app.command("rewards")
@exportable
def rewards(merchant: Annotated[str, typer.Option(help="merchants/{merchant} (the terminal's own).")] =
            "merchants/jinchengyijing-health",
            credential: Credential = DEMO_CREDENTIAL, address: Address = None, as_json: Json = False) -> None:
    """The rewards the terminal's merchant offers now."""
    parent = merchant if merchant.startswith("merchants/") else f"merchants/{merchant}"

    async def fetch() -> list[Any]:
        c = terminal_client(credential, address)
        try:
            stub = c.stub(pos_pb2_grpc.PosServiceStub)

            async def page(tok: str) -> tuple[list[Any], str]:
                r = await c.call(stub.ListRewards, pos_pb2.ListRewardsRequest(parent=parent, page_size=100,
                                                                               page_token=tok))
                return list(r.rewards), r.next_page_token

            return await session.pages(page)
        finally:
            await c.close()

    found = session.run(fetch())
    data = {"merchant": parent, "rewards": [{"name": r.name, "display_name": r.display_name, "points": r.points,
                                             "stock": r.stock, "per_volunteer_limit": r.per_volunteer_limit,
                                             "daily_quota": r.daily_quota} for r in found]}

    def render(out: Console) -> None:
        for r in found:
            stock = _("unlimited") if r.stock < 0 else _("{count} left").format(count=r.stock)
            out.print(_("{name}  {title}  [bold]{points}[/] points  ({stock})").format(
                name=r.name, title=r.display_name, points=r.points, stock=stock))

    emit(as_json, data, render)


async def open_member(c: session.Client, code: str) -> pos_pb2.ResolveMemberCodeResponse:
    stub = c.stub(pos_pb2_grpc.PosServiceStub)
    return await c.call(stub.ResolveMemberCode, pos_pb2.ResolveMemberCodeRequest(member_code=code))


async def member_and_quote(c: session.Client, code: str, reward: str, quantity: int
                           ) -> tuple[pos_pb2.ResolveMemberCodeResponse, pos_pb2.QuoteRedemptionResponse]:
    """What a till does first: resolve the member code, then price the reward for that member."""
    member = await open_member(c, code)
    stub = c.stub(pos_pb2_grpc.PosServiceStub)
    q = await c.call(stub.QuoteRedemption, pos_pb2.QuoteRedemptionRequest(
        reward=reward, member_session=member.member_session, quantity=quantity))
    return member, q


def member_dict(m: pos_pb2.ResolveMemberCodeResponse) -> dict[str, Any]:
    return {"masked_member": m.masked_member, "available_points": m.available_points,
            "session_expire_time": when(m.expire_time)}


@app.command("quote")
def quote(reward: Reward = DEMO_REWARD, quantity: Quantity = 1, member_code_: MemberCode = "",
          volunteer: Volunteer = "", community: Community = FENGSHU, credential: Credential = DEMO_CREDENTIAL,
          address: Address = None, admin_address: AdminAddress = None, token: Token = None,
          as_json: Json = False) -> None:
    """Price a reward for the member at the till, without changing anything."""
    target = reward_name(reward)

    async def work() -> tuple[Any, Any]:
        code = await code_for(member_code_, volunteer, community, token, admin_address)
        c = terminal_client(credential, address)
        try:
            return await member_and_quote(c, code, target, quantity)
        finally:
            await c.close()

    member, q = session.run(work())
    data = {"member": member_dict(member), "reward": target, "quantity": quantity, "points": q.points,
            "available_points": q.available_points, "redeemable": q.redeemable, "refusal_reason": q.refusal_reason}
    emit(as_json, data, lambda out: out.print(
        _("member {member}: {available} points available; {reward} ×{quantity} costs [bold]{points}[/] points — "
          "{verdict}").format(
            member=member.masked_member, available=q.available_points, reward=target, quantity=quantity,
            points=q.points, verdict=_("redeemable") if q.redeemable else
            _("[red]not redeemable[/] ({reason})").format(reason=q.refusal_reason))))



@app.command("redeem")
def redeem(reward: Reward = DEMO_REWARD, quantity: Quantity = 1,
           member_code_: MemberCode = "",
           volunteer: Volunteer = "", community: Community = FENGSHU,
           request_id: Annotated[str, typer.Option(help="The till's request id (default: a fresh one); send it "
                                                        "again for the same volunteer (a new member code is "
                                                        "fine) to retry without charging twice.")] = "",
           credential: Credential = DEMO_CREDENTIAL, address: Address = None, admin_address: AdminAddress = None,
           token: Token = None, as_json: Json = False) -> None:
    """Member code → resolve → quote → redeem, retrying a lost reply with the same request id."""
    target = reward_name(reward)
    rid = request_id or f"cli-{uuid.uuid4().hex}"

    async def work() -> tuple[Any, Any, Any]:
        code = await code_for(member_code_, volunteer, community, token, admin_address)
        c = terminal_client(credential, address)
        try:
            member, q = await member_and_quote(c, code, target, quantity)
            stub = c.stub(pos_pb2_grpc.PosServiceStub)
            request = pos_pb2.RedeemRequest(reward=target, member_session=member.member_session, quantity=quantity,
                                            request_id=rid, expected_points=q.points)
            reply = await c.change(redeem_with_retry(stub, request, c.metadata), rid)
            return member, q, reply.redemption
        finally:
            await c.close()

    member, q, r = session.run(work())
    data = {"member": member_dict(member), "quoted_points": q.points,
            "redemption": {"name": r.name, "request_id": r.request_id, "reward": target, "reward_name": r.reward_name,
                           "quantity": r.quantity, "points": r.points,
                           "state": enum_name(resources_pb2.RedemptionState.Name(r.state), "REDEMPTION_STATE_"),
                           "transfer_id": r.transfer_id, "commit_time": when(r.commit_time)}}
    emit(as_json, data, lambda out: out.print(
        _("member {member} ({available} points available)\nredeemed: {name} {reward} ×{quantity} for "
          "[bold]{points}[/] points (request id {request_id})").format(
            member=member.masked_member, available=member.available_points, name=r.name, reward=r.reward_name,
            quantity=r.quantity, points=r.points, request_id=r.request_id)))
