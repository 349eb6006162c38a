"""The pieces the commands are built from, without a service: times in and out (China time
with the offset), the place a token's scope lies in, short ids, households inside a vote's
compound, the follow-up to record, who needs help."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from linli.notification.v1 import notification_pb2 as help_pb
from linli_cli import accounts, names, shortids
from linli_cli.errors import CliError, ExitCode
from linli_cli.help_requests import pick_follow_up, who_needs_help
from linli_cli.output import CHINA, clock_time, iso, local, when
from linli_cli.times import parse_future, parse_moment
from linli_cli.votes import household_path

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
SHENGJIAN = "chengdu/chongzhou/longxing/longxing-community/shengjian"
NOW = datetime(2026, 11, 7, 3, 0, tzinfo=UTC)  # Saturday 11:00 in Chengdu


def test_times_are_printed_in_china_time_with_the_offset() -> None:
    ts = Timestamp(seconds=int(NOW.timestamp()))
    assert when(ts) == "2026-11-07T11:00:00+08:00" == iso(NOW)
    assert local(ts) == "2026-11-07 11:00+08:00" == clock_time(NOW)
    assert when(Timestamp()) is None and local(Timestamp()) == ""  # unset is null, not 1970
    late = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)  # already next year in China
    assert iso(late) == "2027-01-01T00:30:00+08:00"


@pytest.mark.parametrize(("text", "expected"), [
    ("+90s", NOW + timedelta(seconds=90)),
    ("+30m", NOW + timedelta(minutes=30)),
    ("+12h", NOW + timedelta(hours=12)),
    ("+7d", NOW + timedelta(days=7)),
    ("2026-11-20 18:00", datetime(2026, 11, 20, 18, 0, tzinfo=CHINA)),
    ("2026-11-20T18:00", datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),
    ("2026-11-20T18:00+00:00", datetime(2026, 11, 20, 18, 0, tzinfo=UTC)),
    ("2026-11-20", datetime(2026, 11, 20, tzinfo=CHINA)),
])
def test_moments_are_china_time_unless_an_offset_is_given(text: str, expected: datetime) -> None:
    assert parse_moment(text, "--at", NOW) == expected


def test_a_relative_moment_is_to_the_second_as_times_are_shown() -> None:
    assert parse_moment("+30m", "--at", NOW + timedelta(microseconds=999_999)) == NOW + timedelta(minutes=30)


def test_a_deadline_day_means_its_end_and_must_lie_ahead() -> None:
    assert parse_future("2026-11-20", "--closes", NOW) == datetime(2026, 11, 21, tzinfo=CHINA)
    for past in ("2026-11-07 10:59", "2026-11-06", "+0s"):
        with pytest.raises(CliError) as refused:
            parse_future(past, "--closes", NOW)
        assert refused.value.code == ExitCode.USAGE and "--closes" in refused.value.message
    for nonsense in ("tomorrow", "7d", "+7w", "20/11/2026"):
        with pytest.raises(CliError) as refused:
            parse_moment(nonsense, "--at", NOW)
        assert refused.value.code == ExitCode.USAGE and "+7d" in refused.value.message


def test_a_scope_lies_in_one_community_or_compound_when_deep_enough() -> None:
    assert names.enclosing(FENGSHU, names.COMMUNITY_DEPTH) == FENGSHU
    assert names.enclosing(f"{FENGSHU}/jinshang-chuntian/b1/h101", names.COMPOUND_DEPTH) == \
        f"{FENGSHU}/jinshang-chuntian"
    assert names.enclosing("chengdu/jinjiang", names.COMMUNITY_DEPTH) is None
    assert names.enclosing("", names.COMMUNITY_DEPTH) is None
    assert names.place_for("/Chengdu/X/", FENGSHU, names.COMMUNITY_DEPTH, "community", "--community") == "chengdu/x"
    assert names.place_for(None, f"{FENGSHU}/jinshang-chuntian", 4, "community", "--community") == FENGSHU
    with pytest.raises(CliError) as wide:
        names.place_for(None, "chengdu", names.COMMUNITY_DEPTH, "community", "--community")
    assert wide.value.code == ExitCode.USAGE and "--community" in wide.value.message
    assert "reaches chengdu" in wide.value.message


KIND = shortids.Kind(noun="help request", parent_kind="communities", collection="helpRequests",
                     complete=re.compile(r"h-[0-9a-f]{16}"), min_prefix=4, list_command="linli help-requests list")
PARENT = "communities/chengdu~jinjiang~chenglonglu~fengshu/helpRequests"


class Lookups:
    """What resolve may ask the service, recorded."""

    def __init__(self, existing: set[str], listed: list[str]) -> None:
        self.existing, self.listed = existing, listed
        self.asked: list[tuple[str, str]] = []

    async def exists(self, name: str) -> bool:
        self.asked.append(("get", name))
        return name in self.existing

    async def candidates(self) -> list[str]:
        self.asked.append(("list", ""))
        return self.listed


async def resolve(value: str, lookups: Lookups, parent: str | None = FENGSHU) -> str:
    return await shortids.resolve(KIND, value, parent, what="ID", area=parent or "chengdu",
                                  exists=lookups.exists, candidates=lookups.candidates)


async def test_a_full_name_or_a_complete_id_needs_no_lookup() -> None:
    lookups = Lookups(set(), [])
    assert await resolve(f"{PARENT}/h-0123456789abcdef", lookups) == f"{PARENT}/h-0123456789abcdef"
    assert await resolve("h-0123456789abcdef", lookups) == f"{PARENT}/h-0123456789abcdef"
    assert lookups.asked == []


async def test_an_id_that_exists_is_taken_as_is_and_a_beginning_finds_the_one_id_it_starts() -> None:
    demo, mine, other = f"{PARENT}/h-demo-01", f"{PARENT}/h-1a2b3c4d5e6f7a8b", f"{PARENT}/h-9f00000000000000"
    lookups = Lookups({demo}, [demo, mine, other])
    assert await resolve("h-demo-01", lookups) == demo
    assert lookups.asked == [("get", demo)]
    assert await resolve("h-1a2b", lookups) == mine
    assert await resolve("h-1a2b", lookups, parent=None) == mine  # a wider token: its scope is searched


async def test_an_unknown_id_is_not_found_and_an_ambiguous_beginning_is_a_usage_error() -> None:
    first, second = f"{PARENT}/h-1a2b000000000000", f"{PARENT}/h-1a2bffffffffffff"
    lookups = Lookups(set(), [first, second])
    with pytest.raises(CliError) as unknown:
        await resolve("h-7777", lookups)
    assert unknown.value.code == ExitCode.NOT_FOUND and "h-7777" in unknown.value.message
    with pytest.raises(CliError) as ambiguous:
        await resolve("h-1a2b", lookups)
    assert ambiguous.value.code == ExitCode.USAGE and "2 help requests" in ambiguous.value.message


@pytest.mark.parametrize("value", ["h-1", "h 1a2b", "communities/x/helpRequests", "communities/x/votes/1",
                                   "communities/成都/helpRequests/h-1"])
async def test_malformed_ids_and_names_are_usage_errors_before_any_lookup(value: str) -> None:
    lookups = Lookups(set(), [])
    with pytest.raises(CliError) as refused:
        await resolve(value, lookups)
    assert refused.value.code == ExitCode.USAGE and refused.value.message.startswith("ID: ")
    assert lookups.asked == []


def test_households_are_given_inside_the_votes_compound_or_in_full() -> None:
    assert household_path("b1/h101", SHENGJIAN) == f"{SHENGJIAN}/b1/h101"
    assert household_path(f"/{SHENGJIAN}/B1/h101", SHENGJIAN) == f"{SHENGJIAN}/b1/h101"
    with pytest.raises(CliError) as bad:
        household_path("b1/101室", SHENGJIAN)
    assert bad.value.code == ExitCode.USAGE and "--household" in bad.value.message


def follow_ups(*done: bool) -> help_pb.HelpRequest:
    return help_pb.HelpRequest(name=f"{PARENT}/h-1", status=help_pb.STATUS_RESOLVED, follow_ups=[
        help_pb.FollowUp(name=f"{PARENT}/h-1/followUps/{n}", day_offset=day, done=flag)
        for n, (day, flag) in enumerate(zip((1, 3, 7), done, strict=True), start=1)])


def test_the_follow_up_recorded_is_the_first_not_done_or_the_day_asked() -> None:
    assert pick_follow_up(follow_ups(False, False, False), None).day_offset == 1
    assert pick_follow_up(follow_ups(True, False, False), None).day_offset == 3
    assert pick_follow_up(follow_ups(True, False, False), 7).name.endswith("/followUps/3")
    with pytest.raises(CliError) as no_such_day:
        pick_follow_up(follow_ups(False, False, False), 2)
    assert no_such_day.value.code == ExitCode.USAGE and "1, 3, 7" in no_such_day.value.message
    with pytest.raises(CliError) as all_done:
        pick_follow_up(follow_ups(True, True, True), None)
    assert all_done.value.code == ExitCode.FAILED and "close" in all_done.value.message
    with pytest.raises(CliError) as unresolved:
        pick_follow_up(help_pb.HelpRequest(name=f"{PARENT}/h-1", status=help_pb.STATUS_ACKNOWLEDGED), None)
    assert "acknowledged" in unresolved.value.message


def test_who_needs_help_says_whom_how_to_reach_them_and_where_as_far_as_known() -> None:
    wan = help_pb.HelpRequest(community_path=FENGSHU, compound_path=f"{FENGSHU}/jinshang-chuntian",
                              on_behalf_of="万阿姨", contact="138-0000-0000",
                              reporter_role=help_pb.REPORTER_ROLE_CANTEEN_STAFF, reporter_id="canteen-liu")
    assert who_needs_help(wan) == "万阿姨, 138-0000-0000, jinshang-chuntian"
    resident = help_pb.HelpRequest(reporter_id="resident-7", reporter_role=help_pb.REPORTER_ROLE_RESIDENT)
    assert who_needs_help(resident) == "resident-7"
    assert who_needs_help(help_pb.HelpRequest(reporter_role=help_pb.REPORTER_ROLE_WORKER, reporter_id="w")) == ""


@pytest.mark.parametrize(("written", "query"), [
    ("+86 138 0000 0003", "+8613800000003"), ("13800000003", "+8613800000003"), ("138-0000-0003", "+8613800000003"),
    ("+44 20 7946 0000", "+442079460000"),
])
def test_a_person_named_by_phone_is_looked_up_in_e164(written: str, query: str) -> None:
    assert accounts.looks_like_phone(written) and accounts.phone_query(written) == query


@pytest.mark.parametrize("account", ["acc_abcdefghij234567abcd", "f47ac10b-58cc-4372-a567-0e02b2c3d479", "worker-li"])
def test_an_account_id_is_not_taken_for_a_phone_number(account: str) -> None:
    assert not accounts.looks_like_phone(account)
