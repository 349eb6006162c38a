"""The `linli` command: every area's commands under one typer app, plus the runtime's
`token` and `platform` commands. Failures of any command end here as one line on stderr and
the exit code of `linli_cli.errors.ExitCode`."""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from linli_cli import awards, compound, help_requests, login, org, pos, roster, settlement, volunteers
from linli_cli.errors import CliError, ExitCode, one_line
from linli_runtime.cli import platform_app, token_app

try:  # typer ≥ 0.2x carries its own copy of click
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import UsageError  # type: ignore[assignment]


class LinliGroup(TyperGroup):
    """Turns a CliError raised anywhere below into `error: <reason>` and its exit code, and a
    usage error (a missing or malformed argument) into one line as well, exit code 2."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except CliError as exc:
            print(f"error: {one_line(exc.message)}", file=sys.stderr)
            ctx.exit(int(exc.code))
        except UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            print(f"error: {one_line(exc.format_message())} (see {where} --help)", file=sys.stderr)
            ctx.exit(int(ExitCode.USAGE))


app = typer.Typer(
    cls=LinliGroup,
    help="Linli (邻里): trust-based property governance and volunteer points — the operators' console.\n\n"
         "Exit codes: 0 ok, 1 refused/failed, 2 usage or invalid argument, 3 not signed in or token expired, "
         "4 not found, 5 service unreachable, 6 permission denied, 7 a check failed.",
    no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
)
login.register(app)
app.add_typer(org.app, name="org")
app.add_typer(compound.app, name="compound")
app.add_typer(volunteers.app, name="volunteers")
app.add_typer(volunteers.pairings_app, name="pairings")
app.command("leaderboard")(awards.leaderboard)
app.add_typer(awards.year_app, name="year")
app.add_typer(roster.app, name="roster")
app.add_typer(help_requests.app, name="help-requests")
app.add_typer(settlement.app, name="settlement")
app.add_typer(pos.app, name="pos")
app.add_typer(token_app, name="token")
app.add_typer(platform_app, name="platform")
