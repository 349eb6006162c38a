"""The clients of the platform fault test: POS terminals redeeming points and community workers
filing and resolving help requests, each a `faultkit.Call` the `Producer` retries with the same
request id until the platform gives a definite answer.

A retry must ask for exactly what the first attempt asked for, so each client keeps what its
first attempt settled per key: a POS terminal the member session it opened (the session is part
of the redemption's fingerprint: a new session under the same request id is a different
redemption, ALREADY_EXISTS); the help desk the request it filed (acknowledge and resolve act on
it, each step with a request id of its own derived from the key's).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc

from linli.notification.v1 import notification_pb2 as npb
from linli.notification.v1 import notification_pb2_grpc as npb_grpc
from linli.points.v1 import ledger_pb2 as lpb
from linli.points.v1 import ledger_pb2_grpc as lpb_grpc
from linli.redemption.v1 import admin_pb2, admin_pb2_grpc, pos_pb2, pos_pb2_grpc

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
FENGSHU_PARENT = "communities/" + FENGSHU.replace("/", "~")
# The demo terminal `make run` seeds (README: its credential is published on purpose).
TERMINAL = (("authorization", "Terminal fengshu-demo-pos:demo-only-fengshu-pos-secret"),)
REWARD = "merchants/jinchengyijing-health/rewards/blood-pressure-check"  # 10 points, unlimited stock
REWARD_POINTS = 10
HEAD = "worker-he"  # the community head in the notification demo roster
CALL_TIMEOUT = 8.0  # a Redeem is three transactions and a ledger call: generous under load


@dataclass
class Redemption:
    volunteer_id: str
    request_id: str
    name: str = ""  # merchants/{merchant}/redemptions/{id}, once accepted
    points: int = 0


@dataclass
class PosTerminal:
    """The demo terminal at the health centre's counter; worker w serves volunteer
    `volunteers[w % len(volunteers)]` (its own, so tills do not queue on one volunteer's
    account). One logical call: show the member code, resolve it, redeem one blood pressure
    check; retried as a whole, reusing the session the first attempt opened."""

    channel: grpc.aio.Channel  # to partner-redemption, with an operator token for member codes
    volunteers: list[str]
    sessions: dict[str, str] = field(default_factory=dict)  # key → member session of its first attempt
    redemptions: dict[str, Redemption] = field(default_factory=dict)  # key → what was accepted

    def __post_init__(self) -> None:
        self.pos = pos_pb2_grpc.PosServiceStub(self.channel)
        self.cards = admin_pb2_grpc.MemberCardServiceStub(self.channel)

    def volunteer_of(self, key: str) -> str:
        worker = int(key.split("-", 1)[0].removeprefix("w"))
        return self.volunteers[worker % len(self.volunteers)]

    async def __call__(self, key: str, request_id: str) -> str:
        volunteer = self.volunteer_of(key)
        session = self.sessions.get(key)
        if session is None:
            # What the volunteer's app shows now (a fresh code per redemption), then the till
            # opens the member session. Retrying these is harmless: the same terminal resolving
            # a code again gets the same session, and no redemption exists yet.
            code = (await self.cards.GetMemberCode(admin_pb2.GetMemberCodeRequest(
                community_path=FENGSHU, volunteer_id=volunteer), timeout=CALL_TIMEOUT)).member_code
            member = await self.pos.ResolveMemberCode(pos_pb2.ResolveMemberCodeRequest(member_code=code),
                                                      metadata=TERMINAL, timeout=CALL_TIMEOUT)
            session = self.sessions[key] = member.member_session
        reply = await self.pos.Redeem(pos_pb2.RedeemRequest(
            reward=REWARD, member_session=session, quantity=1, request_id=request_id,
            expected_points=REWARD_POINTS), metadata=TERMINAL, timeout=CALL_TIMEOUT)
        r = reply.redemption
        assert r.request_id == request_id and r.points == REWARD_POINTS, r
        self.redemptions[key] = Redemption(volunteer, request_id, r.name, int(r.points))
        return str(r.name)


@dataclass
class HelpDesk:
    """Community staff: file a help request for a resident, the head acknowledges it and
    resolves it naming the volunteer who helped (credited by volunteer-points from the event).
    Each step has its own request id (`{request id}.create|ack|resolve`); a retry resumes at
    the first step not yet answered."""

    channel: grpc.aio.Channel  # to notification, with the head's token
    helpers: list[str]
    filed: dict[str, str] = field(default_factory=dict)  # key → help request name
    resolved: dict[str, str] = field(default_factory=dict)  # help request name → helper credited
    _acknowledged: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.desk = npb_grpc.HelpRequestServiceStub(self.channel)

    async def __call__(self, key: str, request_id: str) -> str:
        name = self.filed.get(key)
        if name is None:
            filed = await self.desk.CreateHelpRequest(npb.CreateHelpRequestRequest(
                parent=FENGSHU_PARENT, request_id=f"{request_id}.create", help_request=npb.HelpRequest(
                    reporter_id="canteen-staff-liu", reporter_role=npb.REPORTER_ROLE_CANTEEN_STAFF,
                    on_behalf_of=f"resident {key}", category="meal", urgency=npb.URGENCY_NORMAL,
                    description=f"cannot get out to buy food ({key})")), timeout=CALL_TIMEOUT)
            name = self.filed[key] = filed.help_request.name
        if key not in self._acknowledged:
            await self.desk.AcknowledgeHelpRequest(npb.AcknowledgeHelpRequestRequest(
                name=name, request_id=f"{request_id}.ack"), timeout=CALL_TIMEOUT)
            self._acknowledged.add(key)
        helper = self.resolved.setdefault(name, self.helpers[len(self.resolved) % len(self.helpers)])
        done = await self.desk.ResolveHelpRequest(npb.ResolveHelpRequestRequest(
            name=name, request_id=f"{request_id}.resolve", resolution="a volunteer brought a meal",
            helper_ids=[helper]), timeout=CALL_TIMEOUT)
        assert done.help_request.status == npb.STATUS_RESOLVED, done.help_request
        return name


Balances = dict[str, lpb.GetBalanceResponse]


async def balances(channel: grpc.aio.Channel, volunteers: list[str]) -> Balances:
    ledger = lpb_grpc.LedgerServiceStub(channel)
    return {v: await ledger.GetBalance(lpb.GetBalanceRequest(community_path=FENGSHU, account=f"volunteers/{v}"),
                                       timeout=CALL_TIMEOUT) for v in volunteers}


async def top_up(channel: grpc.aio.Channel, volunteers: list[str], points: int) -> None:
    """Issue `points` to each volunteer (a platform administrator's ledger transfer), so the load
    never runs into INSUFFICIENT_POINTS."""
    ledger = lpb_grpc.LedgerServiceStub(channel)
    for v in volunteers:
        await ledger.CreateTransfer(lpb.CreateTransferRequest(
            community_path=FENGSHU, transfer_id=f"fault-test:top-up:{v}", debit_account="system/issuance",
            credit_account=f"volunteers/{v}", amount=points, reason="fault test", source="fault test"),
            timeout=CALL_TIMEOUT)
