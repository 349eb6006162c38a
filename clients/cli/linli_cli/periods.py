"""`linli periods close | verify`: close a compound's books for a month or quarter — the surplus
share moves to the maintenance fund and the disclosure (公示) is sealed, chained to the one
before (DisclosureService.ClosePeriod) — and verify the whole chain (VerifyDisclosureChain).

Sealing cannot be undone, so the period is always named; a retry with the same `--request-id`
returns the first seal."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

import typer
from rich.console import Console

from linli.governance.v1 import disclosure_pb2, disclosure_pb2_grpc
from linli_cli import names, session
from linli_cli.compound import GOVERNANCE, disclosure_dict, verify_chain
from linli_cli.errors import usage
from linli_cli.i18n import _
from linli_cli.output import Json, Token, emit, local, titled, yuan

app = typer.Typer(help="Close (seal) a compound's period, verify its disclosure chain.", no_args_is_help=True)

CompoundArg = Annotated[str | None, typer.Argument(
    metavar="[COMPOUND]", help="The compound's org path (default: your token's compound).")]
PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2]|Q[1-4])")


def compound_arg(given: str | None, token: str | None) -> str:
    if given:
        return names.org_path(given, "COMPOUND")
    return names.place_for(None, session.require_identity(token).scope, names.COMPOUND_DEPTH, "compound", "COMPOUND")


def period_option(value: str) -> str:
    text = value.strip().upper()
    if not PERIOD.fullmatch(text):
        raise usage(_("--period: {value!r} is not a period: YYYY-MM for a monthly compound, YYYY-Qn for a quarterly "
                      "one").format(value=value))
    return text


@app.command("close")
def close(period: Annotated[str, typer.Option(help="YYYY-MM (monthly compounds) or YYYY-Qn (quarterly); it must "
                                              "have ended.")],
          compound: CompoundArg = None,
          request_id: Annotated[str, typer.Option(help="Idempotency key (default: a fresh one); repeat it to "
                                                  "retry safely.")] = "",
          token: Token = None, as_json: Json = False) -> None:
    """Close a period: move the surplus share to the maintenance fund and seal the disclosure."""
    the_period = period_option(period)
    path = compound_arg(compound, token)

    async def work() -> disclosure_pb2.Disclosure:
        async with session.client(GOVERNANCE, token) as c:
            stub = c.stub(disclosure_pb2_grpc.DisclosureServiceStub)
            rid = request_id or uuid.uuid4().hex
            r = await c.change(stub.ClosePeriod(disclosure_pb2.ClosePeriodRequest(
                compound_path=path, period=the_period, request_id=rid)), rid)
            return r.disclosure  # type: ignore[no-any-return]

    d = session.run(work())
    data = disclosure_dict(d) | {"compound_path": path}

    def render(out: Console) -> None:
        out.print(_("[bold]{period}[/] sealed for {path} at {time}: {name}").format(
            period=d.period, path=path, time=local(d.publish_time), name=d.name))
        table = titled(_("disclosure"))
        table.add_column("")
        table.add_column("amount", justify="right")
        for label, fen in (("income", d.income_fen), ("expenses", d.expense_fen), ("surplus", d.surplus_fen),
                           ("to the maintenance fund", d.to_maintenance_fund_fen),
                           ("operating balance", d.operating_balance_fen),
                           ("maintenance fund", d.maintenance_fund_balance_fen),
                           ("pending approval (not in the figures)", d.pending_fen)):
            table.add_row(label, yuan(fen))
        out.print(table)
        out.print(_("seal {seal} (previous {previous})").format(
            seal=d.seal_hash, previous=d.previous_seal_hash or _("none: the first")))

    emit(as_json, data, render)


@app.command("verify")
def verify(compound: CompoundArg = None, token: Token = None, as_json: Json = False) -> None:
    """Recompute every seal and ledger figure of the disclosure chain; exit 7 when it is broken."""
    verify_chain(compound_arg(compound, token), token, as_json)
