"""Reading the rich status (google.rpc.Status details) of a failed call in tests."""

from __future__ import annotations

import grpc
from grpc_status import rpc_status

from linli_runtime import rich_status


def has_rich_status(error: grpc.aio.AioRpcError) -> bool:
    return rpc_status.from_call(error) is not None  # type: ignore[arg-type]


def error_info(error: grpc.aio.AioRpcError) -> tuple[str, list[str]]:
    """(ErrorInfo reason, BadRequest field names); ("", []) when the call carried no details."""
    reason, violations = rich_status.details(error)
    return reason, [field for field, _ in violations]
