"""Failures as a person (and a script) needs them: ONE line `error: <reason>` on stderr and an
exit code that says what kind of failure it was.

| code | meaning |
|---|---|
| 0 | success |
| 1 | refused or failed for another reason (a precondition, a conflict, an internal error) |
| 2 | usage: a bad argument, caught here or by the service (INVALID_ARGUMENT) |
| 3 | not signed in, or the token (or terminal credential) is expired or wrong |
| 4 | not found |
| 5 | a service cannot be reached, or did not answer in time |
| 6 | permission denied: outside the token's scope or role |
| 7 | a check failed: a broken disclosure chain, an unbalanced day, rejected rows under --strict |
"""

from __future__ import annotations

from enum import IntEnum

import grpc

from linli_cli.i18n import N_, _
from linli_runtime import rich_status


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    UNAUTHENTICATED = 3
    NOT_FOUND = 4
    UNAVAILABLE = 5
    PERMISSION_DENIED = 6
    CHECK_FAILED = 7


NOT_SIGNED_IN = N_("not signed in or token expired: run linli login")


class CliError(Exception):
    """Stops the command: `message` goes to stderr as one line, `code` is the exit status."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED, *, unreached: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.unreached = unreached  # the service was never reached: nothing can have been applied


def usage(message: str) -> CliError:
    return CliError(message, ExitCode.USAGE)


def one_line(message: str) -> str:
    return " ".join(message.split())


def tls_hint(details: str, ca: str) -> str:
    """What to do when a connection failed over a TLS mismatch (`ca`: the CA the channel
    trusted, "" for plaintext): a plaintext channel the server hung up on, or a handshake that
    failed. Empty when the failure looks like anything else (nothing listening)."""
    if not ca and "Socket closed" in details:
        return _(" (if it speaks TLS, trust its CA: --ca FILE or LINLI_GRPC_TLS_CA; make run's is var/tls/ca.pem, "
                 "found when linli runs in the repository)")
    if ca and "handshake failed" in details.lower():
        if "CERTIFICATE_VERIFY_FAILED" in details:
            return _(" (its TLS certificate is not signed by the CA trusted here, {ca}: give its CA with --ca)").format(
                ca=ca)
        if "WRONG_VERSION_NUMBER" in details:
            return _(" (it does not speak TLS: LINLI_GRPC_TLS_CA= (empty) talks to it in plaintext)")
        return _(" (the TLS handshake failed: {details})").format(details=one_line(details)[-160:])
    return ""


def from_rpc(error: grpc.aio.AioRpcError, service: str, address: str, *, terminal: bool = False,
             ca: str = "") -> CliError:
    """The one-line reason and exit code for a failed call to `service` at `address`.

    A status the service raised itself carries an ErrorInfo; UNAVAILABLE without one is the
    channel failing to connect (`ca`: the CA it trusted, "" for plaintext — a TLS mismatch gets
    a hint). `terminal` marks calls made with a POS terminal's credential (whose UNAUTHENTICATED
    means the credential, not the operator's sign-in)."""
    code = error.code()
    message = one_line(error.details() or code.name)
    reason, violations = rich_status.details(error)
    tag = f" ({reason})" if reason and reason != code.name else ""
    if code == grpc.StatusCode.UNAUTHENTICATED:
        if terminal:
            return CliError(_("the terminal credential was refused: {message}").format(message=message + tag),
                            ExitCode.UNAUTHENTICATED)
        return CliError(f"{_(NOT_SIGNED_IN)} ({message})", ExitCode.UNAUTHENTICATED)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return CliError(_("permission denied: {message}").format(message=message + tag), ExitCode.PERMISSION_DENIED)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        if violations:
            text = "; ".join(f"{field}: {description}" for field, description in violations)
            return CliError(_("invalid argument: {message}").format(message=one_line(text)), ExitCode.USAGE)
        return CliError(_("invalid argument: {message}").format(message=message), ExitCode.USAGE)
    if code == grpc.StatusCode.NOT_FOUND:
        return CliError(_("not found: {message}").format(message=message + tag), ExitCode.NOT_FOUND)
    if code == grpc.StatusCode.UNAVAILABLE and not reason:
        return CliError(_("cannot reach {service} at {address}: is `make run` running?").format(
            service=service, address=address) + tls_hint(error.details() or "", ca), ExitCode.UNAVAILABLE,
            unreached=True)
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return CliError(_("{service} at {address} does not offer this call: is it older than this linli?").format(
            service=service, address=address), ExitCode.FAILED)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            message = _("{service} at {address} did not answer in time").format(service=service, address=address)
        return CliError(_("{message}: the outcome is not known yet").format(message=message + tag),
                        ExitCode.UNAVAILABLE)
    return CliError(f"{message}{tag}", ExitCode.FAILED)
