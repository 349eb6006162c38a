from __future__ import annotations

import json

import grpc
from google.rpc import error_details_pb2, status_pb2

from linli_runtime.clients import RETRY_SERVICE_CONFIG, target_for
from linli_runtime.errors import InvalidArgument, NotFound
from linli_runtime.interceptors import rich_status


def test_rich_status_carries_error_info_and_field_violations() -> None:
    status = rich_status(InvalidArgument.field("page_size", "must be between 1 and 500"), "linli.points")
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    [(key, blob)] = status.trailing_metadata
    assert key == "grpc-status-details-bin"
    decoded = status_pb2.Status.FromString(blob)
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert decoded.details[0].Unpack(info) and decoded.details[1].Unpack(bad)
    assert (info.reason, info.domain) == ("INVALID_ARGUMENT", "linli.points")
    assert bad.field_violations[0].field == "page_size"


def test_rich_status_without_fields_has_only_error_info() -> None:
    status = rich_status(NotFound("volunteer v-9 not found", reason="VOLUNTEER_NOT_FOUND",
                                  metadata={"volunteer": "v-9"}), "linli.points")
    decoded = status_pb2.Status.FromString(status.trailing_metadata[0][1])
    assert len(decoded.details) == 1 and decoded.message == "volunteer v-9 not found"


def test_retry_only_on_unavailable() -> None:
    [method] = RETRY_SERVICE_CONFIG["methodConfig"]  # type: ignore[index]
    assert method["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    json.dumps(RETRY_SERVICE_CONFIG)


def test_target_for_single_and_replicas() -> None:
    assert target_for("127.0.0.1:5001") == "127.0.0.1:5001"
    assert target_for("localhost:5001, 127.0.0.1:5002") == "ipv4:127.0.0.1:5001,127.0.0.1:5002"
