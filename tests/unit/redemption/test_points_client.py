"""The boundary to volunteer-points: status codes become domain errors in one place, messages
become domain values. In memory: the gRPC errors are built by hand and the stubs are fakes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc.aio import AioRpcError, Metadata
from linli_redemption.points import (
    Hold,
    HoldPosted,
    HoldState,
    InsufficientPoints,
    PointsNotFound,
    PointsRefused,
    PointsUnavailable,
    TransferKind,
)
from linli_redemption.points_client import PointsClient, hold_of, transfer_of, translate

from linli.points.v1 import ledger_pb2 as lpb


def rpc_error(code: grpc.StatusCode, message: str, reason: str = "") -> AioRpcError:
    """An error as volunteer-points sends it: the status, with an ErrorInfo when it has a reason."""
    trailing = Metadata()
    if reason:
        status = status_pb2.Status(code=code.value[0], message=message)
        status.details.add().Pack(error_details_pb2.ErrorInfo(reason=reason, domain="linli.volunteer-points"))
        trailing = Metadata(("grpc-status-details-bin", status.SerializeToString()))
    return AioRpcError(code, Metadata(), trailing, details=message)


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                                  grpc.StatusCode.INTERNAL, grpc.StatusCode.CANCELLED,
                                  grpc.StatusCode.RESOURCE_EXHAUSTED])
def test_an_unknown_outcome_is_points_unavailable(code: grpc.StatusCode) -> None:
    error = translate(rpc_error(code, "connection reset", "WHATEVER"), "PlaceHold")
    assert isinstance(error, PointsUnavailable)
    assert error.reason == "LEDGER_UNAVAILABLE" and "PlaceHold" in error.message


@pytest.mark.parametrize(("code", "reason", "kind"), [
    (grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_POINTS", InsufficientPoints),
    (grpc.StatusCode.FAILED_PRECONDITION, "HOLD_POSTED", HoldPosted),
    (grpc.StatusCode.NOT_FOUND, "HOLD_NOT_FOUND", PointsNotFound),
    (grpc.StatusCode.NOT_FOUND, "", PointsNotFound),
    (grpc.StatusCode.FAILED_PRECONDITION, "HOLD_VOIDED", PointsRefused),
    (grpc.StatusCode.ALREADY_EXISTS, "TRANSFER_ID_REUSED", PointsRefused),
    (grpc.StatusCode.PERMISSION_DENIED, "", PointsRefused),
])
def test_a_decision_of_the_ledger_is_a_refusal_of_the_kind_the_saga_branches_on(
    code: grpc.StatusCode, reason: str, kind: type[PointsRefused]
) -> None:
    error = translate(rpc_error(code, "the ledger says no", reason), "PostHold")
    assert type(error) is kind
    assert isinstance(error, PointsRefused) and error.message == "the ledger says no"
    assert error.reason == (reason or ("NOT_FOUND" if code == grpc.StatusCode.NOT_FOUND else code.name))


def test_messages_become_domain_values() -> None:
    when = datetime(2026, 11, 7, 9, 0, 1, 500000, tzinfo=UTC)
    message = lpb.Transfer(transfer_id="redemption:r-1:post", kind=lpb.TRANSFER_KIND_POST, amount=40)
    message.create_time.FromDatetime(when)
    transfer = transfer_of(message)
    assert (transfer.transfer_id, transfer.kind, transfer.amount, transfer.create_time) == (
        "redemption:r-1:post", TransferKind.POST, 40, when)
    assert transfer_of(lpb.Transfer(kind=lpb.TRANSFER_KIND_UNSPECIFIED)).kind == TransferKind.OTHER
    states = {lpb.HOLD_STATE_PENDING: HoldState.PENDING, lpb.HOLD_STATE_POSTED: HoldState.POSTED,
              lpb.HOLD_STATE_VOIDED: HoldState.VOIDED, lpb.HOLD_STATE_EXPIRED: HoldState.EXPIRED}
    for state, expected in states.items():
        assert hold_of(lpb.Hold(hold_id="h", state=state, amount=5)) == Hold("h", expected, 5)


class FakeLedger:
    """A LedgerService stub whose calls answer or fail as set up, recording the requests."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.requests: list[tuple[str, Any, float]] = []

    def __getattr__(self, method: str) -> Any:
        async def call(request: Any, timeout: float) -> Any:
            self.requests.append((method, request, timeout))
            answer = self.answers[method]
            if isinstance(answer, Exception):
                raise answer
            return answer
        return call


async def test_concurrent_holds_go_as_one_call_per_community_and_a_refused_one_fails_alone() -> None:
    client = PointsClient()
    refused = lpb.TransferRefusal(code=grpc.StatusCode.FAILED_PRECONDITION.value[0], reason="INSUFFICIENT_POINTS",
                                  message="short")
    client.ledger = FakeLedger(PlaceHolds=lpb.PlaceHoldsResponse(results=[
        lpb.PlaceHoldsResult(hold=lpb.Hold(hold_id="redemption:r-1", state=lpb.HOLD_STATE_PENDING, amount=1)),
        lpb.PlaceHoldsResult(refusal=refused),
        lpb.PlaceHoldsResult(hold=lpb.Hold(hold_id="redemption:r-3", state=lpb.HOLD_STATE_PENDING, amount=3))]))
    outcomes = await asyncio.gather(*(client.place_hold("a/b", f"redemption:r-{i}", f"v-{i}", i, 300, "s")
                                      for i in (1, 2, 3)), return_exceptions=True)
    assert [o.hold_id if isinstance(o, Hold) else type(o) for o in outcomes] == [
        "redemption:r-1", InsufficientPoints, "redemption:r-3"]
    [(method, batch, _)] = client.ledger.requests
    assert method == "PlaceHolds" and [h.hold_id for h in batch.holds] == [f"redemption:r-{i}" for i in (1, 2, 3)]
    # The call failing as a whole leaves every hold of it unknown (recovery asks again later).
    client.ledger = FakeLedger(PlaceHolds=rpc_error(grpc.StatusCode.UNAVAILABLE, "down"))
    outcomes = await asyncio.gather(*(client.place_hold("a/b", f"redemption:r-{i}", "v", 1, 300, "s")
                                      for i in (1, 2)), return_exceptions=True)
    assert all(isinstance(o, PointsUnavailable) for o in outcomes)


async def test_the_client_sends_the_saga_s_requests_and_a_hold_never_placed_reads_as_none() -> None:
    client = PointsClient(timeout=2.5)
    client.ledger = FakeLedger(
        PlaceHolds=lpb.PlaceHoldsResponse(results=[lpb.PlaceHoldsResult(hold=lpb.Hold(
            hold_id="redemption:r-1", state=lpb.HOLD_STATE_PENDING, amount=40))]),
        GetHold=rpc_error(grpc.StatusCode.NOT_FOUND, "no such hold", "HOLD_NOT_FOUND"),
        VoidHold=rpc_error(grpc.StatusCode.UNAVAILABLE, "down"))
    hold = await client.place_hold("a/b", "redemption:r-1", "v-1", 40, 300, "merchants/m/redemptions/r-1")
    assert (hold.hold_id, hold.state, hold.amount) == ("redemption:r-1", HoldState.PENDING, 40)
    [(method, batch, timeout)] = client.ledger.requests
    assert (method, timeout, batch.community_path) == ("PlaceHolds", 2.5, "a/b")
    [request] = batch.holds
    assert (request.debit_account, request.credit_account, request.timeout_seconds, request.source) == (
        "volunteers/v-1", "system/redemption-clearing", 300, "merchants/m/redemptions/r-1")
    assert await client.get_hold("a/b", "redemption:r-1") is None
    with pytest.raises(PointsUnavailable):
        await client.void_hold("a/b", "redemption:r-1")
