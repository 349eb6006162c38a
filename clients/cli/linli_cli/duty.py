"""`linli duty now | shifts | swap`: a community's duty roster in the notification service
(DutyRosterService) — who is on duty now (new help requests go to them), the weekly and dated
shifts, and swaps (on one day another worker takes a worker's shifts). The roster names people
by their accounts (`acc_…`); `swap` also takes a phone number (`accounts.resolve`), and the
account taken must hold a community worker's grant in the community."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from linli.notification.v1 import notification_pb2 as pb
from linli.notification.v1 import notification_pb2_grpc as pb_grpc
from linli_cli import accounts, names, session
from linli_cli.errors import usage
from linli_cli.export import exportable
from linli_cli.help_requests import NOTIFICATION, CommunityArg, community_arg
from linli_cli.i18n import N_, _
from linli_cli.output import CHINA, Json, Token, clock_time, emit, iso, titled
from linli_cli.times import parse_moment

app = typer.Typer(help="The duty roster: who is on duty now, the shifts, swaps.", no_args_is_help=True)
Stub = pb_grpc.DutyRosterServiceStub
WEEKDAYS = ("", N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"),
            N_("Sunday"))


@app.command("now")
def now(community: CommunityArg = None,
        at: Annotated[str | None, typer.Option(help="Another moment: 2026-11-07 11:00 (China time), +2h, …")] = None,
        token: Token = None, as_json: Json = False) -> None:
    """Who is on duty now (or --at): new help requests go to them, then the backup, then the head."""
    path = community_arg(community, token)
    moment = parse_moment(at, "--at", datetime.now(CHINA)) if at else None
    request = pb.GetOnDutyRequest(parent=names.community(path))
    if moment is not None:
        request.time.FromDatetime(moment)

    async def fetch() -> pb.GetOnDutyResponse:
        async with session.client(NOTIFICATION, token) as c:
            return await c.call(c.stub(Stub).GetOnDuty, request)

    r = session.run(fetch())
    shown_at = moment or datetime.now(CHINA)
    data = {"community_path": path, "time": iso(shown_at), "worker_id": r.worker_id, "backup_id": r.backup_id,
            "head_id": r.head_id, "duty_shift": r.duty_shift}

    def render(out: Console) -> None:
        if r.worker_id:
            out.print(_("{path} at {time}: [bold]{worker}[/] on duty, backup {backup}, head {head} "
                        "[dim]({shift})[/]").format(
                path=path, time=clock_time(shown_at), worker=r.worker_id, backup=r.backup_id or "-",
                head=r.head_id or "-", shift=r.duty_shift))
        else:
            out.print(_("{path} at {time}: nobody is rostered — requests go to the head, [bold]{head}[/]").format(
                path=path, time=clock_time(shown_at), head=r.head_id or _("(none set)")))

    emit(as_json, data, render)


def shift_dict(s: pb.DutyShift) -> dict[str, Any]:
    return {"name": s.name, "id": s.name.rsplit("/", 1)[-1], "weekday": s.weekday, "date": s.date,
            "start_time": s.start_time, "end_time": s.end_time, "worker_id": s.worker_id, "backup_id": s.backup_id,
            "note": s.note}


@app.command("shifts")
@exportable
def shifts(community: CommunityArg = None, token: Token = None, as_json: Json = False) -> None:
    """The community's shifts: weekly ones by weekday, then dated ones (a dated roster replaces the
    week's shifts that day)."""
    path = community_arg(community, token)

    async def fetch() -> list[pb.DutyShift]:
        async with session.client(NOTIFICATION, token) as c:
            stub = c.stub(Stub)

            async def page(tok: str) -> tuple[list[pb.DutyShift], str]:
                r = await c.call(stub.ListDutyShifts, pb.ListDutyShiftsRequest(
                    parent=names.community(path), page_size=100, page_token=tok))
                return list(r.duty_shifts), r.next_page_token

            return await session.pages(page)

    found = sorted(session.run(fetch()), key=lambda s: (bool(s.date), s.date, s.weekday, s.start_time))
    data = {"community_path": path, "count": len(found), "duty_shifts": [shift_dict(s) for s in found]}

    def render(out: Console) -> None:
        if not found:
            out.print(_("{path}: no duty shifts (every request goes to the head)").format(path=path))
            return
        table = titled(_("{path} — duty shifts (China time)").format(path=path))
        for column in ("day", "from", "to", "worker", "backup", "note"):
            table.add_column(column)
        for s in found:
            table.add_row(s.date or _(WEEKDAYS[s.weekday]), s.start_time, s.end_time, s.worker_id, s.backup_id, s.note)
        out.print(table)

    emit(as_json, data, render)


@app.command("swap")
def swap(date: Annotated[str, typer.Option(help="The day, YYYY-MM-DD (China time).")],
         from_worker: Annotated[str, typer.Option("--from", help="The worker whose shifts are taken: account id "
                                                  "(acc_…) or phone number.")],
         to_worker: Annotated[str, typer.Option("--to", help="The worker who takes them: account id (acc_…) or "
                                                "phone number; a community worker there.")],
         community: CommunityArg = None,
         request_id: Annotated[str, typer.Option(help="Idempotency key (default: a fresh one); repeat it to "
                                                 "retry safely.")] = "",
         token: Token = None, as_json: Json = False) -> None:
    """On one day, another worker takes a worker's shifts (as worker or as backup)."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise usage(_("--date: {value!r} is not a date written YYYY-MM-DD").format(value=date))
    path = community_arg(community, token)

    async def work() -> pb.DutySwap:
        giver = await accounts.resolve(from_worker, "--from", token)
        taker = await accounts.resolve(to_worker, "--to", token)
        async with session.client(NOTIFICATION, token) as c:
            rid = request_id or uuid.uuid4().hex
            r = await c.change(c.stub(Stub).CreateDutySwap(pb.CreateDutySwapRequest(
                parent=names.community(path), request_id=rid,
                duty_swap=pb.DutySwap(date=date, from_worker_id=giver, to_worker_id=taker))), rid)
            return r.duty_swap  # type: ignore[no-any-return]

    s = session.run(work())
    data = {"community_path": path, "name": s.name, "date": s.date, "from_worker_id": s.from_worker_id,
            "to_worker_id": s.to_worker_id}
    emit(as_json, data, lambda out: out.print(
        _("on {date} [bold]{to}[/] takes {from_}'s shifts in {path} [dim]({name})[/]").format(
            date=s.date, to=s.to_worker_id, from_=s.from_worker_id, path=path, name=s.name)))
