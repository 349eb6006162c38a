"""The POS abuse limits (pos_limits, pos_guard) through a running partner-redemption and
volunteer-points, on SQLite and PostgreSQL, with a manual clock: a terminal locked out after
five wrong codes, a card that has had its tries, resolving and redeeming too fast — each
refused with RESOURCE_EXHAUSTED and a RetryInfo saying when to come back —, the counts shared
by two replicas, and a day of guessing against the real limiter staying within the bound that
keeps a guesser's chance below 1 % a card a day."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime

import grpc
import pytest
from linli_redemption import pos_limits as pl
from linli_redemption.app import MIGRATIONS, RedemptionApp
from linli_redemption.member_codes import ACCEPTED_STEPS
from linli_redemption.members import Members
from linli_redemption.pos_guard import PosGuard
from linli_redemption.tables import MEMBER_CARDS
from linli_redemption.terminals import TerminalCaller

from linli.redemption.v1 import pos_pb2 as pb
from linli.redemption.v1 import pos_pb2_grpc
from linli_runtime.clients import make_channel
from linli_runtime.clock import ManualClock
from linli_runtime.db import Database
from linli_runtime.errors import FailedPrecondition, ResourceExhausted
from linli_runtime.migrations import upgrade
from linli_runtime.rich_status import details, error_metadata, retry_delay

from .conftest import FENGSHU, Kit, Metadata

WRONG = "00000000"  # a card number no card has (cards are 10000000–99999999)


async def resolve(kit: Kit, terminal: Metadata, code: str) -> pb.ResolveMemberCodeResponse:
    reply: pb.ResolveMemberCodeResponse = await kit.pos.ResolveMemberCode(
        pb.ResolveMemberCodeRequest(member_code=code), metadata=terminal)
    return reply


async def refused(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


def wrong_otp(code: str) -> str:
    """The member code with its one-time part changed (the card is right, the code wrong)."""
    return code[:8] + f"{(int(code[8:]) + 500_000) % 1_000_000:06d}"


async def test_five_wrong_codes_lock_a_terminal_out_for_fifteen_minutes(kit: Kit, clock: ManualClock) -> None:
    till, other_till = await kit.terminal(), await kit.terminal()
    volunteer = await kit.volunteer(50)
    code = await kit.code(volunteer)
    left = []
    for guess in (WRONG + "123456", wrong_otp(code), WRONG + "654321", wrong_otp(code), WRONG + "111111"):
        error = await refused(resolve(kit, till, guess))
        assert (error.code(), details(error)[0]) == (grpc.StatusCode.FAILED_PRECONDITION, "MEMBER_CODE_INVALID")
        left.append(error_metadata(error)["wrong_codes_left"])
    assert left == ["4", "3", "2", "1", "0"]
    # Locked out: even the right code is not looked at, and the answer says when to come back.
    locked = await refused(resolve(kit, till, code))
    assert (locked.code(), details(locked)[0]) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "TERMINAL_LOCKED_OUT")
    assert retry_delay(locked) == 900 and error_metadata(locked)["retry_after_seconds"] == "900"
    # Another terminal is not locked out by this one.
    assert (await resolve(kit, other_till, code)).masked_member == "王*英"
    clock.advance(minutes=14)
    still = await refused(resolve(kit, till, await kit.code(volunteer)))
    assert details(still)[0] == "TERMINAL_LOCKED_OUT" and retry_delay(still) == 60
    clock.advance(minutes=1)
    assert (await resolve(kit, till, await kit.code(volunteer))).available_points == 50


async def test_a_card_with_ten_wrong_codes_in_an_hour_is_refused_until_the_hour_ends(
    kit: Kit, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 12, 7, 10, 20, tzinfo=UTC))
    tills = [await kit.terminal() for _ in range(3)]  # spread so that no till is locked out
    volunteer = await kit.volunteer(50)
    code = await kit.code(volunteer)
    for i in range(10):
        error = await refused(resolve(kit, tills[i % 3], wrong_otp(code)))
        assert details(error)[0] == "MEMBER_CODE_INVALID"
    # The eleventh try — the right code, from a fresh till — is not even looked at.
    fresh = await kit.terminal()
    spent = await refused(resolve(kit, fresh, code))
    assert (spent.code(), details(spent)[0]) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "MEMBER_CODE_TRIES_EXHAUSTED")
    assert retry_delay(spent) == 40 * 60  # until 11:00
    # Another member's card is not affected.
    assert (await resolve(kit, fresh, await kit.code(await kit.volunteer(5)))).available_points == 5
    clock.set(datetime(2026, 12, 7, 11, 0, tzinfo=UTC))
    assert (await resolve(kit, fresh, await kit.code(volunteer))).available_points == 50


async def test_right_codes_are_not_counted_against_the_member(kit: Kit, app: RedemptionApp,
                                                              clock: ManualClock) -> None:
    app.pos_guard.limits = replace(app.pos_guard.limits, wrong_codes_per_member=pl.Limit(2, pl.HOUR))
    clock.set(datetime(2026, 12, 7, 10, 0, tzinfo=UTC))
    till = await kit.terminal()
    volunteer = await kit.volunteer(50)
    for _ in range(4):  # a member who shops often
        assert (await resolve(kit, till, await kit.code(volunteer))).available_points == 50
        clock.advance(minutes=1)
    code = await kit.code(volunteer)
    for _ in range(2):
        assert details(await refused(resolve(kit, till, wrong_otp(code))))[0] == "MEMBER_CODE_INVALID"
    assert details(await refused(resolve(kit, till, code)))[0] == "MEMBER_CODE_TRIES_EXHAUSTED"


async def test_resolving_too_fast_is_refused_until_the_minute_ends(kit: Kit, app: RedemptionApp,
                                                                   clock: ManualClock) -> None:
    app.pos_guard.limits = replace(app.pos_guard.limits, resolves_per_terminal=pl.Limit(3, pl.MINUTE))
    clock.set(datetime(2026, 12, 7, 10, 0, 15, tzinfo=UTC))
    till = await kit.terminal()
    code = await kit.code(await kit.volunteer(50))
    sessions = {(await resolve(kit, till, code)).member_session for _ in range(3)}  # a lost reply, asked again
    assert len(sessions) == 1
    fast = await refused(resolve(kit, till, code))
    assert (fast.code(), details(fast)[0]) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "TERMINAL_RATE_LIMITED")
    assert retry_delay(fast) == 45
    clock.advance(seconds=45)
    assert (await resolve(kit, till, code)).member_session in sessions


async def test_redeems_are_limited_per_member_and_per_terminal_and_a_retry_is_not_counted(
    kit: Kit, app: RedemptionApp, clock: ManualClock
) -> None:
    app.pos_guard.limits = replace(app.pos_guard.limits, redeems_per_member=pl.Limit(2, pl.HOUR),
                                   redeems_per_terminal=pl.Limit(3, pl.MINUTE))
    clock.set(datetime(2026, 12, 7, 10, 30, tzinfo=UTC))
    till, other_till = await kit.terminal(), await kit.terminal()
    wang, li = await kit.volunteer(100), await kit.volunteer(100, name="李四")
    reward = await kit.reward(points=1)

    async def redeem(terminal: Metadata, session: str, request_id: str) -> pb.RedeemResponse:
        reply: pb.RedeemResponse = await kit.pos.Redeem(pb.RedeemRequest(
            reward=reward, member_session=session, quantity=1, request_id=request_id), metadata=terminal)
        return reply

    wang_here = await kit.session(till, wang)
    first = await redeem(till, wang_here, "r-1")
    await redeem(till, wang_here, "r-2")
    for _ in range(3):  # retries of a redeem already made are answered, never counted
        assert (await redeem(till, wang_here, "r-1")).redemption == first.redemption
    member = await refused(redeem(till, wang_here, "r-3"))
    assert (member.code(), details(member)[0]) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "MEMBER_RATE_LIMITED")
    assert retry_delay(member) == 30 * 60
    # Per terminal: the till has made 2 new redeems this minute; Li's is its third, the fourth is refused.
    li_here = await kit.session(till, li)
    await redeem(till, li_here, "r-5")
    terminal = await refused(redeem(till, li_here, "r-6"))
    assert details(terminal)[0] == "TERMINAL_RATE_LIMITED" and retry_delay(terminal) == 60
    # Per member, whichever till: a minute on, Wang is still refused at the other till.
    clock.advance(minutes=1)
    wang_there = await kit.session(other_till, wang)
    assert details(await refused(redeem(other_till, wang_there, "r-4")))[0] == "MEMBER_RATE_LIMITED"
    assert (await kit.balance(wang)).balance == 98 and (await kit.balance(li)).balance == 99


async def test_two_replicas_count_the_same_wrong_codes(
    kit: Kit, make_app: Callable[..., Awaitable[RedemptionApp]], app: RedemptionApp
) -> None:
    """The counts live in the service's database: a terminal switching replicas is counted once."""
    second = await make_app()
    till = await kit.terminal()
    async with make_channel(f"127.0.0.1:{second.port}", default_timeout=30) as channel:
        pos_b = pos_pb2_grpc.PosServiceStub(channel)
        for i in range(5):
            stub = kit.pos if i % 2 == 0 else pos_b
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.ResolveMemberCode(pb.ResolveMemberCodeRequest(member_code=WRONG + f"{i:06d}"),
                                             metadata=till)
        for stub in (kit.pos, pos_b):
            with pytest.raises(grpc.aio.AioRpcError) as locked:
                await stub.ResolveMemberCode(pb.ResolveMemberCodeRequest(member_code=WRONG + "999999"),
                                             metadata=till)
            assert details(locked.value)[0] == "TERMINAL_LOCKED_OUT"


class NoPoints:
    """Resolving a code never asks volunteer-points (only issuing a card does)."""


async def test_a_day_of_guessing_one_card_stays_within_the_bound(database_url: str) -> None:
    """An attacker holding many terminal credentials guesses one card's code every two minutes
    (three times what the card allows) for a day, rotating tills so that none is locked out.
    The real limiter, on the real database, lets at most `wrong_codes_per_day` of the wrong
    guesses be looked at — so the chance of a hit stays below 1 % (the bound computed from the limits)."""
    limits = pl.DEFAULT_LIMITS
    bound = pl.guess_success_bound(limits)
    assert bound < 0.01
    db = Database(database_url)
    try:
        await upgrade(db, MIGRATIONS)
        # A day that starts on no hour's boundary touches 25 one-hour windows: the worst case.
        start = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
        clock = ManualClock(start)
        async with db.transaction() as session:
            conn = await session.connection()
            await conn.execute(MEMBER_CARDS.insert().values(
                card_number="31415926", community_path=FENGSHU, volunteer_id="v-target", display_name="王秀英",
                secret="ab" * 20, create_time=start))
        members = Members(db, clock, NoPoints(), PosGuard(db, clock, limits))  # type: ignore[arg-type]
        tills = [TerminalCaller(f"t-{i}", "some-merchant", FENGSHU) for i in range(12)]
        guesses = random.Random(7)
        looked_at = refused_untried = hits = 0
        minute = 0
        while clock.now() < start + pl.DAY:
            till = tills[minute // 2 % len(tills)]
            try:
                await members.resolve(till, f"31415926{guesses.randrange(10**6):06d}")
                hits += 1
            except FailedPrecondition:
                looked_at += 1
            except ResourceExhausted as refusal:
                assert refusal.reason == "MEMBER_CODE_TRIES_EXHAUSTED", refusal.reason
                refused_untried += 1
            clock.advance(minutes=2)
            minute += 2
        assert minute == 1440
        assert hits == 0  # (this seed's guesses all miss)
        assert looked_at == pl.wrong_codes_per_day(limits) == 250
        assert refused_untried == 720 - 250
        assert (looked_at + 1) * ACCEPTED_STEPS / pl.CODE_SPACE <= bound < 0.01
    finally:
        await db.dispose()

