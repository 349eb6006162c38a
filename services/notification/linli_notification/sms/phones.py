"""Phone numbers as SMS vendors want them: E.164 (`+8613800000000`), and the forms derived from
it. A number that cannot be one is the recipient's problem (`ValueError`), not a provider's."""

from __future__ import annotations

import re

MAINLAND = "+86"
_SEPARATORS = re.compile(r"[\s\-().]")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def e164(raw: str) -> str:
    """`138-0000-0000`, `13800000000`, `0086 138…`, `+86 138…` → `+8613800000000`; ValueError
    for anything else."""
    number = _SEPARATORS.sub("", raw)
    if number.startswith("00"):
        number = "+" + number[2:]
    if _MAINLAND_MOBILE.match(number):
        number = MAINLAND + number
    if not _E164.match(number):
        raise ValueError("not a phone number in international form (e.g. +8613800000000) or a mainland mobile number")
    if number.startswith(MAINLAND) and not _MAINLAND_MOBILE.match(number[len(MAINLAND):]):
        raise ValueError("not a mainland mobile number (11 digits starting with 13–19)")
    return number


def aliyun_number(number: str) -> str:
    """Aliyun's `PhoneNumbers`: mainland numbers without the country code, others as country
    code and number without `+` (`85212345678`)."""
    return number[len(MAINLAND):] if number.startswith(MAINLAND) else number.lstrip("+")


def masked(number: str) -> str:
    """For records and logs: `+86 138****0000`."""
    if number.startswith(MAINLAND):
        national = number[len(MAINLAND):]
        return f"{MAINLAND} {national[:3]}****{national[-4:]}"
    return f"{number[:4]}****{number[-4:]}" if len(number) > 8 else "****"
