"""The `linli` command: every area's commands under one typer app, plus the runtime's
`platform` commands. Failures of any command end here as one line on stderr and
the exit code of `linli_cli.errors.ExitCode`.

Areas are imported when their command runs (each brings its own gRPC stubs), so a command
starts in a fraction of the time it would take to load them all."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from linli_cli.errors import CliError, ExitCode, one_line
from linli_cli.i18n import _, install_typer_messages, localize
from linli_runtime import translation

try:  # typer ≥ 0.2x carries its own copy of click
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import UsageError  # type: ignore[assignment]

# name → (module, attribute): a typer app (a group of commands) or a function (one command).
COMMANDS: dict[str, tuple[str, str]] = {
    "login": ("linli_cli.login", "login"),
    "logout": ("linli_cli.login", "logout"),
    "whoami": ("linli_cli.login", "whoami"),
    "org": ("linli_cli.org", "app"),
    "compound": ("linli_cli.compound", "app"),
    "volunteers": ("linli_cli.volunteers", "app"),
    "pairings": ("linli_cli.volunteers", "pairings_app"),
    "leaderboard": ("linli_cli.awards", "leaderboard"),
    "year": ("linli_cli.awards", "year_app"),
    "funding": ("linli_cli.funding", "app"),
    "roster": ("linli_cli.roster", "app"),
    "help-requests": ("linli_cli.help_requests", "app"),
    "duty": ("linli_cli.duty", "app"),
    "votes": ("linli_cli.votes", "app"),
    "periods": ("linli_cli.periods", "app"),
    "adjustments": ("linli_cli.adjustments", "app"),
    "redemptions": ("linli_cli.redemptions", "app"),
    "settlement": ("linli_cli.settlement", "app"),
    "projects": ("linli_cli.projects", "app"),
    "pos": ("linli_cli.pos", "app"),
    "dead-letters": ("linli_cli.dead_letters", "app"),
    "households": ("linli_cli.households", "app"),
    "platform": ("linli_runtime.cli", "platform_app"),
}


def load(name: str) -> Any:
    """The click command for `name`, built from its module on first use."""
    module, attribute = COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)
    holder.callback()(lambda: None)  # a group, so that `holder.commands[name]` exists
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    return localize(typer.main.get_command(holder).commands[name])  # type: ignore[attr-defined]


class LinliGroup(TyperGroup):
    """Loads commands lazily; turns a CliError raised anywhere below into `error: <reason>`
    and its exit code, and a usage error (a missing or malformed argument) into one line as
    well, exit code 2. Help, messages and typer's own headings speak the run's language
    (linli_cli.i18n)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        install_typer_messages()
        # `linli platform …` lives in the runtime, which speaks through whatever translator it is
        # given (linli_runtime.translation): ours, so that its output follows the run's language too.
        translation.install(_)
        localize(self)

    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        return list(COMMANDS)

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:  # type: ignore[override]
        return load(cmd_name) if cmd_name in COMMANDS else None

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except CliError as exc:
            print(_("error: {reason}").format(reason=one_line(exc.message)), file=sys.stderr)
            ctx.exit(int(exc.code))
        except UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            print(_("error: {reason} (see {command} --help)").format(reason=one_line(exc.format_message()),
                                                                      command=where), file=sys.stderr)
            ctx.exit(int(ExitCode.USAGE))


app = typer.Typer(cls=LinliGroup, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None)


@app.callback()
def main(ca: Annotated[str | None, typer.Option(
        "--ca", metavar="FILE", help="The CA the services' TLS certificates are signed by (default: LINLI_GRPC_TLS_CA, "
        "else make run's var/tls/ca.pem when run in the repository; LINLI_GRPC_TLS_CA= (empty): plaintext).")] = None,
         ) -> None:
    """Linli (邻里): trust-based property governance and volunteer points — the operators' console.

    Sign in with `linli login` (confirm the code it shows at the issuer's page, with your phone
    number and an SMS code); every command takes --json (one JSON
    document on stdout) and --token (or LINLI_TOKEN). Services are found through
    <SERVICE>_SERVICE_ADDR (default: make run's 127.0.0.1:50051-50055), over TLS when a CA is
    trusted (--ca; make run's var/tls/ca.pem is found when run in the repository). Things are named by
    the ids the lists show, within your token's community or compound (or --community,
    --compound); times are China time with the offset (+08:00), in --json too.

    Exit codes: 0 ok, 1 refused or failed, 2 usage or invalid argument, 3 not signed in or
    token expired, 4 not found, 5 service unreachable, 6 permission denied, 7 a check failed
    (broken disclosure chain, unbalanced day, rejected rows with --strict). Language: Chinese
    where LANG, LC_ALL or LC_MESSAGES say zh_*, English otherwise; LINLI_LANG=zh or en chooses.
    """
    if ca is not None:  # what every channel of this run trusts (linli_runtime.grpc_tls.client_trust)
        os.environ["LINLI_GRPC_TLS_CA"] = ca
