"""gRPC status → one-line reason and exit code (linli_cli.errors.from_rpc), on calls failed the
way the services fail them: a google.rpc.Status with ErrorInfo and BadRequest details in the
trailing metadata, or a bare status when the channel never reached a server."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from linli_cli import session
from linli_cli.errors import CliError, ExitCode, from_rpc, tls_hint

ADDRESS = "127.0.0.1:50051"


def failed(code: grpc.StatusCode, message: str, reason: str = "", violations: tuple[tuple[str, str], ...] = ()
           ) -> grpc.aio.AioRpcError:
    trailing = grpc.aio.Metadata()
    if reason or violations:
        details = []
        if reason:
            info = any_pb2.Any()
            info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="linli"))
            details.append(info)
        if violations:
            bad = any_pb2.Any()
            bad.Pack(error_details_pb2.BadRequest(field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in violations]))
            details.append(bad)
        status = status_pb2.Status(code=code.value[0], message=message, details=details)
        trailing.add("grpc-status-details-bin", status.SerializeToString())
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, details=message)


def test_unauthenticated_tells_the_operator_to_sign_in() -> None:
    error = from_rpc(failed(grpc.StatusCode.UNAUTHENTICATED, "the access token has expired", "TOKEN_EXPIRED"),
                     "trust-governance", ADDRESS)
    assert error.code == ExitCode.UNAUTHENTICATED == 3
    assert error.message.startswith("not signed in or token expired: run linli login")
    assert "expired" in error.message


def test_unauthenticated_with_a_terminal_credential_blames_the_credential_not_the_sign_in() -> None:
    error = from_rpc(failed(grpc.StatusCode.UNAUTHENTICATED, "not valid", "TERMINAL_CREDENTIAL_INVALID"),
                     "partner-redemption", ADDRESS, terminal=True)
    assert error.code == 3 and "terminal credential" in error.message and "linli login" not in error.message
    assert "TERMINAL_CREDENTIAL_INVALID" in error.message


def test_permission_denied_keeps_the_servers_message_naming_the_scope() -> None:
    message = "chengdu/chongzhou is outside your scope chengdu/jinjiang/chenglonglu/fengshu"
    error = from_rpc(failed(grpc.StatusCode.PERMISSION_DENIED, message, "OUT_OF_SCOPE"), "trust-governance", ADDRESS)
    assert error.code == ExitCode.PERMISSION_DENIED == 6
    assert error.message == f"permission denied: {message} (OUT_OF_SCOPE)"


def test_invalid_argument_names_each_field_from_the_bad_request_detail() -> None:
    error = from_rpc(failed(grpc.StatusCode.INVALID_ARGUMENT, "period: must be YYYY", "INVALID_ARGUMENT",
                            (("period", "must be a year"), ("team_id", "is malformed"))), "volunteer-points", ADDRESS)
    assert error.code == ExitCode.USAGE == 2
    assert error.message == "invalid argument: period: must be a year; team_id: is malformed"


def test_invalid_argument_without_details_keeps_the_message() -> None:
    error = from_rpc(failed(grpc.StatusCode.INVALID_ARGUMENT, "bad"), "volunteer-points", ADDRESS)
    assert (error.code, error.message) == (2, "invalid argument: bad")


def test_not_found_is_4_with_the_reason() -> None:
    error = from_rpc(failed(grpc.StatusCode.NOT_FOUND, "budget 2001 does not exist", "BUDGET_NOT_FOUND"),
                     "trust-governance", ADDRESS)
    assert (error.code, error.message) == (4, "not found: budget 2001 does not exist (BUDGET_NOT_FOUND)")


def test_a_channel_that_cannot_connect_names_the_service_and_address() -> None:
    error = from_rpc(failed(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses"), "notification",
                     "127.0.0.1:50054")
    assert error.code == ExitCode.UNAVAILABLE == 5
    assert error.message == "cannot reach notification at 127.0.0.1:50054: is `make run` running?"


def test_unavailable_raised_by_the_service_keeps_its_message_and_says_retrying_is_safe() -> None:
    error = from_rpc(failed(grpc.StatusCode.UNAVAILABLE, "the ledger did not answer", "REDEMPTION_PENDING"),
                     "partner-redemption", ADDRESS)
    assert error.code == 5 and error.message.startswith("the ledger did not answer (REDEMPTION_PENDING)")
    assert error.message.endswith("the outcome is not known yet")


def test_deadline_exceeded_is_unavailable_with_the_address() -> None:
    error = from_rpc(failed(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"), "volunteer-points", ADDRESS)
    assert error.code == 5 and f"volunteer-points at {ADDRESS} did not answer in time" in error.message


def test_a_service_older_than_the_cli_is_named_rather_than_method_not_found() -> None:
    error = from_rpc(failed(grpc.StatusCode.UNIMPLEMENTED, "Method not found!"), "partner-redemption", ADDRESS)
    assert error.code == 1
    assert error.message == f"partner-redemption at {ADDRESS} does not offer this call: is it older than this linli?"


@pytest.mark.parametrize("code", [grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS,
                                  grpc.StatusCode.ABORTED, grpc.StatusCode.INTERNAL])
def test_other_refusals_exit_1_with_message_and_reason_on_one_line(code: grpc.StatusCode) -> None:
    error = from_rpc(failed(code, "2026 has not\nended yet", "YEAR_NOT_OVER"), "volunteer-points", ADDRESS)
    assert (error.code, error.message) == (1, "2026 has not ended yet (YEAR_NOT_OVER)")


async def test_a_change_whose_outcome_is_unknown_says_how_to_retry_it_once() -> None:
    client = session.Client("notification", address="127.0.0.1:9")

    async def no_answer() -> None:
        raise failed(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")

    async def not_reached() -> None:
        raise failed(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses")

    try:
        with pytest.raises(CliError) as unknown:
            await client.change(no_answer(), "rid-1")
        assert unknown.value.code == 5
        assert unknown.value.message.endswith("retry with --request-id rid-1 (the service applies it once)")
        with pytest.raises(CliError) as down:  # never sent: nothing to retry carefully
            await client.change(not_reached(), "rid-2")
        assert "rid-2" not in down.value.message
    finally:
        await client.close()


def test_a_tls_mismatch_says_what_to_give() -> None:
    """Plaintext to a TLS port (the server hangs up), a certificate from another CA, TLS to a
    plaintext port: each unreachable service says what to change; nothing listening says nothing more."""
    plaintext = tls_hint("failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:50051: "
                         "Socket closed", "")
    assert "--ca FILE or LINLI_GRPC_TLS_CA" in plaintext and "var/tls/ca.pem" in plaintext
    other_ca = tls_hint("last error: UNKNOWN: ipv4:127.0.0.1:50051: Tls handshake failed (TSI_PROTOCOL_FAILURE): "
                        "SSL_ERROR_SSL: error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED",
                        "ca.pem")
    assert "not signed by the CA trusted here, ca.pem" in other_ca
    to_plaintext = tls_hint("Tls handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: "
                            "error:100000f7:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER", "ca.pem")
    assert "does not speak TLS" in to_plaintext
    assert tls_hint("failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:9: "
                    "Connection refused", "") == ""
