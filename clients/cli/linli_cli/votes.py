"""`linli votes create | list | ballot | recount | tally | close`: owners' votes under PRC Civil
Code art. 278 (trust-governance's VoteService).

A vote is named by the id `list` shows (or a unique beginning of it) within the compound of
`--compound` or of the token's scope — a wider token has its scope searched — or by its full
name `compounds/…/votes/…`. Households are given by their path inside the vote's compound
(`b1/h101`) or in full. Paper ballots count only once a second officer has recounted them
(`recount`): until then the tally shows them apart and the vote cannot close."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console

from linli.governance.v1 import vote_pb2, vote_pb2_grpc
from linli_cli import names, session, shortids
from linli_cli.errors import CliError, usage
from linli_cli.export import exportable
from linli_cli.i18n import N_, _
from linli_cli.output import CHINA, Json, Token, emit, enum_name, local, progress, titled, when
from linli_cli.times import parse_future

app = typer.Typer(help="Owners' votes: create, list, cast and recount ballots, tally, close.", no_args_is_help=True)
GOVERNANCE = "trust-governance"
KIND = shortids.Kind(noun=N_("vote"), parent_kind="compounds", collection="votes", complete=re.compile(r"[0-9a-f]{32}"),
                     min_prefix=4, list_command="linli votes list")
SHORT = 8  # characters of a vote id shown in tables
Stub = vote_pb2_grpc.VoteServiceStub


class Matter(StrEnum):
    RAISE_MAINTENANCE_FUND = "raise_maintenance_fund"
    REBUILD = "rebuild"
    CHANGE_COMMON_USE = "change_common_use"
    USE_MAINTENANCE_FUND = "use_maintenance_fund"
    BUDGET = "budget"
    ELECT_COMMITTEE = "elect_committee"
    HIRE_TRUSTEE = "hire_trustee"
    SPENDING_APPROVAL = "spending_approval"
    OTHER = "other"


SPECIAL = {Matter.RAISE_MAINTENANCE_FUND, Matter.REBUILD, Matter.CHANGE_COMMON_USE}


CHOICES = (N_("for"), N_("against"), N_("abstain"))  # Choice's values, as people read them


class Choice(StrEnum):
    FOR = "for"
    AGAINST = "against"
    ABSTAIN = "abstain"


class State(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


Ident = Annotated[str, typer.Argument(
    metavar="VOTE", help="The vote's id as `list` shows it (or a unique beginning of it), or its full name "
    "compounds/…/votes/….")]
CompoundOption = Annotated[str | None, typer.Option(
    "--compound", help="The compound VOTE belongs to (default: your token's, when it lies in one compound; "
    "else your scope is searched).")]
Households = Annotated[list[str], typer.Option(
    "--household", help="A household, by its path in the vote's compound (b1/h101) or in full; repeat for a "
    "stack of ballots with the same choice.")]
RequestId = Annotated[str, typer.Option(help="Idempotency key (default: a fresh one); run the same command again "
                                        "with it to retry safely.")]

def choice_value(choice: Choice) -> vote_pb2.BallotChoice.ValueType:
    return vote_pb2.BallotChoice.Value("BALLOT_CHOICE_" + choice.value.upper())


def household_path(value: str, compound: str) -> str:
    """`b1/h101` → `{compound}/b1/h101`; a full path inside the compound is kept."""
    path = names.org_path(value, "--household")
    return path if path.startswith(compound + "/") else f"{compound}/{path}"


def tally_dict(t: vote_pb2.Tally) -> dict[str, Any]:
    return {"electorate_area_dm2": t.electorate_area_dm2, "electorate_households": t.electorate_households,
            "participating_area_dm2": t.participating_area_dm2,
            "participating_households": t.participating_households,
            "for_area_dm2": t.for_area_dm2, "for_households": t.for_households,
            "quorum_by_area": t.quorum_by_area, "quorum_by_households": t.quorum_by_households,
            "approved_by_area": t.approved_by_area, "approved_by_households": t.approved_by_households,
            "outcome_if_closed_now": enum_name(vote_pb2.VoteOutcome.Name(t.outcome), "VOTE_OUTCOME_")}


def vote_dict(v: vote_pb2.Vote) -> dict[str, Any]:
    return {"name": v.name, "id": KIND.ident(v.name), "compound_path": v.compound_path, "title": v.title,
            "matter": enum_name(vote_pb2.VoteMatter.Name(v.matter), "VOTE_MATTER_"), "subject": v.subject,
            "create_time": when(v.create_time), "close_time": when(v.close_time), "closed": v.closed,
            "outcome": enum_name(vote_pb2.VoteOutcome.Name(v.outcome), "VOTE_OUTCOME_"),
            "unconfirmed_paper_ballots": v.unconfirmed_paper_ballots, "tally": tally_dict(v.tally)}


def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def mark(ok: bool) -> str:
    return "[green]✓[/]" if ok else "[red]✗[/]"


def show_tally(out: Console, v: vote_pb2.Vote, verb: str = N_("vote")) -> None:
    d = vote_dict(v)
    special = d["matter"] in {m.value for m in SPECIAL}
    state = (_("closed: [bold]{outcome}[/]").format(outcome=_(d["outcome"])) if v.closed else
             _("open until {time}").format(time=local(v.close_time)))
    out.print((_("{verb} [bold]{id}[/] {title} ({matter}, a special matter) — {state}") if special else
               _("{verb} [bold]{id}[/] {title} ({matter}, an ordinary matter) — {state}")).format(
        verb=_(verb), id=d["id"][:SHORT], title=v.title, matter=_(d["matter"]), state=state))
    t = v.tally
    table = titled(_("{compound} — tally").format(compound=v.compound_path))
    for column in ("", "area m²", "households", "needs"):
        table.add_column(column, justify="right" if column in ("area m²", "households") else "left")
    table.add_row(_("electorate"), f"{t.electorate_area_dm2 / 100:,.2f}", str(t.electorate_households), "")
    table.add_row(_("participating"),
                  f"{t.participating_area_dm2 / 100:,.2f} ({share(t.participating_area_dm2, t.electorate_area_dm2)}) "
                  f"{mark(t.quorum_by_area)}",
                  f"{t.participating_households} ({share(t.participating_households, t.electorate_households)}) "
                  f"{mark(t.quorum_by_households)}", _("2/3 of the electorate, by area and by households"))
    table.add_row(_("for"), f"{t.for_area_dm2 / 100:,.2f} ({share(t.for_area_dm2, t.participating_area_dm2)}) "
                         f"{mark(t.approved_by_area)}",
                  f"{t.for_households} ({share(t.for_households, t.participating_households)}) "
                  f"{mark(t.approved_by_households)}",
                  _("3/4 of the participants, by area and by households") if special else
                  _("more than 1/2 of the participants, by area and by households"))
    if v.unconfirmed_paper_ballots:
        table.add_row(_("[yellow]unconfirmed paper[/]"), "", f"[yellow]{v.unconfirmed_paper_ballots}[/]",
                      _("a second officer's recount (linli votes recount)"))
    out.print(table)
    if not v.closed:
        out.print(_("outcome if closed now: [bold]{outcome}[/]").format(outcome=_(d["tally"]["outcome_if_closed_now"])))
    if v.unconfirmed_paper_ballots:
        out.print(_("[yellow]{count} paper ballot(s) not yet confirmed[/] by a second officer: not final, and the vote "
                    "cannot close until they are").format(count=v.unconfirmed_paper_ballots))


def compound_option(given: str | None) -> str | None:
    return names.org_path(given, "--compound") if given else None


async def all_votes(c: session.Client, path: str, state: vote_pb2.VoteState.ValueType = vote_pb2.VOTE_STATE_UNSPECIFIED,
                    limit: int = 0) -> list[vote_pb2.Vote]:
    stub = c.stub(Stub)

    async def page(tok: str) -> tuple[list[vote_pb2.Vote], str]:
        r = await c.call(stub.ListVotes, vote_pb2.ListVotesRequest(path=path, state=state, page_size=100,
                                                                   page_token=tok))
        return list(r.votes), r.next_page_token

    return await session.pages(page, limit)


async def resolve(c: session.Client, ident: str, compound: str | None, scope: str) -> str:
    """The full name of vote `ident`: in `--compound`, else in the compound the token lies in,
    else searched across the token's scope."""
    given = KIND.full_name(ident, "VOTE")
    if given is not None:
        return given
    KIND.checked_id(ident, "VOTE")
    path = compound or names.enclosing(scope, names.COMPOUND_DEPTH)
    if path is None and not scope:
        raise usage(_("--compound: say which compound (your token reaches the whole platform)"))
    stub = c.stub(Stub)

    async def exists(name: str) -> bool:
        return await shortids.found(c.call(stub.GetVote, vote_pb2.GetVoteRequest(name=name)))

    async def candidates() -> list[str]:
        return [v.name for v in await all_votes(c, path or scope)]

    return await shortids.resolve(KIND, ident, path, what="VOTE", area=path or scope, exists=exists,
                                  candidates=candidates)


@app.command("create")
def create(title: Annotated[str, typer.Option(help="What the owners decide, in a line.")],
           matter: Annotated[Matter, typer.Option(help="What is decided; it fixes the threshold (special matters "
                                                  "need 3/4 of participants, ordinary ones more than half).")],
           closes: Annotated[str, typer.Option(help="When voting ends: +7d, +12h, +30m, a China time "
                                               "2026-11-20 18:00, or a day 2026-11-20 (its end).")],
           compound: Annotated[str | None, typer.Argument(
               metavar="[COMPOUND]", help="The compound's org path (default: your token's compound).")] = None,
           budget: Annotated[int | None, typer.Option(help="For --matter budget: the budget year the vote "
                                                      "approves.", min=2000, max=2200)] = None,
           request_id: RequestId = "", token: Token = None, as_json: Json = False) -> None:
    """Open a vote; the compound's households are its electorate."""
    if compound:
        path = names.org_path(compound, "COMPOUND")
    else:
        path = names.place_for(None, session.require_identity(token).scope, names.COMPOUND_DEPTH, "compound",
                               "COMPOUND")
    if (budget is None) == (matter is Matter.BUDGET):
        raise usage(_("--budget: give the budget year with --matter budget, and only then"))
    close_at = parse_future(closes, "--closes", datetime.now(CHINA))
    request = vote_pb2.CreateVoteRequest(compound_path=path, title=title,
                                         matter=vote_pb2.VoteMatter.Value("VOTE_MATTER_" + matter.value.upper()),
                                         subject=f"{names.compound(path)}/budgets/{budget}" if budget else "")
    request.close_time.FromDatetime(close_at)

    async def work() -> vote_pb2.Vote:
        async with session.client(GOVERNANCE, token) as c:
            request.request_id = request_id or uuid.uuid4().hex
            r = await c.change(c.stub(Stub).CreateVote(request), request.request_id)
            return r.vote  # type: ignore[no-any-return]

    v = session.run(work())
    emit(as_json, vote_dict(v), lambda out: show_tally(out, v, N_("opened")))


@app.command("list")
@exportable
def list_votes(path: Annotated[str | None, typer.Argument(
                   metavar="[PATH]", help="A compound, or a wider place whose compounds' votes to list "
                   "(default: your token's scope).")] = None,
               state: Annotated[State | None, typer.Option(help="Only open or only closed votes.")] = None,
               limit: Annotated[int, typer.Option(help="At most N, newest first (0: all).", min=0)] = 50,
               token: Token = None, as_json: Json = False) -> None:
    """Votes, newest first, with their live tally."""
    if path:
        where = names.org_path(path)
    else:
        where = session.require_identity(token).scope
        if not where:
            raise usage(_("PATH: give a compound or a place (your token reaches the whole platform)"))
    wanted = vote_pb2.VoteState.Value("VOTE_STATE_" + state.value.upper()) if state else vote_pb2.VOTE_STATE_UNSPECIFIED

    async def fetch() -> list[vote_pb2.Vote]:
        async with session.client(GOVERNANCE, token) as c:
            return await all_votes(c, where, wanted, limit)

    found = session.run(fetch())
    data = {"path": where, "count": len(found), "votes": [vote_dict(v) for v in found]}

    def render(out: Console) -> None:
        if not found:
            out.print(_("{where}: no votes {state}").format(where=where, state=_(state.value)) if state else
                      _("{where}: no votes").format(where=where))
            return
        table = titled(_("{where} — votes").format(where=where))
        for column in ("id", "compound", "title", "matter", "closes", "state", "households", "unconfirmed"):
            table.add_column(column, justify="right" if column in ("households", "unconfirmed") else "left",
                             no_wrap=column == "id")
        for v in found:
            d = vote_dict(v)
            outcome = _(d["outcome"]) if v.closed else _("open ({outcome} now)").format(
                outcome=_(d["tally"]["outcome_if_closed_now"]))
            below = v.compound_path.removeprefix(where + "/")
            table.add_row(d["id"][:SHORT], below if below != v.compound_path else below.rsplit("/", 1)[-1], v.title,
                          _(d["matter"]), local(v.close_time), outcome,
                          f"{v.tally.participating_households}/{v.tally.electorate_households}",
                          str(v.unconfirmed_paper_ballots or ""))
        out.print(table)
        out.print("[dim]linli votes tally|ballot|recount|close VOTE[/]")

    emit(as_json, data, render)


@app.command("tally")
def tally(ident: Ident, compound: CompoundOption = None, token: Token = None, as_json: Json = False) -> None:
    """A vote's tally now: participation and approval by area and households, the outcome if it
    closed now, and the paper ballots still awaiting a recount, apart."""
    KIND.full_name(ident, "VOTE")
    given = compound_option(compound)
    who = session.require_identity(token)

    async def fetch() -> vote_pb2.Vote:
        async with session.client(GOVERNANCE, token) as c:
            name = await resolve(c, ident, given, who.scope)
            return (await c.call(c.stub(Stub).GetVote, vote_pb2.GetVoteRequest(name=name))).vote  # type: ignore[no-any-return]

    v = session.run(fetch())
    emit(as_json, vote_dict(v), lambda out: show_tally(out, v))


Entered = tuple[vote_pb2.Vote, list[dict[str, Any]]]


def enter(ident: str, compound: str | None, households: list[str], choice: Choice, request_id: str,
          token: str | None, as_json: bool, *, recount: bool, paper: bool = True) -> Entered:
    """Cast (or recount) one ballot per household, one call each with its own request id
    (`{request id}:{household hash}`, so the same command run again applies each once)."""
    KIND.full_name(ident, "VOTE")
    given = compound_option(compound)
    if not households:
        raise usage(_("--household: give at least one household"))
    who = session.require_identity(token)
    base = request_id or uuid.uuid4().hex

    async def work() -> Entered:
        async with session.client(GOVERNANCE, token) as c:
            name = await resolve(c, ident, given, who.scope)
            vote_compound = names.untilde(name.split("/")[1])
            paths = [household_path(h, vote_compound) for h in households]
            stub = c.stub(Stub)
            done: list[dict[str, Any]] = []
            latest: vote_pb2.Vote | None = None
            with progress(not as_json) as bar:
                task = bar.add_task(_("recounting ballots") if recount else _("casting ballots"), total=len(paths))
                for path in paths:
                    rid = f"{base}:{hashlib.sha256(path.encode()).hexdigest()[:16]}"
                    try:
                        if recount:
                            r = await c.change(stub.RecountPaperBallot(vote_pb2.RecountPaperBallotRequest(
                                vote=name, household_path=path, choice=choice_value(choice), request_id=rid)), rid)
                            done.append({"household_path": path, "confirmed": r.confirmed})
                        else:
                            channel = vote_pb2.BALLOT_CHANNEL_PAPER if paper else vote_pb2.BALLOT_CHANNEL_ONLINE
                            r = await c.change(stub.CastBallot(vote_pb2.CastBallotRequest(
                                vote=name, household_path=path, choice=choice_value(choice), channel=channel,
                                request_id=rid)), rid)
                            done.append({"household_path": path, "recorded": True})
                    except CliError as exc:
                        before = _("; {count} before it went through").format(count=len(done)) if done else ""
                        exc.message = f"{path.removeprefix(vote_compound + '/')}: {exc.message}{before}"
                        if not request_id:
                            exc.message += _(" (run again with --request-id {request_id} to finish the rest "
                                             "once)").format(
                                request_id=base)
                        raise
                    latest = r.vote
                    bar.advance(task)
            assert latest is not None
            return latest, done

    return session.run(work())


@app.command("ballot")
def ballot(ident: Ident, household: Households, choice: Annotated[Choice, typer.Option(help="The household's answer.")],
           paper: Annotated[bool, typer.Option("--paper", help="Paper ballots typed in by an officer (a second "
                                               "officer must recount them); without it an online ballot, cast "
                                               "with the household's own token.")] = False,
           compound: CompoundOption = None, request_id: RequestId = "",
           token: Token = None, as_json: Json = False) -> None:
    """Cast a ballot for each household given (one ballot per household)."""
    v, done = enter(ident, compound, household, choice, request_id, token, as_json, recount=False, paper=paper)
    data = {"vote": vote_dict(v), "channel": "paper" if paper else "online", "choice": choice.value, "ballots": done}

    def render(out: Console) -> None:
        out.print((_("{count} paper ballot(s) recorded: {choice}") if paper else
                   _("{count} online ballot(s) recorded: {choice}")).format(count=len(done), choice=_(choice.value)))
        show_tally(out, v)

    emit(as_json, data, render)


@app.command("recount")
def recount(ident: Ident, household: Households,
            choice: Annotated[Choice, typer.Option(help="The choice as you read it from the paper.")],
            compound: CompoundOption = None, request_id: RequestId = "",
            token: Token = None, as_json: Json = False) -> None:
    """Enter paper ballots again from the paper, as a second officer: the same choice confirms
    a ballot; a different one replaces it, to be confirmed by yet another officer."""
    v, done = enter(ident, compound, household, choice, request_id, token, as_json, recount=True)
    data = {"vote": vote_dict(v), "choice": choice.value, "recounts": done}

    def render(out: Console) -> None:
        confirmed = sum(1 for d in done if d["confirmed"])
        out.print(_("{count} paper ballot(s) confirmed").format(count=confirmed) +
                  (_(", {count} replaced (they need another officer's recount)").format(count=len(done) - confirmed)
                   if confirmed < len(done) else ""))
        show_tally(out, v)

    emit(as_json, data, render)


@app.command("close")
def close(ident: Ident, compound: CompoundOption = None, request_id: RequestId = "",
          token: Token = None, as_json: Json = False) -> None:
    """Close a vote after its close time: the outcome is final and applied (a budget vote that
    passes approves the budget)."""
    KIND.full_name(ident, "VOTE")
    given = compound_option(compound)
    who = session.require_identity(token)

    async def work() -> vote_pb2.Vote:
        async with session.client(GOVERNANCE, token) as c:
            name = await resolve(c, ident, given, who.scope)
            rid = request_id or uuid.uuid4().hex
            r = await c.change(c.stub(Stub).CloseVote(vote_pb2.CloseVoteRequest(name=name, request_id=rid)), rid)
            return r.vote  # type: ignore[no-any-return]

    v = session.run(work())
    emit(as_json, vote_dict(v), lambda out: show_tally(out, v, N_("closed")))
