"""LedgerService through gRPC on a running service (real NATS, SQLite and PostgreSQL): the
acceptance scenarios under concurrency, hold expiry by the service's own sweeper, events on
the bus, scope and role checks and field validation on every method."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import grpc
import nats
import pytest
from linli_points.api.ledger import MAX_BATCH
from linli_points.app import PointsApp

from linli.events.v1 import points_pb2 as events_pb
from linli.events.v1.envelope_pb2 import EventEnvelope
from linli.points.v1 import ledger_pb2 as pb
from linli.points.v1 import ledger_pb2_grpc
from linli_runtime.clock import ManualClock
from linli_runtime.paging import encode_token
from linli_runtime.processes import NatsServer
from linli_runtime.testing.errors import error_info
from linli_runtime.testing.waiting import wait_until

from .conftest import FENGSHU, SHENGJIAN, Metadata

Stub = ledger_pb2_grpc.LedgerServiceStub
WAN = "volunteers/v-wan"
CLEARING = "system/redemption-clearing"


async def fund(stub: Stub, md: Metadata, points: int, to: str = WAN, tid: str = "fund") -> None:
    await stub.CreateTransfer(pb.CreateTransferRequest(
        community_path=FENGSHU, transfer_id=tid, debit_account="system/issuance", credit_account=to,
        amount=points, reason="governance"), metadata=md)


def hold_request(hold_id: str, amount: int = 1, timeout: int = 300) -> pb.PlaceHoldRequest:
    return pb.PlaceHoldRequest(community_path=FENGSHU, hold_id=hold_id, debit_account=WAN, credit_account=CLEARING,
                               amount=amount, timeout_seconds=timeout, reason="redemption", source="redemptions/r1")


async def balance(stub: Stub, md: Metadata, account: str = WAN) -> pb.GetBalanceResponse:
    reply: pb.GetBalanceResponse = await stub.GetBalance(
        pb.GetBalanceRequest(community_path=FENGSHU, account=account), metadata=md)
    return reply


async def test_200_concurrent_holds_against_100_points_exactly_100_succeed(
    ledger_stub: Stub, as_service: Metadata
) -> None:
    await fund(ledger_stub, as_service, 100)
    results = await asyncio.gather(
        *(ledger_stub.PlaceHold(hold_request(f"h{i:03d}"), metadata=as_service, timeout=60) for i in range(200)),
        return_exceptions=True,
    )
    placed = [r for r in results if isinstance(r, pb.PlaceHoldResponse)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(placed) == 100 and len(refused) == 100
    assert {(e.code(), error_info(e)[0]) for e in refused} == {
        (grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_POINTS")}
    b = await balance(ledger_stub, as_service)
    assert (b.balance, b.held, b.available) == (100, 100, 0)


async def test_one_transfer_id_replayed_10_times_concurrently_moves_points_once(
    ledger_stub: Stub, as_service: Metadata
) -> None:
    request = pb.CreateTransferRequest(community_path=FENGSHU, transfer_id="act-42-v-wan", amount=15,
                                       debit_account="system/issuance", credit_account=WAN, reason="governance")
    results = await asyncio.gather(*(ledger_stub.CreateTransfer(request, metadata=as_service) for _ in range(10)))
    assert sum(r.created for r in results) == 1
    assert len({r.transfer.sequence for r in results}) == 1
    assert (await balance(ledger_stub, as_service)).balance == 15
    request.amount = 16
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ledger_stub.CreateTransfer(request, metadata=as_service)
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_info(caught.value)[0] == "TRANSFER_ID_REUSED"


async def test_a_timed_out_hold_is_voided_by_the_service_and_its_points_return(
    ledger_stub: Stub, as_service: Metadata, clock: ManualClock
) -> None:
    await fund(ledger_stub, as_service, 10)
    await ledger_stub.PlaceHold(hold_request("pos-1", amount=8, timeout=60), metadata=as_service)
    assert (await balance(ledger_stub, as_service)).available == 2
    clock.advance(seconds=61)

    async def expired() -> bool:
        reply: pb.GetHoldResponse = await ledger_stub.GetHold(
            pb.GetHoldRequest(community_path=FENGSHU, hold_id="pos-1"), metadata=as_service)
        return reply.hold.state == pb.HOLD_STATE_EXPIRED

    await wait_until(expired, what="the sweeper expires the hold")
    b = await balance(ledger_stub, as_service)
    assert (b.balance, b.held, b.available) == (10, 0, 10)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ledger_stub.PostHold(pb.PostHoldRequest(community_path=FENGSHU, hold_id="pos-1"), metadata=as_service)
    assert (caught.value.code(), error_info(caught.value)[0]) == (grpc.StatusCode.FAILED_PRECONDITION, "HOLD_EXPIRED")


async def test_post_after_void_and_void_after_post_are_failed_precondition(
    ledger_stub: Stub, as_service: Metadata
) -> None:
    await fund(ledger_stub, as_service, 10)
    for hold_id in ("a", "b"):
        await ledger_stub.PlaceHold(hold_request(hold_id, amount=3), metadata=as_service)
    ref_a = pb.VoidHoldRequest(community_path=FENGSHU, hold_id="a")
    voided = await ledger_stub.VoidHold(ref_a, metadata=as_service)
    assert voided == await ledger_stub.VoidHold(ref_a, metadata=as_service)  # idempotent
    ref_b = pb.PostHoldRequest(community_path=FENGSHU, hold_id="b")
    posted = await ledger_stub.PostHold(ref_b, metadata=as_service)
    assert posted == await ledger_stub.PostHold(ref_b, metadata=as_service)
    assert posted.transfer.kind == pb.TRANSFER_KIND_POST and posted.hold.state == pb.HOLD_STATE_POSTED

    calls: list[tuple[Any, str]] = [
        (ledger_stub.PostHold(pb.PostHoldRequest(community_path=FENGSHU, hold_id="a"), metadata=as_service),
         "HOLD_VOIDED"),
        (ledger_stub.VoidHold(pb.VoidHoldRequest(community_path=FENGSHU, hold_id="b"), metadata=as_service),
         "HOLD_POSTED"),
    ]
    for call, reason in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert (caught.value.code(), error_info(caught.value)[0]) == (grpc.StatusCode.FAILED_PRECONDITION, reason)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ledger_stub.PostHold(pb.PostHoldRequest(community_path=FENGSHU, hold_id="nope"), metadata=as_service)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    b = await balance(ledger_stub, as_service)
    assert (b.balance, b.held) == (7, 0)


async def test_hold_events_and_credits_reach_the_bus(
    app: PointsApp, ledger_stub: Stub, as_service: Metadata, nats_server: NatsServer
) -> None:
    nc = await nats.connect(nats_server.url)
    seen: list[EventEnvelope] = []

    async def collect(msg: Any) -> None:
        seen.append(EventEnvelope.FromString(msg.data))

    await nc.subscribe("points.>", cb=collect)

    await nc.flush()  # the server has the subscription before anything is published
    try:
        await fund(ledger_stub, as_service, 10)
        await ledger_stub.PlaceHold(hold_request("e1", amount=4), metadata=as_service)
        await ledger_stub.PostHold(pb.PostHoldRequest(community_path=FENGSHU, hold_id="e1"), metadata=as_service)

        async def all_three() -> bool:
            return len(seen) >= 3

        await wait_until(all_three, what="three events published")
    finally:
        await nc.close()
    assert [e.subject for e in seen] == ["points.points.credited", "points.hold.placed", "points.hold.posted"]
    credited = events_pb.PointsCredited()
    seen[0].payload.Unpack(credited)
    assert (credited.volunteer_id, credited.points, credited.community_path) == ("v-wan", 10, FENGSHU)
    posted = events_pb.PointsHoldChanged()
    seen[2].payload.Unpack(posted)
    assert (posted.hold_id, posted.amount, posted.state) == ("e1", 4, events_pb.POINTS_HOLD_STATE_POSTED)
    assert all(e.org_scope == FENGSHU and e.source == "volunteer-points" for e in seen)


async def test_expiry_cuts_at_midnight_in_shanghai(
    ledger_stub: Stub, as_service: Metadata, as_worker: Metadata, clock: ManualClock
) -> None:
    """`earned_before` is a day in Asia/Shanghai: points earned at 02:00 on it (18:00 UTC the
    day before) are not older than it, on either engine (SQLite compares the stored UTC text)."""
    clock.set(datetime(2026, 11, 6, 15, tzinfo=UTC))  # 23:00 on 6 November in Shanghai
    await fund(ledger_stub, as_service, 10, tid="late-on-the-6th")
    clock.set(datetime(2026, 11, 6, 18, tzinfo=UTC))  # 02:00 on 7 November in Shanghai
    await fund(ledger_stub, as_service, 5, tid="early-on-the-7th")
    clock.set(datetime(2026, 11, 8, tzinfo=UTC))
    expired = await ledger_stub.ExpirePoints(pb.ExpirePointsRequest(community_path=FENGSHU,
                                                                     earned_before="2026-11-07"), metadata=as_worker)
    assert (expired.volunteers_affected, expired.points_expired) == (1, 10)
    assert (await balance(ledger_stub, as_service)).balance == 5


async def test_history_pages_with_running_balance(ledger_stub: Stub, as_service: Metadata) -> None:
    for i in range(5):
        await fund(ledger_stub, as_service, i + 1, tid=f"t{i}")
    request = pb.ListTransfersRequest(community_path=FENGSHU, account=WAN, page_size=2)
    balances: list[int] = []
    while True:
        page = await ledger_stub.ListTransfers(request, metadata=as_service)
        balances += [e.balance_after for e in page.entries]
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
    assert balances == [1, 3, 6, 10, 15]
    # AIP-158: a page size above the maximum is coerced down to it, not refused.
    everything = await ledger_stub.ListTransfers(
        pb.ListTransfersRequest(community_path=FENGSHU, account=WAN, page_size=10**6), metadata=as_service)
    assert [e.balance_after for e in everything.entries] == [1, 3, 6, 10, 15]


async def test_history_of_the_clearing_account_pages_with_running_balance(
    ledger_stub: Stub, as_service: Metadata
) -> None:
    """A system account stores no balance after each transfer (its totals are in slots): the
    first page sums the past, later pages carry the running balance in their token."""
    await fund(ledger_stub, as_service, 100)
    for i in range(4):
        await ledger_stub.PlaceHold(hold_request(f"h{i}", amount=i + 1), metadata=as_service)
        await ledger_stub.PostHold(pb.PostHoldRequest(community_path=FENGSHU, hold_id=f"h{i}"), metadata=as_service)
    seen: list[tuple[int, int]] = []
    request = pb.ListTransfersRequest(community_path=FENGSHU, account=CLEARING, page_size=3)
    while True:
        page = await ledger_stub.ListTransfers(request, metadata=as_service)
        seen += [(e.change, e.balance_after) for e in page.entries]
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
    assert seen == [(0, 0), (1, 1), (0, 1), (2, 3), (0, 3), (3, 6), (0, 6), (4, 10)]
    second = await ledger_stub.ListTransfers(pb.ListTransfersRequest(
        community_path=FENGSHU, account=CLEARING, page_size=3, page_token=encode_token("transfers", 3)),
        metadata=as_service)  # a plain token: the balance is summed again
    assert [(e.change, e.balance_after) for e in second.entries] == [(0, 1), (2, 3), (0, 3)]
    for bad in (encode_token("transfers", "3@x1"), encode_token("transfers", "3@"), encode_token("transfers", "-1@1"),
                encode_token("transfers@1", 3)):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await ledger_stub.ListTransfers(pb.ListTransfersRequest(
                community_path=FENGSHU, account=CLEARING, page_token=bad), metadata=as_service)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def every_method(stub: Stub, path: str) -> list[tuple[str, Callable[[Metadata], Any]]]:
    """One well-formed call of each method against `path`."""
    return [
        ("CreateTransfer", lambda md: stub.CreateTransfer(pb.CreateTransferRequest(
            community_path=path, transfer_id="t", debit_account="system/issuance", credit_account=WAN, amount=1),
            metadata=md)),
        ("CreateTransfers", lambda md: stub.CreateTransfers(pb.CreateTransfersRequest(
            community_path=path, transfers=[pb.CreateTransferRequest(
                transfer_id="t", debit_account="system/issuance", credit_account=WAN, amount=1)]), metadata=md)),
        ("ReverseTransfer", lambda md: stub.ReverseTransfer(pb.ReverseTransferRequest(
            community_path=path, transfer_id="r", reversed_transfer_id="t", reason="x"), metadata=md)),
        ("PlaceHold", lambda md: stub.PlaceHold(pb.PlaceHoldRequest(
            community_path=path, hold_id="h", debit_account=WAN, credit_account=CLEARING, amount=1,
            timeout_seconds=60), metadata=md)),
        ("PlaceHolds", lambda md: stub.PlaceHolds(pb.PlaceHoldsRequest(community_path=path, holds=[pb.PlaceHoldRequest(
            hold_id="h", debit_account=WAN, credit_account=CLEARING, amount=1, timeout_seconds=60)]), metadata=md)),
        ("PostHold", lambda md: stub.PostHold(pb.PostHoldRequest(community_path=path, hold_id="h"), metadata=md)),
        ("VoidHold", lambda md: stub.VoidHold(pb.VoidHoldRequest(community_path=path, hold_id="h"), metadata=md)),
        ("ExpirePoints", lambda md: stub.ExpirePoints(pb.ExpirePointsRequest(community_path=path,
                                                                             earned_before="2026-01-01"), metadata=md)),
        ("GetHold", lambda md: stub.GetHold(pb.GetHoldRequest(community_path=path, hold_id="h"), metadata=md)),
        ("GetBalance", lambda md: stub.GetBalance(pb.GetBalanceRequest(community_path=path, account=WAN),
                                                  metadata=md)),
        ("ListTransfers", lambda md: stub.ListTransfers(pb.ListTransfersRequest(community_path=path, account=WAN),
                                                        metadata=md)),
        ("ListDayTransfers", lambda md: stub.ListDayTransfers(pb.ListDayTransfersRequest(
            community_path=path, account=CLEARING, start_date="2026-01-05"), metadata=md)),
        ("SummarizeAccountDays", lambda md: stub.SummarizeAccountDays(pb.SummarizeAccountDaysRequest(
            community_paths=[path], account=CLEARING, start_date="2026-01-05"), metadata=md)),
    ]


async def test_create_transfers_answers_each_transfer_and_a_refused_one_fails_alone(
    ledger_stub: Stub, as_service: Metadata
) -> None:
    await fund(ledger_stub, as_service, 5)
    li = "volunteers/v-li"

    def item(tid: str, debit: str, credit: str, amount: int, **more: Any) -> pb.CreateTransferRequest:
        return pb.CreateTransferRequest(transfer_id=tid, debit_account=debit, credit_account=credit, amount=amount,
                                        **{"reason": "import", **more})

    reply = await ledger_stub.CreateTransfers(pb.CreateTransfersRequest(community_path=FENGSHU, transfers=[
        item("b1", "system/issuance", li, 3),
        item("b2", li, WAN, 4),                        # Li holds 3: no points
        item("fund", "system/issuance", WAN, 6),       # `fund` named 5 points: a reused id
        item("b3", "system/issuance", WAN, 0),         # a bad field
        item("b4", "system/issuance", WAN, 1, community_path=SHENGJIAN),  # another community
        item("fund", "system/issuance", WAN, 5, reason="governance"),  # a replay: the first result
        item("b5", WAN, li, 5, community_path=FENGSHU),  # all of Wan's 5
    ]), metadata=as_service)
    refusals = [(r.refusal.code, r.refusal.reason, r.refusal.field) for r in reply.results]
    assert refusals == [
        (0, "", ""),
        (grpc.StatusCode.FAILED_PRECONDITION.value[0], "INSUFFICIENT_POINTS", ""),
        (grpc.StatusCode.ALREADY_EXISTS.value[0], "TRANSFER_ID_REUSED", ""),
        (grpc.StatusCode.INVALID_ARGUMENT.value[0], "INVALID_ARGUMENT", "transfers[3].amount"),
        (grpc.StatusCode.INVALID_ARGUMENT.value[0], "INVALID_ARGUMENT", "transfers[4].community_path"),
        (0, "", ""), (0, "", "")]
    assert "3 points available, 4 needed" in reply.results[1].refusal.message
    assert [(r.transfer.transfer_id, r.created) for r in reply.results if r.HasField("transfer")] == [
        ("b1", True), ("fund", False), ("b5", True)]
    assert [(await balance(ledger_stub, as_service, a)).balance for a in (WAN, li)] == [0, 8]
    too_many = [item(f"x{i}", "system/issuance", WAN, 1) for i in range(MAX_BATCH + 1)]
    for transfers, field in (([], "transfers"), (too_many, "transfers")):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await ledger_stub.CreateTransfers(pb.CreateTransfersRequest(community_path=FENGSHU, transfers=transfers),
                                              metadata=as_service)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and field in caught.value.details()


async def test_every_method_checks_credentials_scope_and_role(
    ledger_stub: Stub, token_for: Callable[..., Metadata]
) -> None:
    assert {name for name, _ in every_method(ledger_stub, FENGSHU)} == set(
        pb.DESCRIPTOR.services_by_name["LedgerService"].methods_by_name)
    admin_elsewhere = token_for("platform_admin", scope="chengdu/chongzhou")
    worker_here = token_for("community_worker")
    for name, call in every_method(ledger_stub, SHENGJIAN):
        for md, code in (((), grpc.StatusCode.UNAUTHENTICATED), (admin_elsewhere, grpc.StatusCode.PERMISSION_DENIED)):
            # admin_elsewhere reaches chongzhou, which contains SHENGJIAN: use FENGSHU for that one
            target = call if code == grpc.StatusCode.UNAUTHENTICATED else dict(every_method(ledger_stub, FENGSHU))[name]
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await target(md)
            assert caught.value.code() == code, name
    writes = {"CreateTransfer", "CreateTransfers", "ReverseTransfer", "PlaceHold", "PlaceHolds", "PostHold",
              "VoidHold"}
    for name, call in every_method(ledger_stub, FENGSHU):
        if name in writes:  # operators change points through activities and adjustments, not here
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call(worker_here)
            assert (caught.value.code(), error_info(caught.value)[0]) == (
                grpc.StatusCode.PERMISSION_DENIED, "ROLE_NOT_ALLOWED"), name


async def test_volunteer_reads_only_their_own_account(
    ledger_stub: Stub, as_service: Metadata, as_volunteer: Callable[..., Awaitable[Metadata]]
) -> None:
    await fund(ledger_stub, as_service, 9)
    wan = await as_volunteer("v-wan")
    assert (await balance(ledger_stub, wan)).balance == 9
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await balance(ledger_stub, wan, account="volunteers/v-li")
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_malformed_requests_are_invalid_argument_naming_the_field(
    ledger_stub: Stub, as_service: Metadata
) -> None:
    def transfer(**changes: Any) -> pb.CreateTransferRequest:
        fields: dict[str, Any] = dict(community_path=FENGSHU, transfer_id="t", debit_account="system/issuance",
                                      credit_account=WAN, amount=1)
        return pb.CreateTransferRequest(**{**fields, **changes})

    def hold(**changes: Any) -> pb.PlaceHoldRequest:
        fields: dict[str, Any] = dict(community_path=FENGSHU, hold_id="h", debit_account=WAN,
                                      credit_account=CLEARING, amount=1, timeout_seconds=60)
        return pb.PlaceHoldRequest(**{**fields, **changes})

    cases: list[tuple[Any, str]] = [
        (transfer(community_path=""), "community_path"),
        (transfer(community_path="chengdu/枫树"), "community_path"),
        (transfer(transfer_id=""), "transfer_id"),
        (transfer(transfer_id="has/slash"), "transfer_id"),
        (transfer(transfer_id="x" * 65), "transfer_id"),
        (transfer(debit_account="bank"), "debit_account"),
        (transfer(credit_account="volunteers/"), "credit_account"),
        (transfer(credit_account="system/issuance"), "credit_account"),
        (transfer(amount=0), "amount"),
        (transfer(amount=-5), "amount"),
        (transfer(amount=10**12), "amount"),
        (transfer(reason="r" * 101), "reason"),
        (transfer(source="s" * 201), "source"),
        (transfer(reason="nul\x00byte"), "reason"),
        (transfer(community_path="chengdu/" + "x" * 250), "community_path"),
        (pb.ReverseTransferRequest(community_path=FENGSHU, transfer_id="r", reason="x"), "reversed_transfer_id"),
        (pb.ReverseTransferRequest(community_path=FENGSHU, transfer_id="r", reversed_transfer_id="t"), "reason"),
        (pb.ReverseTransferRequest(community_path=FENGSHU, transfer_id="r", amount=-1, reversed_transfer_id="t",
                                   reason="x"), "amount"),
        (hold(hold_id=""), "hold_id"),
        (hold(timeout_seconds=0), "timeout_seconds"),
        (hold(timeout_seconds=86_401), "timeout_seconds"),
        (hold(amount=0), "amount"),
        (pb.PostHoldRequest(community_path=FENGSHU, hold_id=""), "hold_id"),
        (pb.VoidHoldRequest(community_path=FENGSHU, hold_id="a b"), "hold_id"),
        (pb.GetHoldRequest(community_path=FENGSHU), "hold_id"),
        (pb.GetBalanceRequest(community_path=FENGSHU, account="x"), "account"),
        (pb.ListTransfersRequest(community_path=FENGSHU, account=WAN, page_size=-1), "page_size"),
        (pb.ListTransfersRequest(community_path=FENGSHU, account=WAN, page_token="garbage!"), "page_token"),
        (pb.ListTransfersRequest(community_path=FENGSHU, account=WAN, page_token=encode_token("transfers", 10**30)),
         "page_token"),
        (pb.ListDayTransfersRequest(community_path=FENGSHU, account=CLEARING, start_date="2026-1-5"), "start_date"),
        (pb.ListDayTransfersRequest(community_path=FENGSHU, account=CLEARING, start_date="2026-01-05",
                                    end_date="2026-01-12"), "end_date"),
        (pb.ListDayTransfersRequest(community_path=FENGSHU, account=CLEARING, start_date="2026-01-05",
                                    end_date="2026-01-04"), "end_date"),
        (pb.ListDayTransfersRequest(community_path=FENGSHU, account=CLEARING, start_date="2026-01-05",
                                    page_token=encode_token("day-transfers", "x")), "page_token"),
        (pb.SummarizeAccountDaysRequest(account=CLEARING, start_date="2026-01-05"), "community_paths"),
        (pb.SummarizeAccountDaysRequest(community_paths=[FENGSHU, FENGSHU], account=CLEARING,
                                        start_date="2026-01-05"), "community_paths"),
        (pb.SummarizeAccountDaysRequest(community_paths=[FENGSHU], account=CLEARING, start_date="2026-01-05",
                                        end_date="2026-02-05"), "end_date"),
        (pb.SummarizeAccountDaysRequest(community_paths=[FENGSHU], account="nobody", start_date="2026-01-05"),
         "account"),
        (pb.ExpirePointsRequest(community_path=FENGSHU, earned_before="2026-1-1"), "earned_before"),
        (pb.ExpirePointsRequest(community_path=FENGSHU, earned_before="2099-01-01"), "earned_before"),
        (pb.ExpirePointsRequest(community_path=FENGSHU, earned_before="0001-01-01"), "earned_before"),
    ]
    for request, field in cases:
        method = getattr(ledger_stub, type(request).__name__.removesuffix("Request"))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await method(request, metadata=as_service)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (field, caught.value.details())
        assert error_info(caught.value)[1] == [field], (field, caught.value.details())


async def test_place_holds_answers_each_hold_and_a_refused_or_malformed_one_fails_alone(
    ledger_stub: Stub, as_service: Metadata
) -> None:
    """PlaceHolds (issue 18: a batch of redeems' holds in one call): each hold exactly as
    PlaceHold places it; one short of points, one malformed, one reusing an id with other
    content are refused alone, and a replay answers with the hold placed before."""
    await fund(ledger_stub, as_service, 10)
    await ledger_stub.PlaceHold(hold_request("h-before", 2), metadata=as_service)
    holds = [hold_request("h-1", 3), hold_request("h-short", 100), hold_request("h-bad", 0),
             hold_request("h-before", 2), hold_request("h-before-2", 1), hold_request("h-1", 4)]
    holds[4].hold_id = "h-2"
    reply = await ledger_stub.PlaceHolds(pb.PlaceHoldsRequest(community_path=FENGSHU, holds=holds),
                                         metadata=as_service)
    outcomes = [(r.hold.hold_id, r.created) if not r.HasField("refusal") else (r.refusal.reason, r.refusal.field)
                for r in reply.results]
    assert outcomes[0] == ("h-1", True) and outcomes[3] == ("h-before", False) and outcomes[4] == ("h-2", True)
    assert outcomes[1][0] == "INSUFFICIENT_POINTS"
    assert outcomes[2][1] == "holds[2].amount"
    assert reply.results[5].refusal.code == grpc.StatusCode.ALREADY_EXISTS.value[0]  # h-1 again, other amount
    b = await balance(ledger_stub, as_service)
    assert (b.balance, b.held, b.available) == (10, 2 + 3 + 1, 4)
