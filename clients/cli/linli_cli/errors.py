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


NOT_SIGNED_IN = "not signed in or token expired: run linli login"


class CliError(Exception):
    """Stops the command: `message` goes to stderr as one line, `code` is the exit status."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def usage(message: str) -> CliError:
    return CliError(message, ExitCode.USAGE)


def one_line(message: str) -> str:
    return " ".join(message.split())


def tls_hint(details: str, ca: str) -> str:
    """What to do when a connection failed over a TLS mismatch (`ca`: the CA the channel
    trusted, "" for plaintext): a plaintext channel the server hung up on, or a handshake that
    failed. Empty when the failure looks like anything else (nothing listening)."""
    if not ca and "Socket closed" in details:
        return (" (if it speaks TLS, trust its CA: --ca FILE or LINLI_GRPC_TLS_CA; make run's is var/tls/ca.pem, "
                "found when linli runs in the repository)")
    if ca and "handshake failed" in details.lower():
        if "CERTIFICATE_VERIFY_FAILED" in details:
            return f" (its TLS certificate is not signed by the CA trusted here, {ca}: give its CA with --ca)"
        if "WRONG_VERSION_NUMBER" in details:
            return " (it does not speak TLS: LINLI_GRPC_TLS_CA= (empty) talks to it in plaintext)"
        return f" (the TLS handshake failed: {one_line(details)[-160:]})"
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
            return CliError(f"the terminal credential was refused: {message}{tag}", ExitCode.UNAUTHENTICATED)
        return CliError(f"{NOT_SIGNED_IN} ({message})", ExitCode.UNAUTHENTICATED)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return CliError(f"permission denied: {message}{tag}", ExitCode.PERMISSION_DENIED)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        if violations:
            text = "; ".join(f"{field}: {description}" for field, description in violations)
            return CliError(f"invalid argument: {one_line(text)}", ExitCode.USAGE)
        return CliError(f"invalid argument: {message}", ExitCode.USAGE)
    if code == grpc.StatusCode.NOT_FOUND:
        return CliError(f"not found: {message}{tag}", ExitCode.NOT_FOUND)
    if code == grpc.StatusCode.UNAVAILABLE and not reason:
        return CliError(f"cannot reach {service} at {address}: is `make run` running?"
                        f"{tls_hint(error.details() or '', ca)}", ExitCode.UNAVAILABLE)
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return CliError(f"{service} at {address} does not offer this call: is it older than this linli?",
                        ExitCode.FAILED)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            message = f"{service} at {address} did not answer in time"
        return CliError(f"{message}{tag}: the outcome is not known yet", ExitCode.UNAVAILABLE)
    return CliError(f"{message}{tag}", ExitCode.FAILED)
