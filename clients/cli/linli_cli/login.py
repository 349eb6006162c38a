"""`linli login | logout | whoami`: signing in at the platform's issuer with the OAuth device
flow (RFC 8628) — the CLI shows a code, the person confirms it in a browser on the issuer's
page (after signing in there with phone + SMS code), and the CLI receives its tokens. Nobody
types or pastes a token; the CLI never sees the person's SMS code.

The sign-in is kept in the config directory (session.py: access + refresh token, mode 0600)
and renewed transparently; `linli logout` revokes it at the issuer and forgets it.
"""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from linli_cli import session
from linli_cli.errors import NOT_SIGNED_IN, CliError, ExitCode
from linli_cli.i18n import N_, _
from linli_cli.output import Json, Token, clock_time, emit, iso

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
Issuer = Annotated[str | None, typer.Option(
    "--issuer", help="The platform's token issuer (default: LINLI_ISSUER_URL, else make run's http://127.0.0.1:8090).")]


def _discover(client: httpx.Client, issuer: str) -> dict[str, Any]:
    try:
        reply = client.get(f"{issuer}/.well-known/openid-configuration")
    except httpx.HTTPError as exc:
        raise session.issuer_unreachable(issuer, exc) from None
    if reply.status_code != 200:
        raise CliError(_("{issuer} is not an OIDC issuer (discovery answered HTTP {status})").format(
            issuer=issuer, status=reply.status_code))
    found: dict[str, Any] = reply.json()
    if not found.get("device_authorization_endpoint"):
        raise CliError(_("the issuer at {issuer} offers no device sign-in (RFC 8628)").format(issuer=issuer))
    return found


def _say(message: str) -> None:
    """To stderr, at once: stdout stays one JSON document with --json, and a person (or a test
    reading the stream) sees the code while the CLI waits."""
    print(message, file=sys.stderr, flush=True)


def login(issuer: Issuer = None, as_json: Json = False) -> None:
    """Sign in: confirm the code shown here at the issuer's page in a browser (phone + SMS code
    there), then the CLI keeps the sign-in (mode 0600) and renews it as needed."""
    base = (issuer or session.default_issuer()).rstrip("/")
    with httpx.Client(timeout=15) as client:
        endpoints = _discover(client, base)
        try:
            started = client.post(endpoints["device_authorization_endpoint"],
                                  data={"client_id": session.CLI_CLIENT, "scope": "openid offline_access"})
        except httpx.HTTPError as exc:
            raise session.issuer_unreachable(base, exc) from None
        if started.status_code != 200:
            raise CliError(_("the issuer refused to start a sign-in: {reason}").format(reason=started.text[:200]))
        device = started.json()
        _say(_("To sign in, open {url}\nand confirm the code {code} (sign in there with your phone number and the "
               "SMS code).\nWaiting… (Ctrl-C to give up)").format(
            url=device.get("verification_uri_complete") or device["verification_uri"], code=device["user_code"]))
        tokens = _poll(client, endpoints["token_endpoint"], str(device["device_code"]), int(device.get("interval", 5)),
                       time.monotonic() + float(device.get("expires_in", 600)))
    stored = {"issuer": base, "client_id": session.CLI_CLIENT, "token_endpoint": endpoints["token_endpoint"],
              "revocation_endpoint": endpoints.get("revocation_endpoint", ""),
              "access_token": tokens["access_token"], "refresh_token": tokens.get("refresh_token", ""),
              "expires_at": time.time() + float(tokens.get("expires_in", 0))}
    path = session.store_session(stored)
    who = session.Identity(stored["access_token"], str(path), session.read_claims(stored["access_token"]))
    data = _describe(who) | {"session_file": str(path)}
    emit(as_json, data, lambda out: out.print(
        _("signed in as [bold]{name}[/] ({account}): {grants}; sign-in kept in {path}").format(
            name=data["name"], account=data["account"], grants=_grants_text(who.grants), path=path)))


def _poll(client: httpx.Client, endpoint: str, device_code: str, interval: int, deadline: float) -> dict[str, Any]:
    while time.monotonic() < deadline:
        time.sleep(interval)
        try:
            reply = client.post(endpoint, data={"grant_type": DEVICE_GRANT, "device_code": device_code,
                                                "client_id": session.CLI_CLIENT})
        except httpx.HTTPError as exc:
            raise session.issuer_unreachable(endpoint, exc) from None
        body: dict[str, Any] = reply.json()
        if reply.status_code == 200:
            return body
        error = body.get("error", "")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5
            continue
        if error == "access_denied":
            raise CliError(_("the sign-in was denied at the issuer's page"), ExitCode.UNAUTHENTICATED)
        if error == "expired_token":
            break
        raise CliError(_("the issuer refused the sign-in: {reason}").format(
            reason=body.get("error_description") or error),
                       ExitCode.UNAUTHENTICATED)
    raise CliError(_("the code expired before it was confirmed: run linli login again"), ExitCode.UNAUTHENTICATED)


def logout(as_json: Json = False) -> None:
    """Sign out: revoke the sign-in at the issuer (its refresh tokens stop at once) and forget it."""
    stored = session.forget_session()
    revoked = False
    if stored is not None and stored.get("refresh_token") and stored.get("revocation_endpoint"):
        try:
            reply = httpx.post(str(stored["revocation_endpoint"]), timeout=10, data={
                "token": stored["refresh_token"], "token_type_hint": "refresh_token",
                "client_id": stored.get("client_id", session.CLI_CLIENT)})
            revoked = reply.status_code == 200
        except httpx.HTTPError:
            revoked = False  # forgotten here all the same; the issuer's copy lapses with its lifetime
    path = session.session_file()
    data = {"signed_out": True, "removed": stored is not None, "revoked": revoked, "session_file": str(path)}
    emit(as_json, data, lambda out: out.print(
        (_("signed out (revoked at the issuer); removed {path}") if revoked else
         _("signed out; removed {path}")).format(path=path)
        if stored is not None else _("already signed out")))


def whoami(token: Token = None, as_json: Json = False,
           access_token: Annotated[bool, typer.Option(
               "--access-token", help="Print only the (renewed) access token, for grpcurl and scripts.")] = False,
           ) -> None:
    """Show who the CLI acts as: the account, its grants, and when the access token lapses."""
    who = session.identity(token)
    if who is None:
        raise CliError(_(NOT_SIGNED_IN), ExitCode.UNAUTHENTICATED)
    if access_token:
        if who.expired:
            raise CliError(_("{not_signed_in} (it expired at {time})").format(
                not_signed_in=_(NOT_SIGNED_IN), time=f"{who.expires_at:%Y-%m-%d %H:%M} UTC"),
                           ExitCode.UNAUTHENTICATED)
        print(who.token)
        return
    data = _describe(who)

    def render(out: Console) -> None:
        table = Table(show_header=False, box=None)
        for key in (N_("account"), N_("name"), N_("kind"), N_("issuer"), N_("expires_at"), N_("source")):
            table.add_row(_(key), str(data[key]))
        table.add_row(_("grants"), _grants_text(who.grants))
        out.print(table)

    emit(as_json, data, render)
    if who.expired:
        raise CliError(_("{not_signed_in} (it expired at {time})").format(
            not_signed_in=_(NOT_SIGNED_IN), time=clock_time(who.expires_at)), ExitCode.UNAUTHENTICATED)


def _describe(who: session.Identity) -> dict[str, Any]:
    c = who.claims
    return {"account": f"accounts/{c.get('sub', '')}", "subject": c.get("sub", ""), "name": c.get("name", ""),
            "kind": c.get("kind", ""), "grants": who.grants, "issuer": c.get("iss", ""),
            "expires_at": iso(who.expires_at), "expired": who.expired, "source": who.source}


def _grants_text(grants: list[dict[str, str]]) -> str:
    return ", ".join(_("{role} at {scope}").format(role=g["role"], scope=g["scope"] or _("(everything)"))
                     for g in grants) or _("no grants yet")
