"""StreamImportRoster: the roster import of ImportRoster, telling its progress as it goes — the
rows done climb to the total in at most about a hundred messages, the last one carries the
report ImportRoster would give, a strict import with a bad row still imports nothing, and a
refusal ends the stream with ImportRoster's status (SQLite and PostgreSQL). A GBK file with
Chinese headers is read as GB18030 and says so."""

from __future__ import annotations

import grpc

from linli.points.v1 import volunteers_pb2 as vol
from linli_runtime.testing.errors import error_info

from .conftest import FENGSHU, Metadata, Stubs


async def streamed(stubs: Stubs, md: Metadata, content: bytes, mode: int) -> list[vol.StreamImportRosterResponse]:
    call = stubs.volunteers.StreamImportRoster(vol.StreamImportRosterRequest(roster=vol.ImportRosterRequest(
        community_path=FENGSHU, csv_content=content, mode=mode)), metadata=md, timeout=120)
    return [step async for step in call]


async def test_a_streamed_import_counts_its_rows_up_to_the_report(stubs: Stubs, as_worker: Metadata) -> None:
    rows = [f"p-{n:03d},志愿者{n}" for n in range(1, 251)] + ["bad id,坏行"]
    content = ("志愿者编号,姓名\n" + "\n".join(rows) + "\n").encode("gbk")
    steps = await streamed(stubs, as_worker, content, vol.IMPORT_MODE_PER_ROW)
    done = [s.rows_done for s in steps]
    assert done == sorted(done) and done[-1] == 251 and all(s.rows_total == 251 for s in steps)
    assert 10 < len(steps) <= 110  # row by row, but not a message per row
    assert [s.HasField("report") for s in steps] == [False] * (len(steps) - 1) + [True]
    report = steps[-1].report
    assert (report.rows_total, report.rows_imported, report.encoding) == (251, 250, "GB18030")
    assert [(r.line, r.field) for r in report.rejections] == [(252, "志愿者编号")]
    listed = await stubs.volunteers.ListVolunteers(vol.ListVolunteersRequest(community_path=FENGSHU, page_size=1000),
                                                   metadata=as_worker)
    assert len(listed.volunteers) == 250 and listed.volunteers[0].display_name == "志愿者1"


async def test_a_strict_streamed_import_with_a_bad_row_imports_nothing(stubs: Stubs, as_worker: Metadata) -> None:
    content = "\ufeffvolunteer_id,display_name\nq-1,一\nq-1,重复\n".encode()
    steps = await streamed(stubs, as_worker, content, vol.IMPORT_MODE_ALL_OR_NOTHING)
    report = steps[-1].report
    assert (report.rows_imported, report.encoding) == (0, "UTF-8 with BOM")
    assert [(r.line, r.field, r.reason) for r in report.rejections] == [(3, "volunteer_id", "repeats line 2")]
    listed = await stubs.volunteers.ListVolunteers(vol.ListVolunteersRequest(community_path=FENGSHU),
                                                   metadata=as_worker)
    assert list(listed.volunteers) == []


async def test_a_refused_file_ends_the_stream_with_the_status_import_roster_gives(
    stubs: Stubs, as_worker: Metadata
) -> None:
    try:
        await streamed(stubs, as_worker, b"\x81\x30\xff\xff", vol.IMPORT_MODE_PER_ROW)
    except grpc.aio.AioRpcError as refused:
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "GB18030" in (refused.details() or "") and error_info(refused)[1] == ["csv_content"]
    else:
        raise AssertionError("a file in neither UTF-8 nor GB18030 was accepted")
