"""Member codes: what a volunteer shows at the till.

A code is 14 digits: the 8-digit card number, then a 6-digit one-time code computed from the
card's secret and the current 60-second step (TOTP, RFC 6238 with HMAC-SHA256). The code of
the current or the previous step is accepted (so a code shown just before a step turns still
works); a code from an older step is expired. A code opens one member session for one
terminal (a unique row per card and step), so a code seen over the counter cannot be used
again elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from datetime import UTC, datetime, timedelta

from linli_runtime.errors import FailedPrecondition, InvalidArgument

STEP_SECONDS = 60
ACCEPTED_STEPS = 2  # the current step and the one before it
LOOKBACK_STEPS = 60  # older matches than this are just "wrong", not "expired"
SESSION_TTL = timedelta(minutes=10)


def new_card() -> tuple[str, str]:
    """(card number, secret hex)."""
    return f"{secrets.randbelow(90_000_000) + 10_000_000}", secrets.token_hex(20)


def step_of(when: datetime) -> int:
    return int(when.timestamp()) // STEP_SECONDS


def step_end(step: int) -> datetime:
    return datetime.fromtimestamp((step + 1) * STEP_SECONDS, UTC)


def one_time_code(secret_hex: str, step: int) -> str:
    digest = hmac.new(bytes.fromhex(secret_hex), struct.pack(">Q", step), hashlib.sha256).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def member_code(card_number: str, secret_hex: str, when: datetime) -> tuple[str, datetime]:
    """The code to show at `when`, and when it stops being accepted."""
    step = step_of(when)
    return card_number + one_time_code(secret_hex, step), step_end(step + ACCEPTED_STEPS - 1)


def split_code(code: str) -> tuple[str, str]:
    code = code.strip().replace(" ", "")
    if len(code) != 14 or not code.isdigit():
        raise InvalidArgument.field("member_code", "must be 14 digits (card number and one-time code)",
                                    reason="MEMBER_CODE_MALFORMED")
    return code[:8], code[8:]


def verify(secret_hex: str, otp: str, now: datetime) -> int:
    """The step `otp` belongs to; refuses expired and wrong codes."""
    current = step_of(now)
    for back in range(LOOKBACK_STEPS):
        if hmac.compare_digest(one_time_code(secret_hex, current - back), otp):
            if back < ACCEPTED_STEPS:
                return current - back
            raise FailedPrecondition("this member code has expired; ask the member to show the current one",
                                     reason="MEMBER_CODE_EXPIRED")
    raise wrong_code()


def wrong_code(wrong_codes_left: int | None = None) -> FailedPrecondition:
    """The refusal of a wrong code; `wrong_codes_left` (ErrorInfo metadata) says how many more
    the terminal may send before it is locked out (pos_limits)."""
    metadata = {} if wrong_codes_left is None else {"wrong_codes_left": str(wrong_codes_left)}
    return FailedPrecondition("this member code is not valid; ask the member to show it again",
                              reason="MEMBER_CODE_INVALID", metadata=metadata)
