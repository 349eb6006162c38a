"""Reading the rich status (google.rpc.Status details) of a failed call in tests."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def has_rich_status(error: grpc.aio.AioRpcError) -> bool:
    return rpc_status.from_call(error) is not None  # type: ignore[arg-type]


def error_info(error: grpc.aio.AioRpcError) -> tuple[str, list[str]]:
    """(ErrorInfo reason, BadRequest field names); ("", []) when the call carried no details."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    reason, fields = "", []
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return reason, fields
