"""`linli help-requests file | list | show | ack | start | resolve | follow-up | thanks | close |
cancel`: help requests in the notification service (HelpRequestService), from intake to the
thanks.

A request is named by the id `list` shows (`h-1a2b…`, or a unique beginning of it) within
the community of `--community` or of the token's scope, or by its full name
(`communities/…/helpRequests/h-…`); see linli_cli.shortids. Who needs help and how to reach
them (for whom, contact, compound) are shown whenever the service returns them to the
caller. Mutations send a fresh request id (or `--request-id`, to retry one safely)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console

from linli.notification.v1 import notification_pb2 as pb
from linli.notification.v1 import notification_pb2_grpc as pb_grpc
from linli_cli import names, session, shortids
from linli_cli.errors import CliError, usage
from linli_cli.export import exportable
from linli_cli.i18n import N_, _
from linli_cli.output import Json, Token, emit, enum_name, local, titled, when

app = typer.Typer(help="Help requests: file, list, show, acknowledge, start, resolve, follow up, thank, close, "
                       "cancel.", no_args_is_help=True)
NOTIFICATION = "notification"
KIND = shortids.Kind(noun=N_("help request"), parent_kind="communities", collection="helpRequests",
                     complete=re.compile(r"h-[0-9a-f]{16}"), min_prefix=4, list_command="linli help-requests list")
Stub = pb_grpc.HelpRequestServiceStub


CATEGORIES = (N_("meal"), N_("medical"), N_("repair"), N_("companionship"), N_("errand"), N_("banner"),
              N_("message"))  # Category's and ThanksKind's values, as people read them


class Category(StrEnum):
    MEAL = "meal"
    MEDICAL = "medical"
    REPAIR = "repair"
    COMPANIONSHIP = "companionship"
    ERRAND = "errand"
    OTHER = "other"


class Urgency(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"


class Reporter(StrEnum):
    RESIDENT = "resident"
    NEIGHBOUR = "neighbour"
    CANTEEN_STAFF = "canteen_staff"
    WORKER = "worker"


class Status(StrEnum):
    SUBMITTED = "submitted"
    ASSIGNED = "assigned"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    FOLLOWED_UP = "followed_up"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class ThanksKind(StrEnum):
    BANNER = "banner"
    MESSAGE = "message"


CommunityArg = Annotated[str | None, typer.Argument(
    metavar="[COMMUNITY]", help="The community's org path, e.g. chengdu/jinjiang/chenglonglu/fengshu "
    "(default: your token's, when it lies in one community).")]
Ident = Annotated[str, typer.Argument(
    metavar="ID", help="The request's id as `list` shows it (or a unique beginning of it, e.g. h-1a2b), "
    "or its full name communities/…/helpRequests/h-….")]
CommunityOption = Annotated[str | None, typer.Option(
    "--community", help="The community ID belongs to (default: your token's, when it lies in one community).")]
RequestId = Annotated[str, typer.Option(help="Idempotency key (default: a fresh one); repeat it to retry safely.")]


def status_word(value: pb.Status.ValueType) -> str:
    return enum_name(pb.Status.Name(value), "STATUS_")


def request_dict(h: pb.HelpRequest) -> dict[str, Any]:
    return {"name": h.name, "id": KIND.ident(h.name), "community_path": h.community_path,
            "compound_path": h.compound_path, "status": status_word(h.status), "category": h.category,
            "urgency": enum_name(pb.Urgency.Name(h.urgency), "URGENCY_"), "description": h.description,
            "reporter_id": h.reporter_id, "reporter_role": enum_name(pb.ReporterRole.Name(h.reporter_role),
                                                                     "REPORTER_ROLE_"),
            "on_behalf_of": h.on_behalf_of, "contact": h.contact, "assignee_id": h.assignee_id,
            "escalation_level": h.escalation_level, "acknowledge_by": when(h.acknowledge_by),
            "create_time": when(h.create_time), "update_time": when(h.update_time),
            "resolution": h.resolution, "helper_ids": list(h.helper_ids),
            "suggestions": [{"provider": s.provider, "display_name": s.display_name, "phone": s.phone}
                            for s in h.suggestions],
            "follow_ups": [{"name": f.name, "day_offset": f.day_offset, "due_time": when(f.due_time),
                            "assignee_id": f.assignee_id, "done": f.done, "done_by": f.done_by,
                            "done_time": when(f.done_time), "note": f.note, "early_reason": f.early_reason}
                           for f in h.follow_ups],
            "thanks": [{"kind": t.kind, "text": t.text, "from": getattr(t, "from"),
                        "recipient_ids": list(t.recipient_ids), "record_time": when(t.record_time),
                        "recorded_by": t.recorded_by} for t in h.thanks],
            "history": [{"from_status": status_word(c.from_status) if c.from_status else None,
                         "to_status": status_word(c.to_status), "actor_id": c.actor_id,
                         "change_time": when(c.change_time), "note": c.note,
                         "escalation_level": c.escalation_level, "assignee_id": c.assignee_id}
                        for c in h.history]}


def who_needs_help(h: pb.HelpRequest) -> str:
    """`万阿姨, 138-0000-0000, jinshang-chuntian` — as much as the service returned."""
    person = h.on_behalf_of or (h.reporter_id if h.reporter_role == pb.REPORTER_ROLE_RESIDENT else "")
    where = h.compound_path.removeprefix(h.community_path + "/") if h.compound_path else ""
    return ", ".join(part for part in (person, h.contact, where) if part)


def show_one(out: Console, h: pb.HelpRequest, verb: str, *, full: bool = False) -> None:
    d = request_dict(h)
    out.print(_("{verb} [bold]{id}[/] [dim]({name})[/]").format(verb=_(verb), id=d["id"], name=h.name))
    out.print(_("  status {status}, assigned to {assignee} (escalation level {level})").format(
        status=_(d["status"]), assignee=h.assignee_id or "-", level=h.escalation_level)
              + (_(", acknowledge by {time}").format(
                  time=local(h.acknowledge_by)) if h.HasField("acknowledge_by") else ""))
    out.print(f"  {_(d['urgency'])} {_(h.category)}: {h.description}")
    if who_needs_help(h):
        out.print(_("  who needs help: {who}").format(who=who_needs_help(h)))
    out.print(_("  filed {time} by {reporter} ({role})").format(
        time=local(h.create_time), reporter=h.reporter_id or "-", role=_(d["reporter_role"])))
    for s in h.suggestions:
        out.print(_("  open when filed: {name} {phone}").format(name=s.display_name, phone=s.phone))
    if h.resolution:
        out.print(_("  resolution: {resolution}").format(resolution=h.resolution)
                  + (_(" (helpers {helpers})").format(helpers=", ".join(h.helper_ids)) if h.helper_ids else ""))
    for f in h.follow_ups:
        early = _(" (early: {reason})").format(reason=f.early_reason) if f.early_reason else ""
        done = (_(" — done {time} by {who}{early}: {note}").format(
            time=local(f.done_time), who=f.done_by, early=early, note=f.note) if f.done
                else f" — {f.assignee_id or _('duty')}")
        out.print(_("  follow-up day {day}: due {time}").format(day=f.day_offset, time=local(f.due_time)) + done)
    for t in h.thanks:
        to = _(" to {recipients}").format(recipients=", ".join(t.recipient_ids)) if t.recipient_ids else ""
        out.print(_("  thanks ({kind}) from {sender}").format(kind=_(t.kind), sender=getattr(t, "from") or "-")
                  + f"{to}: {t.text}")
    if full and h.history:
        table = titled(_("history"))
        for column in ("when", "from", "to", "by", "assignee", "note"):
            table.add_column(column)
        for c in h.history:
            table.add_row(local(c.change_time), _(status_word(c.from_status)) if c.from_status else "",
                          _(status_word(c.to_status)), c.actor_id, c.assignee_id, c.note)
        out.print(table)


def community_arg(given: str | None, token: str | None, what: str = "COMMUNITY") -> str:
    if given:
        return names.org_path(given, what)
    return names.place_for(None, session.require_identity(token).scope, names.COMMUNITY_DEPTH, "community", what)


async def all_requests(c: session.Client, parent: str, status: pb.Status.ValueType = pb.STATUS_UNSPECIFIED,
                       assignee: str = "", limit: int = 0) -> list[pb.HelpRequest]:
    stub = c.stub(Stub)

    async def page(tok: str) -> tuple[list[pb.HelpRequest], str]:
        r = await c.call(stub.ListHelpRequests, pb.ListHelpRequestsRequest(
            parent=parent, status=status, assignee_id=assignee, page_size=100, page_token=tok))
        return list(r.help_requests), r.next_page_token

    return await session.pages(page, limit)


async def resolve(c: session.Client, ident: str, community: str | None, scope: str) -> str:
    """The full name of request `ident` (see linli_cli.shortids): in `--community`, else in
    the community the token lies in, else searched across the token's scope."""
    given = KIND.full_name(ident, "ID")
    if given is not None:
        return given
    KIND.checked_id(ident, "ID")
    path = names.org_path(community, "--community") if community else names.enclosing(scope, names.COMMUNITY_DEPTH)
    stub = c.stub(Stub)

    async def exists(name: str) -> bool:
        return await shortids.found(c.call(stub.GetHelpRequest, pb.GetHelpRequestRequest(name=name)))

    async def candidates() -> list[str]:
        # `communities/-`: every community within the caller's scope (AIP-159).
        return [h.name for h in await all_requests(c, names.community(path) if path else "communities/-")]

    return await shortids.resolve(KIND, ident, path, what="ID", area=path or scope or _("the platform"),
                                  exists=exists, candidates=candidates)


def change(ident: str, community: str | None, token: str | None, request_id: str,
           call: Callable[[Any, str, str, pb.HelpRequest | None], Awaitable[Any]], *,
           needs_current: bool = False) -> pb.HelpRequest:
    """Resolve ID, then make one change to it with a request id; the request as it is after.
    `needs_current` fetches the request first (for a change that depends on it)."""
    KIND.full_name(ident, "ID")  # a malformed name is a usage error before anything else
    if community:
        names.org_path(community, "--community")
    who = session.require_identity(token)

    async def work() -> pb.HelpRequest:
        async with session.client(NOTIFICATION, token) as c:
            stub = c.stub(Stub)
            name = await resolve(c, ident, community, who.scope)
            current = None
            if needs_current:
                current = (await c.call(stub.GetHelpRequest, pb.GetHelpRequestRequest(name=name))).help_request
            rid = request_id or uuid.uuid4().hex
            r = await c.change(call(stub, name, rid, current), rid)
            return r.help_request  # type: ignore[no-any-return]

    return session.run(work())


@app.command("file")
def file_request(category: Annotated[Category, typer.Option(help="What kind of help.")],
                 description: Annotated[str, typer.Option(help="What is needed, in a sentence or two.")],
                 community: CommunityArg = None,
                 urgency: Annotated[Urgency, typer.Option(help="How soon someone must acknowledge.")] = Urgency.NORMAL,
                 reporter_role: Annotated[Reporter, typer.Option(help="Who reports it.")] = Reporter.WORKER,
                 on_behalf_of: Annotated[str, typer.Option(help="The person who needs help.")] = "",
                 contact: Annotated[str, typer.Option(help="Phone or WeChat id to reach them.")] = "",
                 compound: Annotated[str, typer.Option(help="Compound org path where they live.")] = "",
                 request_id: RequestId = "",
                 token: Token = None, as_json: Json = False) -> None:
    """File a help request; it is routed to the worker on duty now."""
    compound_path = names.org_path(compound, "--compound") if compound else ""
    if community:
        path = names.org_path(community, "COMMUNITY")
    else:
        if not compound_path:  # a canteen's or a resident's token lies in one compound: theirs
            compound_path = names.enclosing(session.require_identity(token).scope, names.COMPOUND_DEPTH) or ""
        if compound_path:
            path = names.enclosing(compound_path, names.COMMUNITY_DEPTH) or ""
            if not path or path == compound_path:
                raise usage(_("--compound: {path} is not a compound (give its whole org path)").format(
                    path=compound_path))
        else:
            path = community_arg(None, token)
    fields = pb.HelpRequest(category=category.value, description=description,
                            urgency=pb.Urgency.Value("URGENCY_" + urgency.value.upper()),
                            reporter_role=pb.ReporterRole.Value("REPORTER_ROLE_" + reporter_role.value.upper()),
                            on_behalf_of=on_behalf_of, contact=contact, compound_path=compound_path)

    async def work() -> pb.HelpRequest:
        async with session.client(NOTIFICATION, token) as c:
            stub = c.stub(Stub)
            rid = request_id or uuid.uuid4().hex
            r = await c.change(stub.CreateHelpRequest(pb.CreateHelpRequestRequest(
                parent=names.community(path), help_request=fields, request_id=rid)), rid)
            return r.help_request  # type: ignore[no-any-return]

    h = session.run(work())
    emit(as_json, request_dict(h), lambda out: show_one(out, h, N_("filed")))


@app.command("list")
@exportable
def list_requests(community: CommunityArg = None,
                  status: Annotated[Status | None, typer.Option(help="Only requests in this status.")] = None,
                  assignee: Annotated[str, typer.Option(help="Only requests this person is responsible for.")] = "",
                  limit: Annotated[int, typer.Option(help="At most N, newest first (0: all).", min=0)] = 50,
                  token: Token = None, as_json: Json = False) -> None:
    """A community's help requests, newest first, with who needs help and how to reach them."""
    path = community_arg(community, token)
    wanted = pb.Status.Value("STATUS_" + status.value.upper()) if status else pb.STATUS_UNSPECIFIED

    async def fetch() -> list[pb.HelpRequest]:
        async with session.client(NOTIFICATION, token) as c:
            return await all_requests(c, names.community(path), wanted, assignee, limit)

    found = session.run(fetch())
    data = {"community_path": path, "count": len(found), "help_requests": [request_dict(h) for h in found]}

    def render(out: Console) -> None:
        if not found:
            out.print(_("{path}: no help requests {status}").format(path=path, status=_(status.value)) if status else
                      _("{path}: no help requests").format(path=path))
            return
        table = titled(_("{path} — help requests").format(path=path))
        for column in ("filed", "id", "status", "urgency", "category", "who needs help", "assignee", "description"):
            table.add_column(column, no_wrap=column == "id")
        for h in found:
            table.add_row(local(h.create_time), KIND.ident(h.name), _(status_word(h.status)),
                          _(enum_name(pb.Urgency.Name(h.urgency), "URGENCY_")), _(h.category), who_needs_help(h),
                          h.assignee_id, h.description[:60])
        out.print(table)
        out.print("[dim]linli help-requests show|ack|start|resolve|follow-up|thanks|close|cancel ID[/]")

    emit(as_json, data, render)


@app.command("show")
def show(ident: Ident, community: CommunityOption = None, token: Token = None, as_json: Json = False) -> None:
    """One request: who needs help and how to reach them, its history, follow-ups and thanks."""
    KIND.full_name(ident, "ID")
    if community:
        names.org_path(community, "--community")
    who = session.require_identity(token)

    async def fetch() -> pb.HelpRequest:
        async with session.client(NOTIFICATION, token) as c:
            name = await resolve(c, ident, community, who.scope)
            r = await c.call(c.stub(Stub).GetHelpRequest, pb.GetHelpRequestRequest(name=name))
            return r.help_request  # type: ignore[no-any-return]

    h = session.run(fetch())
    emit(as_json, request_dict(h), lambda out: show_one(out, h, N_("help request"), full=True))


@app.command("ack")
def acknowledge(ident: Ident, community: CommunityOption = None, request_id: RequestId = "",
                token: Token = None, as_json: Json = False) -> None:
    """Acknowledge a request: you take it, and its escalation stops."""
    h = change(ident, community, token, request_id, lambda stub, name, rid, _: stub.AcknowledgeHelpRequest(
        pb.AcknowledgeHelpRequestRequest(name=name, request_id=rid)))
    emit(as_json, request_dict(h), lambda out: show_one(out, h, N_("acknowledged")))


@app.command("start")
def start(ident: Ident, note: Annotated[str, typer.Option(help="What is being done, e.g. a meal ordered.")] = "",
          community: CommunityOption = None, request_id: RequestId = "",
          token: Token = None, as_json: Json = False) -> None:
    """Mark work on a request begun."""
    h = change(ident, community, token, request_id, lambda stub, name, rid, _: stub.StartHelpRequest(
        pb.StartHelpRequestRequest(name=name, request_id=rid, note=note)))
    emit(as_json, request_dict(h), lambda out: show_one(out, h, N_("started")))


@app.command("resolve")
def resolve_request(ident: Ident,
                    resolution: Annotated[str, typer.Option(help="What was done.")],
                    helper: Annotated[list[str] | None, typer.Option(help="A volunteer who helped (repeat for "
                                                                     "several; they earn the community's "
                                                                     "points).")] = None,
                    community: CommunityOption = None, request_id: RequestId = "",
                    token: Token = None, as_json: Json = False) -> None:
    """Resolve a request: the need is met; follow-ups are scheduled and helpers credited."""
    h = change(ident, community, token, request_id, lambda stub, name, rid, _: stub.ResolveHelpRequest(
        pb.ResolveHelpRequestRequest(name=name, resolution=resolution, helper_ids=helper or [], request_id=rid)))
    emit(as_json, request_dict(h), lambda out: show_one(out, h, N_("resolved")))


def pick_follow_up(h: pb.HelpRequest, day: int | None) -> pb.FollowUp:
    """The follow-up to record: the one `day` days after resolution, else the first not done."""
    ident = KIND.ident(h.name)
    if not h.follow_ups:
        raise CliError(_("{id} has no follow-ups: they are scheduled when a request is resolved "
                         "(it is {status})").format(
            id=ident, status=_(status_word(h.status))))
    if day is not None:
        for f in h.follow_ups:
            if f.day_offset == day:
                return f
        offered = ", ".join(str(f.day_offset) for f in h.follow_ups)
        raise usage(_("--day: {id} has follow-ups on days {offered} after resolution, not {day}").format(
            id=ident, offered=offered, day=day))
    waiting = sorted((f for f in h.follow_ups if not f.done), key=lambda f: f.day_offset)
    if not waiting:
        raise CliError(_("every follow-up of {id} is done; close it with `linli help-requests close {id}`").format(
            id=ident))
    return waiting[0]


@app.command("follow-up")
def follow_up(ident: Ident,
              note: Annotated[str, typer.Option(help="How the person is doing, what was done.")],
              day: Annotated[int | None, typer.Option(help="The follow-up this many days after resolution "
                                                      "(default: the first not done).", min=1, max=365)] = None,
              early_reason: Annotated[str, typer.Option(help="Why it is done before its due time (required "
                                                        "then: the service refuses an early follow-up "
                                                        "without one).")] = "",
              community: CommunityOption = None, request_id: RequestId = "",
              token: Token = None, as_json: Json = False) -> None:
    """Record a follow-up visit or call after resolution (before its due time, say why with
    --early-reason)."""

    def record(stub: Any, name: str, rid: str, current: pb.HelpRequest | None) -> Awaitable[Any]:
        assert current is not None
        chosen = pick_follow_up(current, day)
        return stub.RecordFollowUp(pb.RecordFollowUpRequest(  # type: ignore[no-any-return]
            name=chosen.name, request_id=rid, note=note, early_reason=early_reason))

    try:
        h = change(ident, community, token, request_id, record, needs_current=True)
    except CliError as exc:
        if "FOLLOW_UP_NOT_DUE" in exc.message:
            exc.message += " (here: --early-reason \"…\")"
        raise
    emit(as_json, request_dict(h), lambda out: show_one(out, h, N_("followed up")))


@app.command("thanks")
def thanks(ident: Ident,
           text: Annotated[str, typer.Option(help="The words of thanks (on the banner, in the message).")],
           kind: Annotated[ThanksKind, typer.Option(help="A silk banner (锦旗) or a message.")] = ThanksKind.MESSAGE,
           sender: Annotated[str, typer.Option("--from", help="Who thanks, e.g. the resident.")] = "",
           to: Annotated[list[str] | None, typer.Option(help="A person thanked (repeat for several).")] = None,
           community: CommunityOption = None, request_id: RequestId = "",
           token: Token = None, as_json: Json = False) -> None:
    """Record thanks for a request and the people who helped."""
    given = pb.Thanks(kind=kind.value, text=text, recipient_ids=to or [])
    setattr(given, "from", sender)
    h = change(ident, community, token, request_id, lambda stub, name, rid, _: stub.RecordThanks(
        pb.RecordThanksRequest(name=name, request_id=rid, thanks=given)))
    emit(as_json, request_dict(h), lambda out: show_one(out, h, N_("thanked")))


@app.command("close")
def close(ident: Ident, note: Annotated[str, typer.Option(help="Why the care ends.")] = "",
          community: CommunityOption = None, request_id: RequestId = "",
          token: Token = None, as_json: Json = False) -> None:
    """Close a resolved request: the care ends."""
    h = change(ident, community, token, request_id, lambda stub, name, rid, _: stub.CloseHelpRequest(
        pb.CloseHelpRequestRequest(name=name, request_id=rid, note=note)))
    emit(as_json, request_dict(h), lambda out: show_one(out, h, N_("closed")))


@app.command("cancel")
def cancel(ident: Ident, reason: Annotated[str, typer.Option(help="Why it is withdrawn.")],
           community: CommunityOption = None, request_id: RequestId = "",
           token: Token = None, as_json: Json = False) -> None:
    """Withdraw a request that is not resolved yet (staff, or whoever filed it)."""
    h = change(ident, community, token, request_id, lambda stub, name, rid, _: stub.CancelHelpRequest(
        pb.CancelHelpRequestRequest(name=name, request_id=rid, reason=reason)))
    emit(as_json, request_dict(h), lambda out: show_one(out, h, N_("cancelled")))
