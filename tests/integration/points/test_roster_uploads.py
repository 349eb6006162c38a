"""Roster uploads never stall the service (issue 16, defect 2): five uploads at once — hostile
workbooks whose sheets reach column XFD and honest ones at the row limit — are refused on the
request loop (what costs nothing) or read in a worker process, and while a file is in the worker
the service answers GetBalance (what a POS's redeem needs first). Shown by the order of events,
not by a stopwatch: the file is held in its worker (gates.py) until the answer has come. A
workbook's refusals name `xlsx_content` (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
from linli_points.app import PointsApp

from linli.points.v1 import ledger_pb2 as led
from linli.points.v1 import volunteers_pb2 as vol
from linli_runtime.testing.errors import error_info
from linli_runtime.testing.waiting import wait_until
from tests.unit.points.workbooks import big_roster, hostile, workbook

from .conftest import FENGSHU, Metadata, Stubs, expect_error
from .gates import Gate, GatedWorkers

# A deadline, not a measurement: the one the CLI gives an upload (the channel's default is 5 s).
UPLOAD_DEADLINE_S = 120.0
Outcome = tuple[grpc.StatusCode, str, list[str], vol.ImportRosterResponse | None]


async def test_five_uploads_at_once_never_stall_other_calls(
    app: PointsApp, stubs: Stubs, as_worker: Metadata, tmp_path: Path
) -> None:
    s = stubs
    gate = Gate(tmp_path)
    app.roster.workers = GatedWorkers(app.workers, gate)  # type: ignore[assignment]
    backstop = gate.open_at_the_latest_after(60)
    # claimed extent: refused on the loop | none claimed: found in the worker | honest ones, at the
    # row limit and small: read there
    uploads = [hostile(), hostile(claims_extent=False), hostile(), big_roster(), big_roster(100)]
    answered: list[str] = []

    async def upload(n: int, content: bytes) -> Outcome:
        try:
            reply = await s.volunteers.ImportRoster(vol.ImportRosterRequest(
                community_path=FENGSHU, xlsx_content=content, mode=vol.IMPORT_MODE_PER_ROW), metadata=as_worker,
                timeout=UPLOAD_DEADLINE_S)
            outcome: Outcome = (grpc.StatusCode.OK, "", [], reply)
        except grpc.aio.AioRpcError as refused:
            outcome = (refused.code(), refused.details() or "", error_info(refused)[1], None)
        answered.append(f"upload {n}")
        return outcome

    running = asyncio.gather(*(upload(n, content) for n, content in enumerate(uploads)))
    try:
        await wait_until(lambda: gate.arrived() >= 1, what="a roster file to reach a worker process")
        # While that file is held in its worker, and the others wait their turn:
        balance = await s.ledger.GetBalance(led.GetBalanceRequest(community_path=FENGSHU, account="system/issuance"),
                                            metadata=as_worker, timeout=30)
        answered.append("balance")
        await wait_until(lambda: {"upload 0", "upload 2"} <= set(answered),
                         what="the workbooks claiming column XFD to be refused without waiting for a worker")
        held = list(answered)
    finally:
        gate.open()
        backstop.cancel()
        outcomes = await running
        app.roster.workers = app.workers
    assert gate.opened_by == "the test", "the service answered nothing while a file was in its worker"
    assert balance.balance == 0
    assert sorted(held) == ["balance", "upload 0", "upload 2"], "the files in or waiting for a worker were held"

    for code, details, fields, _ in (outcomes[0], outcomes[1], outcomes[2]):
        assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["xlsx_content"])
        assert "A1:XFD5000" in details and "at most 5001 rows" in details and "64 columns (A–BL)" in details
    for (code, _, _, reply), rows in zip(outcomes[3:], (5000, 100), strict=True):
        assert code == grpc.StatusCode.OK and reply is not None
        assert (reply.rows_total, reply.rows_imported, len(reply.rejections)) == (rows, 0, rows)
    assert gate.arrived() == 3, "the file without a claimed extent and the two honest ones went to the worker"


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
