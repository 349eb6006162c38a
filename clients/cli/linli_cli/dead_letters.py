"""`linli dead-letters`: the events a service's consumers gave up on (linli.runtime.v1.DeadLetterService,
served by every service) — list them with their reasons, show one, replay it through its
consumer once the cause is fixed, or discard it. Replays and discards need `--reason`; the
service records who did it and when, and announces it. Operators only (platform administrators,
city operators within their city).

A dead letter is named `SERVICE/ID` (`volunteer-points/12`), as the list shows it."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

import typer
from rich.console import Console

from linli.runtime.v1 import dead_letters_pb2 as pb
from linli.runtime.v1 import dead_letters_pb2_grpc as pb_grpc
from linli_cli import session
from linli_cli.errors import CliError, ExitCode, usage
from linli_cli.export import exportable
from linli_cli.i18n import _
from linli_cli.output import Json, Token, emit, enum_name, local, note, titled, when
from linli_runtime.registry import installed_services

app = typer.Typer(help="Events the services' consumers gave up on: list, show, replay, discard.",
                  no_args_is_help=True)
STATES = {"pending": pb.DEAD_LETTER_STATE_PENDING, "replayed": pb.DEAD_LETTER_STATE_REPLAYED,
          "discarded": pb.DEAD_LETTER_STATE_DISCARDED, "all": pb.DEAD_LETTER_STATE_UNSPECIFIED}
Reason = Annotated[str, typer.Option("--reason", help="Why (required): kept with the dead letter and announced.")]
RequestId = Annotated[str | None, typer.Option("--request-id", help="Reuse to retry without acting twice.")]


def platform_services() -> list[str]:
    """Every service that serves dead letters (each platform service; not the web portal)."""
    return [d.name for d in installed_services() if d.protocol == "grpc"]


def parse_name(value: str) -> tuple[str, str]:
    """`volunteer-points/12` (or `volunteer-points/deadLetters/12`) → (service, `deadLetters/12`)."""
    match = re.fullmatch(r"([a-z0-9-]+)/(?:deadLetters/)?(\d{1,18})", value.strip())
    if match is None or match.group(1) not in platform_services():
        raise usage(_("NAME: {value!r} is not a dead letter: write SERVICE/ID as the list shows it (services: "
                      "{services})").format(value=value, services=", ".join(platform_services())))
    return match.group(1), f"deadLetters/{match.group(2)}"


def short(d: pb.DeadLetter) -> str:
    return f"{d.service}/{d.name.removeprefix('deadLetters/')}"


def as_dict(d: pb.DeadLetter) -> dict[str, Any]:
    return {"name": short(d), "service": d.service, "consumer": d.consumer, "stream": d.stream,
            "stream_sequence": d.stream_sequence, "event_id": d.event_id, "subject": d.subject,
            "event_type": d.event_type, "org_scope": d.org_scope, "reason": d.reason, "deliveries": d.deliveries,
            "record_time": when(d.record_time), "state": enum_name(pb.DeadLetterState.Name(d.state),
                                                                   "DEAD_LETTER_STATE_"),
            "resolved_by": d.resolved_by, "resolve_time": when(d.resolve_time),
            "resolution_reason": d.resolution_reason, "replay_outcome": d.replay_outcome,
            **({"payload_type": d.payload_type, "payload_json": d.payload_json} if d.payload_type else {})}


@app.command("list")
@exportable
def list_(service: Annotated[list[str] | None, typer.Option(
              "--service", help="Only this service (repeatable; default: every service).")] = None,
          state: Annotated[str, typer.Option(help="pending, replayed, discarded or all.")] = "pending",
          consumer: Annotated[str, typer.Option(help="Only this consumer's.")] = "",
          token: Token = None, as_json: Json = False) -> None:
    """Dead letters with their reasons, newest first, from every service (or --service)."""
    if state not in STATES:
        raise usage(_("--state: {state!r} is not one of {states}").format(state=state, states=", ".join(STATES)))
    names = service or platform_services()
    for name in names:
        if name not in platform_services():
            raise usage(_("--service: {name!r} is not a platform service ({services})").format(
                name=name, services=", ".join(platform_services())))

    async def fetch(name: str) -> list[pb.DeadLetter]:
        async with session.client(name, token) as c:
            stub = c.stub(pb_grpc.DeadLetterServiceStub)

            async def page(page_token: str) -> tuple[list[pb.DeadLetter], str]:
                reply = await c.call(stub.ListDeadLetters, pb.ListDeadLettersRequest(
                    state=STATES[state], consumer=consumer, page_size=1000, page_token=page_token))
                return list(reply.dead_letters), reply.next_page_token

            return await session.pages(page)

    async def fetch_all() -> list[pb.DeadLetter]:
        found: list[pb.DeadLetter] = []
        failures: list[CliError] = []
        for name in names:
            try:
                found += await fetch(name)
            except CliError as exc:
                if len(names) == 1 or exc.code not in (ExitCode.UNAVAILABLE, ExitCode.FAILED):
                    raise  # one service asked for, or a refusal that holds for all (permission, sign-in)
                note(f"[yellow]{name}: {exc.message}[/]")
                failures.append(exc)
        if failures and len(failures) == len(names):
            raise failures[0]
        return found

    letters = session.run(fetch_all())

    def render(out: Console) -> None:
        table = titled(_("dead letters ({state})").format(state=_(state)))
        for column in ("name", "consumer", "subject", "org scope", "deliveries", "recorded", "state", "reason"):
            table.add_column(column, overflow="fold")
        for d in letters:
            table.add_row(short(d), d.consumer, d.subject, d.org_scope, str(d.deliveries), local(d.record_time),
                          _(as_dict(d)["state"]), d.reason[:160])
        out.print(table)
        if not letters:
            out.print(_("none"))

    emit(as_json, {"dead_letters": [as_dict(d) for d in letters]}, render)


def _show(out: Console, d: pb.DeadLetter) -> None:
    data = as_dict(d)
    table = titled(_("dead letter {name}").format(name=short(d)))
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for key, value in data.items():
        if key != "payload_json" and value not in ("", None):
            table.add_row(_(key), str(value))
    out.print(table)
    if d.payload_json:
        out.print(d.payload_json, markup=False)


async def _one(name: str, token: str | None, act: Any) -> pb.DeadLetter:
    service, letter = parse_name(name)
    async with session.client(service, token) as c:
        return await act(c, c.stub(pb_grpc.DeadLetterServiceStub), letter)  # type: ignore[no-any-return]


@app.command("show")
def show(name: Annotated[str, typer.Argument(help="SERVICE/ID, as the list shows it.")],
         token: Token = None, as_json: Json = False) -> None:
    """One dead letter: where it came from, why it died, its payload, what was done with it."""

    async def act(c: session.Client, stub: Any, letter: str) -> pb.DeadLetter:
        reply: pb.GetDeadLetterResponse = await c.call(stub.GetDeadLetter, pb.GetDeadLetterRequest(name=letter))
        return reply.dead_letter

    d = session.run(_one(name, token, act))
    emit(as_json, as_dict(d), lambda out: _show(out, d))


@app.command("replay")
def replay(name: Annotated[str, typer.Argument(help="SERVICE/ID, as the list shows it.")], reason: Reason,
           request_id: RequestId = None, token: Token = None, as_json: Json = False) -> None:
    """Hand a dead letter to its consumer again (once the cause is fixed): applied at most once."""
    rid = request_id or uuid.uuid4().hex

    async def act(c: session.Client, stub: Any, letter: str) -> pb.DeadLetter:
        reply: pb.ReplayDeadLetterResponse = await c.change(stub.ReplayDeadLetter(pb.ReplayDeadLetterRequest(
            name=letter, reason=reason, request_id=rid), metadata=c.metadata or None), rid)
        return reply.dead_letter

    d = session.run(_one(name, token, act))
    emit(as_json, as_dict(d), lambda out: out.print(
        _("replayed {name} through {consumer}: {outcome} (recorded: {who}, {time}, “{reason}”)").format(
            name=short(d), consumer=d.consumer, outcome=d.replay_outcome, who=d.resolved_by,
            time=local(d.resolve_time), reason=d.resolution_reason)))


@app.command("discard")
def discard(name: Annotated[str, typer.Argument(help="SERVICE/ID, as the list shows it.")], reason: Reason,
            request_id: RequestId = None, token: Token = None, as_json: Json = False) -> None:
    """Mark a dead letter dealt with, without applying it."""
    rid = request_id or uuid.uuid4().hex

    async def act(c: session.Client, stub: Any, letter: str) -> pb.DeadLetter:
        reply: pb.DiscardDeadLetterResponse = await c.change(stub.DiscardDeadLetter(pb.DiscardDeadLetterRequest(
            name=letter, reason=reason, request_id=rid), metadata=c.metadata or None), rid)
        return reply.dead_letter

    d = session.run(_one(name, token, act))
    emit(as_json, as_dict(d), lambda out: out.print(
        _("discarded {name} (recorded: {who}, {time}, “{reason}”)").format(
            name=short(d), who=d.resolved_by, time=local(d.resolve_time), reason=d.resolution_reason)))

