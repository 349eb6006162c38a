"""Domain errors and their gRPC status.

Handlers raise these; the error interceptor turns each into the right status code with a
`google.rpc.ErrorInfo` (and `BadRequest` field violations where given) in the rich status
details. Anything else that escapes a handler is a bug: it is logged with its stack and the
caller sees INTERNAL with the request id only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import grpc

# The ErrorInfo metadata key saying, in whole seconds, when a refused call may be tried again;
# the error interceptor adds a `google.rpc.RetryInfo` with the same delay.
RETRY_AFTER_KEY = "retry_after_seconds"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """An error whose message a person can act on. `reason` is a stable UPPER_SNAKE_CASE
    identifier clients may branch on (AIP-193)."""

    code: grpc.StatusCode = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        violations: Sequence[FieldViolation] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = dict(metadata or {})
        self.violations = tuple(violations)


class InvalidArgument(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"

    @classmethod
    def field(cls, field: str, description: str, *, reason: str | None = None) -> InvalidArgument:
        return cls(f"{field}: {description}", reason=reason, violations=[FieldViolation(field, description)])


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND
    default_reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"


class Aborted(DomainError):
    """A conflict the client may resolve by retrying the whole read-modify-write."""

    code = grpc.StatusCode.ABORTED
    default_reason = "ABORTED"


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


def retry_after(seconds: float, **metadata: str) -> dict[str, str]:
    """ErrorInfo metadata saying when to try again: `seconds` rounded up to whole seconds (at
    least 1), beside `metadata` — `ResourceExhausted(…, metadata=retry_after(wait))`."""
    return {**metadata, RETRY_AFTER_KEY: str(max(1, math.ceil(seconds)))}


class ResourceExhausted(DomainError):
    """A rate limit or quota was reached; `metadata["retry_after_seconds"]`, when given, says
    when trying again makes sense — the caller also receives it as a `google.rpc.RetryInfo`
    (see `error_status`)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = "RESOURCE_EXHAUSTED"



class Unavailable(DomainError):
    """A dependency is down; the client may retry later with the same request id."""

    code = grpc.StatusCode.UNAVAILABLE
    default_reason = "UNAVAILABLE"
