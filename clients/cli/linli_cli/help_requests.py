"""`linli help-requests file | list | ack | resolve`: help requests in the notification
service (HelpRequestService). Mutations send a fresh request id (or `--request-id`, to retry
one safely)."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console

from linli.notification.v1 import notification_pb2 as pb
from linli.notification.v1 import notification_pb2_grpc as pb_grpc
from linli_cli import names, session
from linli_cli.errors import usage
from linli_cli.output import Json, Token, emit, enum_name, local, titled, when
from linli_cli.volunteers import Community

app = typer.Typer(help="Help requests: file, list, acknowledge, resolve.", no_args_is_help=True)
NOTIFICATION = "notification"


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


Name = Annotated[str, typer.Argument(help="The request's name, communities/{community}/helpRequests/{id}, "
                                     "as `file` and `list` print it.")]
RequestId = Annotated[str, typer.Option(help="Idempotency key (default: a fresh one); repeat it to retry safely.")]


def request_name(value: str) -> str:
    if not value.startswith("communities/") or "/helpRequests/" not in value:
        raise usage(f"NAME: {value!r} is not a help request name (communities/…/helpRequests/…)")
    return value


def request_dict(h: pb.HelpRequest) -> dict[str, Any]:
    return {"name": h.name, "community_path": h.community_path, "compound_path": h.compound_path,
            "status": enum_name(pb.Status.Name(h.status), "STATUS_"), "category": h.category,
            "urgency": enum_name(pb.Urgency.Name(h.urgency), "URGENCY_"), "description": h.description,
            "reporter_id": h.reporter_id, "reporter_role": enum_name(pb.ReporterRole.Name(h.reporter_role),
                                                                     "REPORTER_ROLE_"),
            "on_behalf_of": h.on_behalf_of, "contact": h.contact, "assignee_id": h.assignee_id,
            "escalation_level": h.escalation_level, "acknowledge_by": when(h.acknowledge_by),
            "create_time": when(h.create_time), "update_time": when(h.update_time),
            "resolution": h.resolution, "helper_ids": list(h.helper_ids),
            "suggestions": [{"provider": s.provider, "display_name": s.display_name, "phone": s.phone}
                            for s in h.suggestions],
            "follow_ups": [{"name": f.name, "day_offset": f.day_offset, "due_time": when(f.due_time), "done": f.done}
                           for f in h.follow_ups]}


def show_one(out: Console, h: pb.HelpRequest, verb: str) -> None:
    d = request_dict(h)
    out.print(f"{verb} [bold]{h.name}[/]")
    out.print(f"  status {d['status']}, assigned to {h.assignee_id or '-'} (escalation level {h.escalation_level})"
              + (f", acknowledge by {local(h.acknowledge_by)}" if h.HasField("acknowledge_by") else ""))
    out.print(f"  {d['urgency']} {h.category}: {h.description}")
    for s in h.suggestions:
        out.print(f"  open now: {s.display_name} {s.phone}")
    if h.resolution:
        out.print(f"  resolution: {h.resolution}" + (f" (helpers {', '.join(h.helper_ids)})" if h.helper_ids else ""))
    for f in h.follow_ups:
        out.print(f"  follow-up day {f.day_offset}: due {local(f.due_time)}{' (done)' if f.done else ''}")


@app.command("file")
def file_request(community: Community,
                 category: Annotated[Category, typer.Option(help="What kind of help.")],
                 description: Annotated[str, typer.Option(help="What is needed, in a sentence or two.")],
                 urgency: Annotated[Urgency, typer.Option(help="How soon someone must acknowledge.")] = Urgency.NORMAL,
                 reporter_role: Annotated[Reporter, typer.Option(help="Who reports it.")] = Reporter.WORKER,
                 on_behalf_of: Annotated[str, typer.Option(help="The person who needs help.")] = "",
                 contact: Annotated[str, typer.Option(help="Phone or WeChat id to reach them.")] = "",
                 compound: Annotated[str, typer.Option(help="Compound org path where they live.")] = "",
                 request_id: RequestId = "",
                 token: Token = None, as_json: Json = False) -> None:
    """File a help request; it is routed to the worker on duty now."""
    path = names.org_path(community, "COMMUNITY")
    fields = pb.HelpRequest(category=category.value, description=description,
                            urgency=pb.Urgency.Value("URGENCY_" + urgency.value.upper()),
                            reporter_role=pb.ReporterRole.Value("REPORTER_ROLE_" + reporter_role.value.upper()),
                            on_behalf_of=on_behalf_of, contact=contact,
                            compound_path=names.org_path(compound, "--compound") if compound else "")

    async def work() -> pb.HelpRequest:
        async with session.client(NOTIFICATION, token) as c:
            stub = c.stub(pb_grpc.HelpRequestServiceStub)
            rid = request_id or uuid.uuid4().hex
            r = await c.change(stub.CreateHelpRequest(pb.CreateHelpRequestRequest(
                parent=names.community(path), help_request=fields, request_id=rid)), rid)
            return r.help_request  # type: ignore[no-any-return]

    h = session.run(work())
    emit(as_json, request_dict(h), lambda out: show_one(out, h, "filed"))


@app.command("list")
def list_requests(community: Community,
                  status: Annotated[Status | None, typer.Option(help="Only requests in this status.")] = None,
                  assignee: Annotated[str, typer.Option(help="Only requests this person is responsible for.")] = "",
                  limit: Annotated[int, typer.Option(help="At most N, newest first (0: all).", min=0)] = 50,
                  token: Token = None, as_json: Json = False) -> None:
    """A community's help requests, newest first."""
    path = names.org_path(community, "COMMUNITY")
    wanted = pb.Status.Value("STATUS_" + status.value.upper()) if status else pb.STATUS_UNSPECIFIED

    async def fetch() -> list[pb.HelpRequest]:
        async with session.client(NOTIFICATION, token) as c:
            stub = c.stub(pb_grpc.HelpRequestServiceStub)

            async def page(tok: str) -> tuple[list[pb.HelpRequest], str]:
                r = await c.call(stub.ListHelpRequests, pb.ListHelpRequestsRequest(
                    parent=names.community(path), status=wanted, assignee_id=assignee, page_size=100,
                    page_token=tok))
                return list(r.help_requests), r.next_page_token

            return await session.pages(page, limit)

    found = session.run(fetch())
    data = {"community_path": path, "count": len(found), "help_requests": [request_dict(h) for h in found]}

    def render(out: Console) -> None:
        if not found:
            out.print(f"{path}: no help requests" + (f" {status.value}" if status else ""))
            return
        table = titled(f"{path} — help requests")
        for column in ("filed", "id", "status", "urgency", "category", "assignee", "description"):
            table.add_column(column)
        for h in found:
            table.add_row(local(h.create_time), h.name.rsplit("/", 1)[-1],
                          enum_name(pb.Status.Name(h.status), "STATUS_"),
                          enum_name(pb.Urgency.Name(h.urgency), "URGENCY_"), h.category, h.assignee_id,
                          h.description[:60])
        out.print(table)
        out.print(f"[dim]names: {names.community(path)}/helpRequests/<id>[/]")

    emit(as_json, data, render)


@app.command("ack")
def acknowledge(name: Name, request_id: RequestId = "", token: Token = None, as_json: Json = False) -> None:
    """Acknowledge a request: you take it, and its escalation stops."""
    target = request_name(name)

    async def work() -> pb.HelpRequest:
        async with session.client(NOTIFICATION, token) as c:
            stub = c.stub(pb_grpc.HelpRequestServiceStub)
            rid = request_id or uuid.uuid4().hex
            r = await c.change(stub.AcknowledgeHelpRequest(pb.AcknowledgeHelpRequestRequest(
                name=target, request_id=rid)), rid)
            return r.help_request  # type: ignore[no-any-return]

    h = session.run(work())
    emit(as_json, request_dict(h), lambda out: show_one(out, h, "acknowledged"))


@app.command("resolve")
def resolve(name: Name,
            resolution: Annotated[str, typer.Option(help="What was done.")],
            helper: Annotated[list[str] | None, typer.Option(help="A volunteer who helped (repeat for several; "
                                                             "they earn the community's points).")] = None,
            request_id: RequestId = "", token: Token = None, as_json: Json = False) -> None:
    """Resolve a request: the need is met; follow-ups are scheduled and helpers credited."""
    target = request_name(name)

    async def work() -> pb.HelpRequest:
        async with session.client(NOTIFICATION, token) as c:
            stub = c.stub(pb_grpc.HelpRequestServiceStub)
            rid = request_id or uuid.uuid4().hex
            r = await c.change(stub.ResolveHelpRequest(pb.ResolveHelpRequestRequest(
                name=target, resolution=resolution, helper_ids=helper or [], request_id=rid)), rid)
            return r.help_request  # type: ignore[no-any-return]

    h = session.run(work())
    emit(as_json, request_dict(h), lambda out: show_one(out, h, "resolved"))
