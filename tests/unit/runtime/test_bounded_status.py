"""The error interceptor's rich status stays within the trailer budget whatever a domain error
echoes (issue 16, defect 5): ASCII, Chinese (3 bytes a character, 9 once percent-encoded), many
metadata entries, many field violations."""

from __future__ import annotations

import pytest
from google.rpc import error_details_pb2, status_pb2

from linli_runtime.error_status import DETAIL_LIMITS, TRAILER_BUDGET, bounded_text, rich_status, trailer_bytes
from linli_runtime.errors import (
    DomainError,
    FieldViolation,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
    retry_after,
)


def status_of(error: DomainError) -> status_pb2.Status:
    grpc_status = rich_status(error, "linli.test")
    [(key, value)] = grpc_status.trailing_metadata
    assert key == "grpc-status-details-bin"
    status = status_pb2.Status.FromString(value)
    assert status.message == grpc_status.details
    return status


@pytest.mark.parametrize("echoed", ["a" * 5000, "万" * 5000, "万a " * 2000, "%" * 5000], ids=[
    "ascii", "chinese", "words", "percent"])
def test_every_echo_fits_the_trailer_budget(echoed: str) -> None:
    error = InvalidArgument(f"value {echoed!r} is wrong", reason="BAD_" + "X" * 500,
                            metadata={f"k{i}{echoed}": echoed for i in range(100)},
                            violations=[FieldViolation(f"f{i}.{echoed}", f"got {echoed}") for i in range(500)])
    status = status_of(error)
    assert trailer_bytes(status) <= TRAILER_BUDGET
    assert status.message.startswith("value '")
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert len(info.reason) <= 63 and info.reason.startswith("BAD_XXX")


def test_short_errors_are_untouched() -> None:
    error = PermissionDenied("'chengdu' is outside your scope 'chengdu/jinjiang'", reason="OUT_OF_SCOPE",
                             metadata={"path": "chengdu", "scope": "chengdu/jinjiang"})
    status = status_of(error)
    assert status.message == error.message
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert dict(info.metadata) == error.metadata


def test_a_long_word_is_cut_in_the_middle_so_the_sentence_still_reads() -> None:
    text = bounded_text("org_path: segment '" + "!" * 5000 + "' must use only ASCII letters", DETAIL_LIMITS[0])
    assert text.startswith("org_path: segment '!!!") and text.endswith("!!!!!!' must use only ASCII letters")
    assert "…" in text and len(text) < 200


@pytest.mark.parametrize(("seconds", "metadata", "delay"), [
    (0.2, {}, 1),  # rounded up, never 0: "try again at once" would be a lie
    (59.01, {}, 60),
    (900, {"terminal": "t-1"}, 900),
])
def test_a_refusal_that_says_when_carries_retry_info(seconds: float, metadata: dict[str, str], delay: int) -> None:
    error = ResourceExhausted("locked; try again later", reason="LOCKED", metadata=retry_after(seconds, **metadata))
    status = status_of(error)
    info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info) and status.details[-1].Unpack(retry)
    assert retry.retry_delay.seconds == delay and info.metadata["retry_after_seconds"] == str(delay)
    assert {k: v for k, v in info.metadata.items() if k != "retry_after_seconds"} == metadata


@pytest.mark.parametrize("value", ["", "soon", "-5", "0"])
def test_no_retry_info_without_a_positive_wait(value: str) -> None:
    status = status_of(ResourceExhausted("busy", reason="BUSY", metadata={"retry_after_seconds": value}))
    assert not any(d.Is(error_details_pb2.RetryInfo.DESCRIPTOR) for d in status.details)
