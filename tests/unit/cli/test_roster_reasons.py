"""Rejected roster rows in the run's language (linli_cli.roster_reasons): the reasons the
service's real row checks give (linli_points.roster_files) are all recognised, and shown in
Chinese under a Chinese locale with their values kept; an unknown reason is shown as written."""

from __future__ import annotations

from datetime import date

import pytest
from linli_points.roster_files import parse

from linli_cli.roster_reasons import known, reason

TODAY = date(2026, 11, 7)
BAD_ROWS = "\n".join([
    "volunteer_id,display_name,family_id,family_name,team_ids,join_date,person_id",
    "bad id!,王一,,,,,",            # id shape
    "r-2,,,,,,",                     # name required
    "r-3,王三,,王家,,,",            # family_name without family_id
    "r-4,王四,f-4," + "长" * 101 + ",,,",  # family_name too long
    "r-5,王五,,,no-such-team,,",     # unknown team
    "r-6,王六,,,,2999-01-01,",       # a future date
    "r-7,王七,,,,2026-13-01,",       # not a date
    "r-8,王八,,,,,",
    "r-8,王八,,,,,",                 # repeats
    "r-9,王九,,,,,,extra",           # more cells than the header
    "r-10,王十\x00,,,,,",            # NUL
]) + "\n"


def test_every_reason_the_row_checks_give_is_recognised() -> None:
    parsed = parse(BAD_ROWS.encode(), set(), TODAY)
    reasons = [r.reason for r in parsed.rejections]
    assert len(reasons) == 10, parsed.rejections  # every row but the first r-8
    assert [text for text in reasons if not known(text)] == []
    # and the conflict a row meets when it is imported
    assert known("volunteer 'r-1' already exists with different content; choose a new id")


def test_reasons_read_in_chinese_under_a_chinese_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINLI_LANG", "zh")
    assert reason("repeats line 7") == "与第 7 行重复"
    assert reason("team 'no-such-team' does not exist in this community") == "本社区没有团队 'no-such-team'"
    assert reason("family 'f-1' already exists with different content; choose a new id") == (
        "家庭 'f-1' 已存在且内容不同；请换一个编号")
    assert reason("something the service says one day") == "something the service says one day"
    monkeypatch.setenv("LINLI_LANG", "en")
    assert reason("repeats line 7") == "repeats line 7"
