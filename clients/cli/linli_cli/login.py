"""`linli login | logout | whoami`: a local token signed with the platform's key
(LINLI_JWT_SECRET, the development key under `make run`), kept in the config directory."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from linli_cli import session
from linli_cli.errors import NOT_SIGNED_IN, CliError, ExitCode, usage
from linli_cli.output import Json, Token, clock_time, emit, iso
from linli_runtime.auth import Role, TokenSigner, normalize_path
from linli_runtime.errors import InvalidArgument
from linli_runtime.settings import ServiceSettings


def login(
    role: Annotated[Role, typer.Option(help="What you may do.", case_sensitive=False)],
    scope: Annotated[str, typer.Option(help="Org path you may reach, e.g. chengdu/chongzhou ('' = everything).")],
    subject: Annotated[str, typer.Option(help="Who you are (person or worker id).")] = "local-operator",
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.", min=60, max=30 * 24 * 3600)] = 12 * 3600,
    as_json: Json = False,
) -> None:
    """Sign in: issue a token for ROLE within SCOPE and store it (mode 0600)."""
    try:
        normalized = normalize_path(scope)
    except InvalidArgument as exc:
        raise usage(f"--scope: {exc.violations[0].description if exc.violations else exc.message}") from None
    settings = ServiceSettings()
    try:
        token = TokenSigner(settings.jwt_secret, settings.jwt_issuer).issue(
            subject, role=role, scope=normalized, ttl_seconds=ttl)
    except ValueError as exc:  # a signing key that is too short
        raise CliError(f"cannot sign a token: {exc}") from None
    path = session.store_token(token)
    who = session.identity(None)
    assert who is not None
    data = {"subject": subject, "role": role.value, "scope": normalized, "expires_at": iso(who.expires_at),
            "token_file": str(path)}
    emit(as_json, data, lambda out: out.print(
        f"signed in as [bold]{subject}[/] ({role.value}, scope {normalized or '(everything)'}) until "
        f"{clock_time(who.expires_at)}; token stored in {path}"))


def logout(as_json: Json = False) -> None:
    """Sign out: forget the stored token."""
    removed = session.forget_token()
    path = session.token_file()
    emit(as_json, {"signed_out": True, "removed": removed, "token_file": str(path)},
         lambda out: out.print(f"signed out (removed {path})" if removed else "already signed out"))


def whoami(token: Token = None, as_json: Json = False) -> None:
    """Show who the CLI acts as: subject, role, scope and when the token expires."""
    who = session.identity(token)
    if who is None:
        raise CliError(NOT_SIGNED_IN, ExitCode.UNAUTHENTICATED)
    c = who.claims
    data = {"subject": c.get("sub", ""), "role": c.get("role", ""), "scope": c.get("scope", ""),
            "kind": c.get("kind", ""), "expires_at": iso(who.expires_at), "expired": who.expired,
            "source": who.source}

    def render(out: Console) -> None:
        table = Table(show_header=False, box=None)
        for key in ("subject", "role", "scope", "kind", "expires_at", "source"):
            table.add_row(key, str(data[key]) or "(everything)" if key == "scope" else str(data[key]))
        out.print(table)

    emit(as_json, data, render)
    if who.expired:
        raise CliError(f"{NOT_SIGNED_IN} (it expired at {clock_time(who.expires_at)})", ExitCode.UNAUTHENTICATED)

