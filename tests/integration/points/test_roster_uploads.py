"""Roster uploads never stall the service (issue 16, defect 2): five uploads at once — hostile
workbooks whose sheets reach column XFD and honest ones at the row limit — are refused or read
in a worker process, while GetBalance (what a POS's redeem needs first) keeps answering within
a small bound, measured; and a workbook's refusals name `xlsx_content` (SQLite and
PostgreSQL)."""

from __future__ import annotations

import asyncio
import time

import grpc
from linli_points.app import PointsApp

from linli.points.v1 import ledger_pb2 as led
from linli.points.v1 import volunteers_pb2 as vol
from linli_runtime.testing.errors import error_info
from tests.unit.points.workbooks import big_roster, hostile, workbook

from .conftest import FENGSHU, Metadata, Stubs, expect_error

# Generous, for a shared machine under load: an idle call here takes a few milliseconds; parsing
# on the event loop stalled every call for seconds (3 s each, 17 s for five uploads at once, on
# an idle machine). Uploads get the deadline the CLI gives them.
BALANCE_BOUND_S = 2.5
UPLOADS_BOUND_S = 120.0


async def test_five_uploads_at_once_never_stall_other_calls(app: PointsApp, stubs: Stubs, as_worker: Metadata) -> None:
    s = stubs
    balance = led.GetBalanceRequest(community_path=FENGSHU, account="system/issuance")
    await s.ledger.GetBalance(balance, metadata=as_worker)  # warm: channel, token cache
    uploads = [hostile(), hostile(claims_extent=False), hostile(), big_roster(), big_roster()]
    latencies: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            started = time.perf_counter()
            await s.ledger.GetBalance(balance, metadata=as_worker, timeout=10)
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.01)  # pacing between probes, not waiting for anything

    async def upload(content: bytes) -> tuple[grpc.StatusCode, str, list[str], vol.ImportRosterResponse | None]:
        try:
            reply = await s.volunteers.ImportRoster(vol.ImportRosterRequest(
                community_path=FENGSHU, xlsx_content=content, mode=vol.IMPORT_MODE_PER_ROW), metadata=as_worker,
                timeout=UPLOADS_BOUND_S)  # the channel's default is 5 s
            return grpc.StatusCode.OK, "", [], reply
        except grpc.aio.AioRpcError as refused:
            return refused.code(), refused.details() or "", error_info(refused)[1], None

    prober = asyncio.create_task(probe())
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(upload(content) for content in uploads))
    elapsed = time.perf_counter() - started
    done.set()
    await prober

    for code, details, fields, _ in outcomes[:3]:
        assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["xlsx_content"])
        assert "A1:XFD5000" in details and "at most 5001 rows" in details and "64 columns (A–BL)" in details
    for code, _, _, reply in outcomes[3:]:
        assert code == grpc.StatusCode.OK and reply is not None
        assert (reply.rows_total, reply.rows_imported, len(reply.rejections)) == (5000, 0, 5000)
    assert elapsed < UPLOADS_BOUND_S
    assert len(latencies) >= 3, "the probe ran while the uploads did"
    assert max(latencies) < BALANCE_BOUND_S, f"GetBalance took {max(latencies):.2f} s during the uploads"


async def test_a_workbook_in_the_old_field_is_still_read_and_refusals_name_that_field(
    stubs: Stubs, as_worker: Metadata
) -> None:
    book = workbook([["volunteer_id", "display_name"], ["v-401", "黄丽"]], dimension="A1:B2")
    report = await stubs.volunteers.ImportRoster(vol.ImportRosterRequest(
        community_path=FENGSHU, csv_content=book, mode=vol.IMPORT_MODE_PER_ROW), metadata=as_worker)
    assert (report.rows_total, report.rows_imported) == (1, 1)
    await expect_error(stubs.volunteers.ImportRoster(vol.ImportRosterRequest(
        community_path=FENGSHU, csv_content=hostile(), mode=vol.IMPORT_MODE_PER_ROW), metadata=as_worker),
        grpc.StatusCode.INVALID_ARGUMENT, "ROSTER_FILE_TOO_LARGE", field="csv_content")
    # a workbook's header checked after conversion names the field it came in, not csv_content
    await expect_error(stubs.volunteers.ImportRoster(vol.ImportRosterRequest(
        community_path=FENGSHU, xlsx_content=workbook([["name"], ["x"]]), mode=vol.IMPORT_MODE_PER_ROW),
        metadata=as_worker), grpc.StatusCode.INVALID_ARGUMENT, field="xlsx_content")
