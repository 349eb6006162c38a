"""Member codes (TOTP-style): the current and previous step work, older steps are expired,
anything else is wrong; codes are 14 digits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from linli_redemption import member_codes as mc

from linli_runtime.errors import FailedPrecondition, InvalidArgument

NOW = datetime(2026, 11, 7, 9, 0, 30, tzinfo=UTC)


def test_a_code_is_the_card_number_and_six_digits_valid_for_two_steps() -> None:
    number, secret = mc.new_card()
    code, expires = mc.member_code(number, secret, NOW)
    assert len(code) == 14 and code.isdigit() and code.startswith(number)
    assert expires == datetime(2026, 11, 7, 9, 2, tzinfo=UTC)
    assert mc.split_code(code)[0] == number
    otp = code[8:]
    assert mc.verify(secret, otp, NOW) == mc.step_of(NOW)
    assert mc.verify(secret, otp, NOW + timedelta(seconds=60)) == mc.step_of(NOW)  # the previous step


def test_an_old_code_is_expired_and_a_wrong_one_invalid() -> None:
    _, secret = mc.new_card()
    otp = mc.one_time_code(secret, mc.step_of(NOW))
    with pytest.raises(FailedPrecondition) as expired:
        mc.verify(secret, otp, NOW + timedelta(minutes=2))
    assert expired.value.reason == "MEMBER_CODE_EXPIRED"
    wrong = f"{(int(otp) + 1) % 1_000_000:06d}"
    with pytest.raises(FailedPrecondition) as invalid:
        mc.verify(secret, wrong, NOW)
    assert invalid.value.reason in {"MEMBER_CODE_INVALID", "MEMBER_CODE_EXPIRED"}


def test_codes_differ_between_steps_and_secrets() -> None:
    _, a = mc.new_card()
    _, b = mc.new_card()
    step = mc.step_of(NOW)
    assert len({mc.one_time_code(a, step + i) for i in range(20)}) > 15
    assert mc.one_time_code(a, step) != mc.one_time_code(b, step) or mc.one_time_code(a, step + 1) != \
        mc.one_time_code(b, step + 1)


@pytest.mark.parametrize("bad", ["", "123", "1234567890123a", "123456789012345", " "])
def test_malformed_codes_name_the_field(bad: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        mc.split_code(bad)
    assert [v.field for v in refused.value.violations] == ["member_code"]
