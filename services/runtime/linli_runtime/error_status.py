"""A domain error as the `google.rpc.Status` its caller receives: its code and message, one
ErrorInfo (AIP-193), BadRequest field violations, and a RetryInfo when the error says when to
try again (`retry_after_seconds`) — bounded whatever the input.

Error messages and details often echo the caller's input ("segment '…' must use only…", an
ErrorInfo naming the path asked for). The trailers carrying them must stay far below the
client's metadata limit (8 KiB by default; above it the caller sees RESOURCE_EXHAUSTED, not the
error). So every string is cut to a few hundred characters, lists to a few entries, and the
whole is checked against TRAILER_BUDGET — with tighter cuts until it fits. The error-mapping
interceptor (`linli_runtime.interceptors`) sends what `rich_status` builds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from linli_runtime.errors import RETRY_AFTER_KEY, DomainError


@dataclass(frozen=True)
class DetailLimits:
    message: int  # characters of the message; a long word inside is cut first (see `bounded_text`)
    word: int  # characters of one unbroken run (an echoed value) inside the message
    value: int  # characters of an ErrorInfo metadata value, a field path or a field description
    entries: int  # ErrorInfo metadata entries, and BadRequest field violations


# From generous to terse: the first whose trailers fit the budget is used.
DETAIL_LIMITS = (
    DetailLimits(message=500, word=120, value=200, entries=10),
    DetailLimits(message=240, word=60, value=80, entries=5),
    DetailLimits(message=100, word=40, value=40, entries=2),
)
# Bytes of grpc-message (percent-encoded) plus grpc-status-details-bin (base64): half the
# client's default 8 KiB soft limit, leaving room for every other header.
TRAILER_BUDGET = 4096
# AIP-193: ErrorInfo reasons and metadata keys are at most 63 / 64 characters.
MAX_REASON, MAX_KEY = 63, 64
CUT = "…"


def shorten(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else its head and a '…' (limit characters in all)."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + CUT


def bounded_text(text: str, limits: DetailLimits) -> str:
    """A message with every long unbroken run (an echoed id, path or value) cut in the middle —
    its head and last characters kept, so a closing quote still closes — then the whole cut to
    `limits.message`."""
    tail = 8

    def cut(match: re.Match[str]) -> str:
        word = match.group(0)
        return word[: limits.word - tail - 1] + CUT + word[-tail:]

    return shorten(re.sub(rf"\S{{{limits.word + 1},}}", cut, text), limits.message)


def trailer_bytes(status: status_pb2.Status) -> int:
    """What the status costs in trailers: the percent-encoded message and the base64 details."""
    message = sum(1 if 0x20 <= b <= 0x7E and b != 0x25 else 3 for b in status.message.encode())
    return message + 4 * ((int(status.ByteSize()) + 2) // 3)


def retry_seconds(error: DomainError) -> int | None:
    """The whole seconds `error` asks its caller to wait (its `retry_after_seconds`), or None."""
    value = error.metadata.get(RETRY_AFTER_KEY, "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def _status(error: DomainError, domain: str, limits: DetailLimits) -> status_pb2.Status:
    metadata = {shorten(k, MAX_KEY): shorten(v, limits.value)
                for k, v in list(error.metadata.items())[: limits.entries]}
    reason = error.reason[:MAX_REASON].rstrip("_")
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=domain, metadata=metadata))
    details = [info]
    if error.violations:
        shown = [error_details_pb2.BadRequest.FieldViolation(field=shorten(v.field, limits.value),
                                                             description=bounded_text(v.description, replace(
                                                                 limits, message=limits.value)))
                 for v in error.violations[: limits.entries]]
        if len(error.violations) > limits.entries:
            shown[-1] = error_details_pb2.BadRequest.FieldViolation(
                field=shown[-1].field,
                description=f"… and {len(error.violations) - limits.entries + 1} more problems like these")
        bad = any_pb2.Any()
        bad.Pack(error_details_pb2.BadRequest(field_violations=shown))
        details.append(bad)
    wait = retry_seconds(error)
    if wait is not None:
        retry = any_pb2.Any()
        retry.Pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=wait)))
        details.append(retry)
    return status_pb2.Status(code=error.code.value[0], message=bounded_text(error.message, limits), details=details)


def rich_status(error: DomainError, domain: str) -> grpc.Status:
    """The `google.rpc.Status` for `error`: its code and message, one ErrorInfo (AIP-193), and
    BadRequest field violations when the error names fields — bounded, whatever the input (see
    DETAIL_LIMITS)."""
    for limits in DETAIL_LIMITS:
        status = _status(error, domain, limits)
        if trailer_bytes(status) <= TRAILER_BUDGET:
            break
    return rpc_status.to_status(status)
