"""Reading the rich status (google.rpc.Status details) of a failed call: what clients of the
platform — the CLI, the portal, tests — show a person instead of a bare status code."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def details(error: grpc.aio.AioRpcError) -> tuple[str, list[tuple[str, str]]]:
    """(ErrorInfo reason, BadRequest (field, description) pairs); ("", []) when the call carried
    no details, or details that do not match its code (then none of them can be trusted)."""
    try:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
    except ValueError:
        return "", []
    reason, violations = "", []
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations += [(v.field, v.description) for v in bad.field_violations]
    return reason, violations


def error_metadata(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """The ErrorInfo's metadata (e.g. `retry_after_seconds`); {} when there is none to trust."""
    try:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
    except ValueError:
        return {}
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return dict(info.metadata)
    return {}


def retry_delay(error: grpc.aio.AioRpcError) -> float | None:
    """Seconds the server asked the caller to wait before trying again (`google.rpc.RetryInfo`),
    or None when it said nothing."""
    try:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
    except ValueError:
        return None
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return float(info.retry_delay.ToTimedelta().total_seconds())
    return None
