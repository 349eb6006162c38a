"""The runtime's shared helpers: times, field checks, org-path names, the periodic task, the
event factory, page sizes and wait_until."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.protobuf.wrappers_pb2 import StringValue

from linli_runtime import fields, names, paging, times
from linli_runtime.clock import ManualClock
from linli_runtime.errors import InvalidArgument
from linli_runtime.events.envelope import EventFactory
from linli_runtime.tasks import PeriodicTask
from linli_runtime.testing.waiting import wait_until


def _violation(exc: pytest.ExceptionInfo[InvalidArgument]) -> str:
    return exc.value.violations[0].field


# -- times ------------------------------------------------------------------------------------------

def test_naive_values_are_read_as_utc_and_local_days_are_shanghai_days() -> None:
    naive = datetime(2026, 11, 9, 16, 30)  # 00:30 on the 10th in Shanghai
    assert times.as_utc(naive).tzinfo is UTC
    assert times.local_day(naive) == date(2026, 11, 10)
    assert times.iso_local(naive) == "2026-11-10T00:30:00+08:00"
    start, end = times.day_bounds(date(2026, 11, 10))
    assert start == datetime(2026, 11, 9, 16, 0, tzinfo=UTC) and (end - start).days == 1
    y0, y1 = times.year_bounds(2026)
    assert y0 == datetime(2025, 12, 31, 16, 0, tzinfo=UTC) and y1 == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    m0, m1 = times.month_bounds("2026-12")
    assert m0 == datetime(2026, 11, 30, 16, 0, tzinfo=UTC) and m1 == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert times.local_day(naive, times.fixed_zone(0)) == date(2026, 11, 9)


def test_timestamps_round_trip_and_unset_stays_unset() -> None:
    when = datetime(2026, 11, 10, 1, 2, 3, tzinfo=UTC)
    ts = times.to_timestamp(when)
    assert ts is not None and times.from_timestamp(ts) == when
    assert times.to_timestamp(None) is None
    assert times.from_timestamp(Timestamp()) is None


@pytest.mark.parametrize("text", ["2026-13-01", "2026-1-01", "", "x" * 5000, "2026-02-30"])
def test_bad_dates_name_the_field_and_do_not_echo_long_input(text: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        times.parse_date("start_date", text)
    assert _violation(exc) == "start_date"
    assert len(exc.value.message) < 120


def test_months_and_clock_times() -> None:
    assert times.parse_month("month", "2026-11") == "2026-11"
    for bad in ("2026-13", "1999-01", "2026/11", "26-11-01", "2026-+1", "2026- 1", "２０２６-11"):
        with pytest.raises(InvalidArgument):
            times.parse_month("month", bad)
    assert times.parse_hhmm("start", "08:30") == 510
    assert times.parse_hhmm("end", "24:00", allow_24=True) == 1440
    for bad in ("24:00", "8:30", "08:60", "ab:cd", "0830"):
        with pytest.raises(InvalidArgument):
            times.parse_hhmm("start", bad)
    assert times.hhmm(510) == "08:30"


# -- fields ------------------------------------------------------------------------------------------

def test_text_is_trimmed_bounded_and_free_of_nul() -> None:
    assert fields.text("memo", "  hi  ", 10) == "hi"
    assert fields.text("memo", "  hi  ", 10, strip=False) == "  hi  "
    with pytest.raises(InvalidArgument, match="memo: is required"):
        fields.text("memo", "   ", 10, required=True)
    with pytest.raises(InvalidArgument) as exc:
        fields.text("memo", "x" * 5000, 10)
    assert "x" * 20 not in exc.value.message
    with pytest.raises(InvalidArgument):
        fields.text("memo", "a\x00b", 10)


def test_ids_slugs_request_ids_and_ranges() -> None:
    assert fields.ident("volunteer_id", "v-001") == "v-001"
    for bad in ("", "a b", "x" * 65, "中文"):
        with pytest.raises(InvalidArgument):
            fields.ident("volunteer_id", bad)
    assert fields.slug("slug", "health-centre") == "health-centre"
    for bad in ("-a", "A", "a" * 64):
        with pytest.raises(InvalidArgument):
            fields.slug("slug", bad)
    assert fields.request_id("") == ""
    with pytest.raises(InvalidArgument, match="is required"):
        fields.request_id("", required=True)
    with pytest.raises(InvalidArgument):
        fields.request_id("x" * 129)
    assert fields.in_range("limit", 5, 1, 10) == 5
    with pytest.raises(InvalidArgument, match="between 1 and 10"):
        fields.in_range("limit", 11, 1, 10)
    with pytest.raises(InvalidArgument, match="greater than zero"):
        fields.positive("amount", 0, 100)
    assert fields.sha256_hex("voucher_sha256", "") == ""
    with pytest.raises(InvalidArgument):
        fields.sha256_hex("voucher_sha256", "ab")


# -- names -------------------------------------------------------------------------------------------

def test_org_path_names_round_trip() -> None:
    path = "chengdu/jinjiang/chenglonglu/fengshu"
    name = names.child_name("communities", path, "helpRequests", "h-1")
    assert name == "communities/chengdu~jinjiang~chenglonglu~fengshu/helpRequests/h-1"
    assert names.parse_child("name", name, "communities", "helpRequests") == (path, "h-1")
    assert names.parse_parent("parent", names.parent_name("compounds", path), "compounds") == path
    assert names.org_path("community_path", "/Chengdu/jinjiang/") == "chengdu/jinjiang"


@pytest.mark.parametrize("name", [
    "communities/a~b/helpRequests",            # too short
    "compounds/a~b/helpRequests/h-1",          # wrong kind
    "communities/a~b/votes/h-1",               # wrong collection
    "communities/a~b c/helpRequests/h-1",      # bad path segment
    "communities//helpRequests/h-1",           # empty path
    "communities/a~b/helpRequests/" + "x" * 5000,
])
def test_bad_names_are_invalid_arguments_naming_the_field(name: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        names.parse_child("name", name, "communities", "helpRequests")
    assert _violation(exc) == "name"
    assert len(exc.value.message) < 200


# -- paging ------------------------------------------------------------------------------------------

def test_one_page_size_rule() -> None:
    assert paging.page_size(0) == paging.DEFAULT_PAGE_SIZE == 100
    assert paging.page_size(5000) == paging.MAX_PAGE_SIZE == 1000
    assert paging.page_size(5000, maximum=200) == 200
    with pytest.raises(InvalidArgument):
        paging.page_size(-1)


# -- events ------------------------------------------------------------------------------------------

def test_the_event_factory_stamps_source_scope_and_the_clock() -> None:
    clock = ManualClock(datetime(2026, 11, 10, 9, 0, tzinfo=UTC))
    make_event = EventFactory("volunteer-points", clock)
    envelope = make_event("points.visit.logged", StringValue(value="x"), "chengdu/fengshu")
    assert envelope.source == "volunteer-points"
    assert envelope.org_scope == "chengdu/fengshu"
    assert envelope.type == "points.visit.logged"
    assert envelope.occurred_at.ToDatetime(tzinfo=UTC) == clock.now()


# -- background loops --------------------------------------------------------------------------------

async def test_a_periodic_task_finishes_its_pass_before_stopping_and_survives_failures() -> None:
    passes: list[str] = []
    started = asyncio.Event()
    release = asyncio.Event()

    async def body() -> None:
        passes.append("begin")
        if len(passes) == 1:
            raise RuntimeError("a database hiccup")
        started.set()
        await release.wait()
        passes.append("end")

    task = PeriodicTask("test-loop", body, interval=0.01)
    task.start()
    await asyncio.wait_for(started.wait(), 5)   # the failing first pass did not end the loop
    stopping = asyncio.create_task(task.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()                  # stop waits for the pass in progress…
    release.set()
    await asyncio.wait_for(stopping, 5)
    assert passes[-1] == "end"                  # …which ran to its end, not cancelled
    assert not task.running


async def test_a_pass_that_overruns_the_stop_timeout_is_cancelled() -> None:
    async def forever() -> None:
        await asyncio.Event().wait()

    task = PeriodicTask("stuck", forever, interval=1, stop_timeout=0.05)
    task.start()
    await asyncio.sleep(0.01)
    await asyncio.wait_for(task.stop(), 5)
    assert not task.running


async def test_wait_until_returns_the_value_or_fails_with_what_it_waited_for() -> None:
    values = iter([0, 0, 7])
    assert await wait_until(lambda: next(values), timeout=1) == 7

    async def never() -> bool:
        return False

    with pytest.raises(AssertionError, match="the inbox to fill"):
        await wait_until(never, timeout=0.05, what="the inbox to fill")


# -- typed rows -------------------------------------------------------------------------------------

async def test_one_model_gives_the_core_table_and_typed_rows() -> None:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.orm import registry
    from sqlmodel import Field, SQLModel

    from linli_runtime.models import table, typed, typed_all

    class Base(SQLModel, registry=registry()):
        pass

    class Thing(Base, table=True):
        __tablename__ = "test_thing"
        scope: str = Field(sa_column=sa.Column(sa.String(20), primary_key=True))
        ident: str = Field(sa_column=sa.Column(sa.String(20), primary_key=True))
        points: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))

    things = table(Thing)
    assert list(Base.metadata.tables) == ["test_thing"]   # the base's own MetaData only
    engine = create_async_engine("sqlite+aiosqlite://")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
        await conn.execute(things.insert().values(scope="a", ident="1"))
        await conn.execute(things.insert().values(scope="a", ident="2", points=5))
        rows = (await conn.execute(sa.select(things).order_by(things.c.ident))).all()
    await engine.dispose()
    got = typed_all(Thing, rows)
    assert [(t.ident, t.points) for t in got] == [("1", 0), ("2", 5)]
    assert typed(Thing, got[0]) is got[0]
    with pytest.raises(TypeError):
        table(Base)


def test_loaded_rows_are_model_instances_built_without_validation() -> None:
    import sqlalchemy as sa
    from sqlalchemy.orm import registry
    from sqlmodel import Field, SQLModel

    from linli_runtime.models import loaded, loaded_all

    class Base(SQLModel, registry=registry()):
        pass

    class Thing(Base, table=True):
        __tablename__ = "test_loaded_thing"
        ident: str = Field(sa_column=sa.Column(sa.String(20), primary_key=True))
        points: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))

    got = loaded_all(Thing, [{"ident": "1", "points": 5}, {"ident": "2"}])
    assert [(type(t), t.ident, t.points) for t in got] == [(Thing, "1", 5), (Thing, "2", 0)]
    assert loaded(Thing, got[0]) is got[0]
