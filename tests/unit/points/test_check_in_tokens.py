"""The organiser's rotating check-in tokens (check_in_tokens.py): pure, on given instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from linli_points.check_in_tokens import LIFETIME, ROTATION, TokenRefused, mint, new_key, verify

PATH, ACTIVITY = "chengdu/jinjiang/chenglonglu/fengshu", "sweep"
AT = datetime(2026, 12, 7, 12, 0, 10, tzinfo=UTC)


def test_a_token_is_good_from_its_step_until_its_lifetime_and_rotates_each_step() -> None:
    key = new_key()
    minted = mint(key, PATH, ACTIVITY, AT)
    assert minted.step_start == datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
    assert (minted.rotate_time - minted.step_start, minted.expire_time - minted.step_start) == (ROTATION, LIFETIME)
    assert verify(key, PATH, ACTIVITY, minted.token, minted.expire_time - timedelta(microseconds=1)) == \
        minted.step_start
    assert mint(key, PATH, ACTIVITY, minted.rotate_time).token != minted.token
    assert mint(key, PATH, ACTIVITY, minted.rotate_time - timedelta(seconds=1)).token == minted.token
    with pytest.raises(TokenRefused) as refused:
        verify(key, PATH, ACTIVITY, minted.token, minted.expire_time)
    assert refused.value.kind == "expired"


@pytest.mark.parametrize("change", ["key", "path", "activity", "step", "mac", "shape", "future"])
def test_anything_else_is_refused(change: str) -> None:
    key = new_key()
    token = mint(key, PATH, ACTIVITY, AT).token
    step, mac = token.split(".")
    key2, path, activity, now = key, PATH, ACTIVITY, AT
    if change == "key":
        key2 = new_key()
    elif change == "path":
        path = PATH + "x"
    elif change == "activity":
        activity = "other"
    elif change == "step":
        token = f"{int(step) - 1}.{mac}"
    elif change == "mac":
        token = f"{step}.{'A' * 22}"
    elif change == "shape":
        token = step
    elif change == "future":
        token = mint(key, PATH, ACTIVITY, AT + timedelta(minutes=5)).token
    with pytest.raises(TokenRefused) as refused:
        verify(key2, path, activity, token, now)
    assert refused.value.kind == ("malformed" if change == "shape" else "invalid")


def test_no_key_no_token() -> None:
    with pytest.raises(TokenRefused):
        verify("", PATH, ACTIVITY, mint(new_key(), PATH, ACTIVITY, AT).token, AT)
