"""Benchmark: a city's busy hour of mixed load — check-ins, visits, redemptions, help requests —
scaled to this machine, each path's throughput and latency next to a bare gRPC echo measured in
the same run.

    .venv/bin/python -m bench.busy_hour                    # PostgreSQL, steps of 10 s, 3 runs
    .venv/bin/python -m bench.busy_hour --runs 1 --seconds 5 --steps 1,4,16
    .venv/bin/python -m bench.busy_hour --sqlite           # the embedded default

What a 20-million-person city asks at its busy hour (5 000 communities, 2 000 000 volunteers,
50 000 000 transfers a year; the busy hour at 10 × the year's mean rate — the same assumption as
the README's sizing table), per second, for the whole city:

    check-ins      16.0/s  one check-in before each activity credit (≈ 50 M credits a year)
    confirmations   0.3/s  a worker confirms an activity's 50 check-ins at once: the credits
    visits          3.2/s  84 elders a community (Fengshu), 2 visits a month each, logged by the
                           volunteer and confirmed by the elder (two calls)
    redeems         3.2/s  one redemption for every five credits, at the partners' tills (POS)
    help requests   1.7/s  three a day a community, routed to whoever is on duty, notices sent

The machine runs the city's rates × k for each k of `--steps` (open loop: a call starts when its
time comes, whether or not the ones before it have finished, so a slow service shows as latency,
not as a lower offered rate), `--seconds` each, and reports each path's offered and completed
rate, p50/p99 (from when the call was due) and errors, and the CPU all processes used per
second of load. The largest k at which every path keeps its rate (≥ 95 % done) with p99 under
`--p99-ms` (a confirmation, 4 × that) is how many such cities' busy hours this machine carries,
on one community: every call lands on Fengshu, whose system accounts are as hot as a community's
get (a city spreads the same load over 5 000 communities' accounts).

Processes as deployed: nats-server, PostgreSQL (or SQLite files), volunteer-points,
partner-redemption and notification, each trusting a test issuer (identity's token code served on
loopback); the clients and the echo run in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import psutil
from google.protobuf.timestamp_pb2 import Timestamp
from linli_identity.testing import TestIssuer, serve_test_issuer

from bench.pos_redeem import CpuMeter, bench_echo, postgres_processes, start_service, stop_processes
from bench.stats import percentile, print_table
from linli.events.v1 import points_pb2 as events_pb
from linli.notification.v1 import notification_pb2 as npb
from linli.notification.v1 import notification_pb2_grpc as ngrpc
from linli.points.v1 import activities_pb2 as act
from linli.points.v1 import activities_pb2_grpc as act_grpc
from linli.points.v1 import ledger_pb2, ledger_pb2_grpc
from linli.points.v1 import pairings_pb2 as par
from linli.points.v1 import pairings_pb2_grpc as par_grpc
from linli.points.v1 import volunteers_pb2 as vol
from linli.points.v1 import volunteers_pb2_grpc as vol_grpc
from linli.redemption.v1 import admin_pb2, admin_pb2_grpc, pos_pb2, pos_pb2_grpc, resources_pb2
from linli_runtime.clients import make_channel
from linli_runtime.processes import EmbeddedPostgres, NatsServer

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
Metadata = tuple[tuple[str, str], ...]

# The city's busy hour, calls per second (see the module's docstring for where each comes from).
CITY_RATES = {"check-in": 16.0, "confirmation": 0.32, "visit": 3.2, "redeem": 3.2, "help request": 1.7}
# Paths whose calls follow from others' instead of a clock: an activity's confirmation is made
# the moment its last volunteer has checked in.
FOLLOWING = {"confirmation"}
# What each path's p99 must stay under, as a share of --p99-ms: a confirmation credits a whole
# activity's volunteers at once (a worker waits for it once, not at a till).
P99_SHARE = {"confirmation": 4.0}
CHECK_INS_PER_ACTIVITY = 50  # confirmed in one call when the activity is full
VOLUNTEERS = 200  # signed up and checking in to activity after activity
FAMILIES = 40  # each paired with one elder; its volunteers log the visits
TERMINALS = 16  # the partners' tills, two per merchant
LOAD_LIMITS = {  # far past what a real till or filer reaches (the abuse limits are not measured here)
    "LINLI_POS_RESOLVES_PER_TERMINAL_PER_MINUTE": "1000000",
    "LINLI_POS_REDEEMS_PER_TERMINAL_PER_MINUTE": "1000000",
    "LINLI_POS_REDEEMS_PER_MEMBER_PER_HOUR": "1000000",
    "LINLI_ACTIVITY_SOLO_DAILY_LIMIT": "1000000", "LINLI_ACTIVITY_SOLO_MONTHLY_LIMIT": "1000000",
}


def ts(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


@dataclass
class PathFigures:
    """One path's calls in one step: latency from when each was due, and its refusals."""

    offered: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    first_errors: dict[str, str] = field(default_factory=dict)  # code → its first message

    def error(self, error: grpc.aio.AioRpcError) -> None:
        code = error.code().name if error.code() else "?"
        self.errors[code] = self.errors.get(code, 0) + 1
        self.first_errors.setdefault(code, error.details() or "")


Call = Callable[[int], Awaitable[None]]


class City:
    """The demo community's people, tills and activities, and one call per path (numbered: each
    call's ids are made of its number, so no step repeats another's)."""

    def __init__(self, points: grpc.aio.Channel, redemption: grpc.aio.Channel, notification: grpc.aio.Channel,
                 issuer: TestIssuer) -> None:
        self.issuer = issuer
        self.run = uuid.uuid4().hex[:6]
        self.organiser = issuer.bearer("bench-organiser", role="community_worker", scope=FENGSHU)
        # Another worker confirms: an organiser confirming their own activity acts alone.
        self.confirmer = issuer.bearer("bench-confirmer", role="community_worker", scope=FENGSHU)
        self.service = issuer.bearer("bench", role="service", kind="service")
        self.activities = act_grpc.ActivityServiceStub(points)
        self.volunteers = vol_grpc.VolunteerServiceStub(points)
        self.pairings = par_grpc.PairingServiceStub(points)
        self.ledger = ledger_pb2_grpc.LedgerServiceStub(points)
        self.pos = pos_pb2_grpc.PosServiceStub(redemption)
        self.partners = admin_pb2_grpc.PartnerServiceStub(redemption)
        self.cards = admin_pb2_grpc.MemberCardServiceStub(redemption)
        self.catalog = admin_pb2_grpc.CatalogServiceStub(redemption)
        self.help = ngrpc.HelpRequestServiceStub(notification)
        self.volunteer_tokens: list[Metadata] = []
        self.family_volunteers: list[tuple[str, Metadata]] = []  # (volunteer id, token) per pairing
        self.tills: list[tuple[Metadata, str, list[str]]] = []  # (terminal's metadata, member session, rewards)
        self.check_in_tokens: dict[int, str] = {}
        self.checked_in: dict[int, list[str]] = {}
        # The step's figures the confirmations count into, and the confirmations under way.
        self.confirmations = PathFigures()
        self.confirming: set[asyncio.Task[None]] = set()

    def volunteer_id(self, v: int) -> str:
        return f"bv-{self.run}-{v}"

    async def set_up(self) -> None:
        await self.activities.UpdateTaskCategory(act.UpdateTaskCategoryRequest(task_category=act.TaskCategory(
            community_path=FENGSHU, slug="governance", display_name="参与社区治理", default_points=10),
            allow_missing=True), metadata=self.organiser)
        await self.activities.UpdateTaskCategory(act.UpdateTaskCategoryRequest(task_category=act.TaskCategory(
            community_path=FENGSHU, slug="elderly-visits", display_name="关爱老人", default_points=5),
            allow_missing=True), metadata=self.organiser)
        for f in range(FAMILIES):
            await self.volunteers.CreateFamily(vol.CreateFamilyRequest(family=vol.Family(
                community_path=FENGSHU, family_id=f"bf-{self.run}-{f}", display_name=f"家庭{f}")),
                metadata=self.organiser)
            await self.pairings.CreateElder(par.CreateElderRequest(elder=par.Elder(
                community_path=FENGSHU, elder_id=f"be-{self.run}-{f}", display_name=f"老人{f}")),
                metadata=self.organiser)
            await self.pairings.CreatePairing(par.CreatePairingRequest(pairing=par.Pairing(
                community_path=FENGSHU, pairing_id=f"bp-{self.run}-{f}", family_id=f"bf-{self.run}-{f}",
                elder_id=f"be-{self.run}-{f}", start_date="2026-01-01")), metadata=self.organiser)
        for v in range(VOLUNTEERS):
            account = f"acc-bench-{self.run}-{v}"
            family = f"bf-{self.run}-{v}" if v < FAMILIES else ""
            await self.volunteers.CreateVolunteer(vol.CreateVolunteerRequest(volunteer=vol.Volunteer(
                community_path=FENGSHU, volunteer_id=self.volunteer_id(v), display_name=f"志愿者{v}",
                family_id=family, account_id=account)), metadata=self.organiser)
            token = self.issuer.bearer(account, role="volunteer", scope=FENGSHU)
            self.volunteer_tokens.append(token)
            if family:
                self.family_volunteers.append((self.volunteer_id(v), token))
        merchants = [p.partner_id for p in (await self.partners.ListPartners(admin_pb2.ListPartnersRequest(
            community_path=FENGSHU, kind=resources_pb2.PARTNER_KIND_MERCHANT, page_size=100),
            metadata=self.organiser)).partners]
        for merchant in merchants:
            await self.catalog.CreateReward(admin_pb2.CreateRewardRequest(
                parent=f"merchants/{merchant}", reward_id=f"busy-{self.run}", reward=resources_pb2.Reward(
                    display_name="便民理发", points=1, stock=-1)), metadata=self.organiser)
        for t in range(TERMINALS):
            merchant = merchants[t % len(merchants)]
            till = await self.partners.CreateTerminal(admin_pb2.CreateTerminalRequest(
                parent=f"merchants/{merchant}", terminal_id=f"busy-{self.run}-{t}"), metadata=self.organiser)
            md = (("authorization", till.authorization),)
            member = self.volunteer_id(VOLUNTEERS - 1 - t)  # each till serves its own volunteer
            await self.ledger.CreateTransfer(ledger_pb2.CreateTransferRequest(
                community_path=FENGSHU, transfer_id=f"fund-{member}", debit_account="system/issuance",
                credit_account=f"volunteers/{member}", amount=10_000_000, reason="governance"),
                metadata=self.service)
            code = (await self.cards.GetMemberCode(admin_pb2.GetMemberCodeRequest(
                community_path=FENGSHU, volunteer_id=member), metadata=self.organiser)).member_code
            session = (await self.pos.ResolveMemberCode(pos_pb2.ResolveMemberCodeRequest(member_code=code),
                                                        metadata=md)).member_session
            self.tills.append((md, session, [f"merchants/{merchant}/rewards/busy-{self.run}"]))

    # -- check-ins: activity after activity fills up with CHECK_INS_PER_ACTIVITY volunteers -----

    def activity_id(self, a: int) -> str:
        return f"ba-{self.run}-{a}"

    async def open_activities(self, first: int, count: int) -> None:
        """Activities `first`…, under way now, each with its organiser's check-in code; every
        volunteer who will check in is signed up beforehand (as they are, days ahead)."""
        start = datetime.now(UTC) - timedelta(minutes=10)
        sem = asyncio.Semaphore(16)

        async def one(a: int) -> None:
            async with sem:
                await self.activities.CreateActivity(act.CreateActivityRequest(activity=act.Activity(
                    community_path=FENGSHU, activity_id=self.activity_id(a), title="楼道清扫", category="governance",
                    start_time=ts(start), end_time=ts(start + timedelta(hours=3)))), metadata=self.organiser)
                for k in range(CHECK_INS_PER_ACTIVITY):
                    v = (a * CHECK_INS_PER_ACTIVITY + k) % VOLUNTEERS
                    await self.activities.SignUp(act.SignUpRequest(
                        community_path=FENGSHU, activity_id=self.activity_id(a), volunteer_id=self.volunteer_id(v)),
                        metadata=self.volunteer_tokens[v])
                issued = await self.activities.IssueCheckInToken(act.IssueCheckInTokenRequest(
                    community_path=FENGSHU, activity_id=self.activity_id(a)), metadata=self.organiser)
                self.check_in_tokens[a] = issued.token

        await asyncio.gather(*(one(a) for a in range(first, first + count)))

    async def check_in(self, i: int) -> None:
        a, k = divmod(i, CHECK_INS_PER_ACTIVITY)
        v = (a * CHECK_INS_PER_ACTIVITY + k) % VOLUNTEERS
        await self.activities.CheckInWithToken(act.CheckInWithTokenRequest(
            community_path=FENGSHU, activity_id=self.activity_id(a), token=self.check_in_tokens[a]),
            metadata=self.volunteer_tokens[v])
        done = self.checked_in.setdefault(a, [])
        done.append(self.volunteer_id(v))
        if len(done) == CHECK_INS_PER_ACTIVITY:
            task = asyncio.create_task(self.confirm(a, self.confirmations))
            self.confirming.add(task)
            task.add_done_callback(self.confirming.discard)

    async def confirm(self, a: int, figures: PathFigures) -> None:
        """A full activity's check-ins confirmed at once: their credits."""
        figures.offered += 1
        due = time.perf_counter()
        try:
            await self.activities.ConfirmCompletion(act.ConfirmCompletionRequest(
                community_path=FENGSHU, activity_id=self.activity_id(a), volunteer_ids=self.checked_in[a]),
                metadata=self.confirmer)
            figures.latencies.append(time.perf_counter() - due)
        except grpc.aio.AioRpcError as error:
            figures.error(error)

    # -- the other paths ---------------------------------------------------------------------

    async def visit(self, i: int) -> None:
        """A volunteer logs a visit to the family's elder; a worker confirms it (its points)."""
        f = i % FAMILIES
        volunteer, token = self.family_volunteers[f]
        visit_id = f"bvisit-{self.run}-{i}"
        await self.pairings.LogVisit(par.LogVisitRequest(community_path=FENGSHU, visit=par.Visit(
            pairing_id=f"bp-{self.run}-{f}", visit_id=visit_id, visit_time=ts(datetime.now(UTC) - timedelta(hours=1)),
            volunteer_id=volunteer, visit_type=events_pb.VISIT_TYPE_COMPANIONSHIP, note="陪聊天")), metadata=token)
        await self.pairings.ConfirmVisit(par.ConfirmVisitRequest(community_path=FENGSHU, visit_id=visit_id),
                                         metadata=self.confirmer)

    async def redeem(self, i: int) -> None:
        md, session, rewards = self.tills[i % len(self.tills)]
        await self.pos.Redeem(pos_pb2.RedeemRequest(reward=rewards[0], member_session=session, quantity=1,
                                                    request_id=f"busy-{self.run}-{i}"), metadata=md)

    async def help_request(self, i: int) -> None:
        await self.help.CreateHelpRequest(npb.CreateHelpRequestRequest(
            parent=f"communities/{FENGSHU.replace('/', '~')}", request_id=f"busy-{self.run}-{i}",
            help_request=npb.HelpRequest(reporter_role=npb.REPORTER_ROLE_CANTEEN_STAFF, category="meal",
                                         urgency=npb.URGENCY_HIGH, contact="13800138000",
                                         description="独居老人生病卧床，需要送餐", on_behalf_of="万阿姨")),
            metadata=self.organiser)

    def calls(self) -> dict[str, Call]:
        return {"check-in": self.check_in, "visit": self.visit, "redeem": self.redeem,
                "help request": self.help_request}


async def paced(call: Call, rate: float, seconds: float, start: int, figures: PathFigures) -> int:
    """Calls at `rate` a second for `seconds`, each started when due (not when the last ended);
    returns the next call number."""
    if rate <= 0:
        return start
    interval = 1 / rate
    began = time.perf_counter()
    tasks: set[asyncio.Task[None]] = set()
    number = start
    for n in itertools.count():
        due = began + n * interval
        if due - began >= seconds:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        figures.offered += 1

        async def one(i: int, due: float) -> None:
            try:
                await call(i)
                figures.latencies.append(time.perf_counter() - due)
            except grpc.aio.AioRpcError as error:
                figures.error(error)

        task = asyncio.create_task(one(number, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        number += 1
    if tasks:
        await asyncio.wait(tasks, timeout=60)
    return number


@dataclass
class Step:
    k: float
    seconds: float
    paths: dict[str, PathFigures]
    cpu: CpuMeter

    def rate(self, path: str) -> float:
        return len(self.paths[path].latencies) / self.seconds

    def kept(self, path: str, p99_ms: float) -> bool:
        figures = self.paths[path]
        done = len(figures.latencies)
        bound = p99_ms * P99_SHARE.get(path, 1)
        return figures.offered == 0 or (done >= 0.95 * figures.offered and not figures.errors
                                        and percentile(figures.latencies, 99) * 1000 < bound)

    def cpu_per_second(self) -> float:
        return sum(self.cpu.used.values()) / self.seconds


@dataclass
class Run:
    steps: list[Step]
    echo_rate: float
    load: float

    def carried(self, p99_ms: float) -> float:
        """The largest k of the steps (from the first, in order) at which every path kept up."""
        best = 0.0
        for step in self.steps:
            if not all(step.kept(path, p99_ms) for path in step.paths):
                break
            best = step.k
        return best


async def one_run(args: argparse.Namespace, tmp: Path, issuer: TestIssuer) -> Run:
    nats = NatsServer(tmp / "nats").start()
    pg = None if args.sqlite else EmbeddedPostgres(tmp / "pg" / "data")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        def url(name: str) -> str:
            return pg.database_url(name) if pg else f"sqlite+aiosqlite:///{tmp / (name + '.db')}"

        common = {"NATS_URL": nats.url, "LINLI_DEMO_DATA": "true", **LOAD_LIMITS}
        points, points_addr = start_service("linli_points.app", {
            "DATABASE_URL": url("points"), **common, **issuer.env_for("volunteer-points", tmp / "clients")},
            tmp / "points.log")
        procs.append(points)
        redemption, redemption_addr = start_service("linli_redemption.app", {
            "DATABASE_URL": url("redemption"), **common, "VOLUNTEER_POINTS_SERVICE_ADDR": points_addr,
            **issuer.env_for("partner-redemption", tmp / "clients")}, tmp / "redemption.log")
        procs.append(redemption)
        notification, notification_addr = start_service("linli_notification.app", {
            "DATABASE_URL": url("notification"), **common,
            **issuer.env_for("notification", tmp / "clients")}, tmp / "notification.log")
        procs.append(notification)

        async with make_channel(points_addr, default_timeout=30) as pch, \
                make_channel(redemption_addr, default_timeout=30) as rch, \
                make_channel(notification_addr, default_timeout=30) as nch:
            city = City(pch, rch, nch, issuer)
            await city.set_up()
            calls = city.calls()
            check_ins = 5 + sum(math.ceil(CITY_RATES["check-in"] * k * args.seconds) for k in args.steps)
            await city.open_activities(0, math.ceil(check_ins / CHECK_INS_PER_ACTIVITY) + 1)
            numbers = dict.fromkeys(calls, 0)  # each path's next call number

            async def warm_up(path: str) -> None:  # connections, prepared statements, caches
                numbers[path] = await paced(calls[path], 5, 1, 0, PathFigures())

            await asyncio.gather(*(warm_up(path) for path in calls))

            def just(pid: int) -> Callable[[], list[psutil.Process]]:
                proc = psutil.Process(pid)
                return lambda: [proc]

            groups = {"bench clients (this process)": just(os.getpid()), "volunteer-points": just(points.pid),
                      "partner-redemption": just(redemption.pid), "notification": just(notification.pid),
                      "PostgreSQL": (lambda: postgres_processes(tmp / "pg" / "data")) if pg else list,
                      "nats-server": just(nats.proc.pid) if nats.proc else list}
            steps: list[Step] = []
            for k in args.steps:
                figures = {path: PathFigures() for path in CITY_RATES}
                city.confirmations = figures["confirmation"]
                meter = CpuMeter(groups)
                meter.start()

                async def path_load(path: str, k: float = k, figures: dict[str, PathFigures] = figures) -> None:
                    numbers[path] = await paced(calls[path], CITY_RATES[path] * k, args.seconds, numbers[path],
                                                figures[path])

                # A step lasts its seconds even at k = 0 (the services idle: what they cost unasked).
                await asyncio.gather(asyncio.sleep(args.seconds), *(path_load(path) for path in calls))
                if city.confirming:
                    await asyncio.wait(city.confirming, timeout=60)
                meter.stop()
                steps.append(Step(k, args.seconds, figures, meter))
                failed = not all(steps[-1].kept(path, args.p99_ms) for path in figures)
                if failed:  # the machine is past what it carries: the next step would only pile up
                    break
    finally:
        stop_processes(procs)
        nats.stop()
        if pg:
            pg.stop()
    echo_rate, _ = await bench_echo(32, min(args.seconds, 5))
    return Run(steps, echo_rate, os.getloadavg()[0])


def ms(values: list[float], p: float) -> str:
    return f"{percentile(values, p) * 1000:.0f}" if values else "–"


def report_run(args: argparse.Namespace, run: Run) -> None:
    rows = []
    for step in run.steps:
        for path, figures in step.paths.items():
            errors = ", ".join(f"{code} {n}" for code, n in figures.errors.items()) or "0"
            rows.append([f"{step.k:g}", path, f"{CITY_RATES[path] * step.k:.1f}",
                         f"{figures.offered / step.seconds:.1f}", f"{step.rate(path):.1f}",
                         ms(figures.latencies, 50), ms(figures.latencies, 99), errors,
                         "yes" if step.kept(path, args.p99_ms) else "NO"])
        rows.append([f"{step.k:g}", "CPU of all processes", "", "", f"{step.cpu_per_second():.2f} cores", "", "", "",
                     ""])
        for name, used in sorted(step.cpu.used.items(), key=lambda kv: -kv[1]):
            rows.append([f"{step.k:g}", f"  {name}", "", "", f"{used / step.seconds:.2f} cores", "", "", "", ""])
    engine = "SQLite" if args.sqlite else "PostgreSQL"
    print_table(f"Busy hour × k, {engine}, {args.seconds:.0f} s a step (last run; same-run bare echo "
                f"{run.echo_rate:.0f} calls/s at 32 in flight)",
                ["k", "path", "city × k/s", "offered/s", "done/s", "p50 ms", "p99 ms", "errors", "kept"],
                rows, width=120)
    for step in run.steps:
        for path, figures in step.paths.items():
            for code, message in figures.first_errors.items():
                print(f"k={step.k:g} {path}: {code}: {message}")


def report_runs(args: argparse.Namespace, runs: list[Run]) -> None:
    carried = [run.carried(args.p99_ms) for run in runs]
    print(f"Busy hour: the machine carried k = {', '.join(f'{c:g}' for c in carried)} × a 20 M city's busy hour "
          f"(runs; median {statistics.median(carried):g}) with every path at ≥ 95 % of its rate, no errors and "
          f"p99 < {args.p99_ms:.0f} ms; same-run echo {', '.join(f'{r.echo_rate:.0f}' for r in runs)} calls/s; "
          f"load {', '.join(f'{r.load:.1f}' for r in runs)}")
    total = sum(CITY_RATES.values())
    print(f"(the city's busy hour: {total:.1f} calls/s in all, every one on one community's accounts here)")


async def main_async(args: argparse.Namespace) -> None:
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="linli-bench-busy-") as tmp, serve_test_issuer() as issuer:
            runs.append(await one_run(args, Path(tmp), issuer))
    report_run(args, runs[-1])
    report_runs(args, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=lambda s: [float(k) for k in s.split(",")], default=[1, 4, 8, 16, 32],
                        help="multiples of the city's busy-hour rates, in order (comma-separated)")
    parser.add_argument("--seconds", type=float, default=10.0, help="each step's length")
    parser.add_argument("--p99-ms", type=float, default=500.0, help="the latency a path must keep under")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sqlite", action="store_true", help="SQLite files instead of PostgreSQL")
    args = parser.parse_args()
    os.environ.setdefault("LINLI_LOG_LEVEL", "WARNING")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
