"""Benchmark: a city on PostgreSQL — bulk-load its communities and volunteers, then time the
year-end close of all of them, with the peak memory of every process.

    .venv/bin/python -m bench.city --scale 0.1     # quick: 500 communities, 100 000 volunteers
    .venv/bin/python -m bench.city                 # the city: 5 000 communities, 1 000 000 volunteers

Everything runs on this machine, as deployed: an embedded PostgreSQL, a nats-server, a test
issuer on loopback, and volunteer-points in a process of its own.

- load: communities, their volunteers, accounts and the year's credits (`--credits` per
  volunteer) COPYed straight into volunteer-points' tables (asyncpg `copy_records_to_table`),
  streamed a slice of communities at a time so that the bench's own memory stays flat.
- year-end close: every community's year closed as `linli year close <city>` closes it —
  `AwardService.CloseYears`, 100 communities a call, 2 calls in flight (`--close-batch 0`:
  `CloseYear` per community, the way before CloseYears). Its same-run baseline is one SQL
  statement summing every volunteer's points of the year over all communities — the read the
  close cannot do without.
- memory: every process's resident set size sampled every 0.1 s; the peak of each process
  (PostgreSQL's backends count the shared buffers they touched).
- the city dashboard's points section: every community summed up by `SummarizeCommunities`
  (1000 a call), next to its same-run baseline, the calls the dashboard made per community
  before (ListVolunteers, ListRankings, ListAwards) for `--summary-sample` communities,
  extrapolated to the city. Repeated `--runs` times.
- the operators' whole city page (bench/city_page.py): trust-governance with the org tree,
  notification and the portal (`python -m linli_portal.main`, as `make run` serves it) started
  beside the two loaded services, then `GET /ops/chengdu` `--page-loads` times a run: p50 and
  p95 of each run, medians over `--runs`, the portal's split of a load (Server-Timing) and the
  CPU every process spent per load. This year's boards and the last 7 days' redemptions (to
  today in China) are loaded for it.
- a day reconciled: `--history-days` days of redemptions (holds placed and posted,
  `--redemptions-per-day` a day) COPYed into the redemption clearing account of
  `--reconcile-communities` communities, then one day of each read as ReconcileDay reads it
  (`ListDayTransfers`: the eve, the day and the morrow), next to its same-run baseline, the read
  ReconcileDay made before (`ListTransfers` paging the clearing account's whole history). Repeated
  `--runs` times; per-run figures and medians. Its cost should not grow with `--history-days`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import psutil
from linli_identity.testing import TestIssuer, serve_test_issuer

from bench import city_page
from bench.pos_redeem import postgres_processes, start_service, stop_processes
from bench.stats import median, percentile, print_table
from linli.points.v1 import (
    awards_pb2,
    awards_pb2_grpc,
    ledger_pb2,
    ledger_pb2_grpc,
    volunteers_pb2,
    volunteers_pb2_grpc,
)
from linli.redemption.v1 import admin_pb2 as radmin_pb2
from linli.redemption.v1 import admin_pb2_grpc as radmin_pb2_grpc
from linli.redemption.v1 import resources_pb2 as rresources_pb2
from linli_runtime.clients import make_channel
from linli_runtime.processes import EmbeddedPostgres, NatsServer

CITY = "chengdu"
DASHBOARD_DAYS = 7  # the city dashboard's redemptions: the last week
FULL_COMMUNITIES, FULL_VOLUNTEERS = 5_000, 1_000_000
GiB = 1024 ** 3


def community_path(c: int) -> str:
    """Ten districts, ten streets each, communities spread over them."""
    return f"{CITY}/d{c % 10}/s{(c // 10) % 10}/c{c:05d}"


# -- memory ------------------------------------------------------------------------------------

@dataclass
class MemoryWatch:
    """The peak RSS of each process of named groups, sampled in a thread every `interval` s."""

    groups: dict[str, Callable[[], list[psutil.Process]]]
    interval: float = 0.1
    peaks: dict[str, tuple[int, int]] = field(default_factory=dict)  # group → (peak of one process, pid)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        for name, procs in self.groups.items():
            for p in procs():
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                if rss > self.peaks.get(name, (0, 0))[0]:
                    self.peaks[name] = (rss, p.pid)

    def __enter__(self) -> MemoryWatch:
        def loop() -> None:
            while not self._stop.wait(self.interval):
                self.sample()
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()


# -- load --------------------------------------------------------------------------------------

def _slices(communities: int, per_slice: int) -> Iterator[range]:
    for start in range(0, communities, per_slice):
        yield range(start, min(start + per_slice, communities))


async def bulk_load(dsn: str, communities: int, volunteers: int, credits: int, year: int,
                    this_year: int | None = None) -> float:
    """Each community's volunteers, their accounts and `credits` credits each in `year` (points
    earned: what the close ranks), COPYed a slice of communities at a time; with `this_year`,
    what each earned so far this year as well (the city page's boards read the current year)."""
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        per = volunteers // communities
        next_id = 1_000_000
        for part in _slices(communities, 50):
            accounts: list[tuple[object, ...]] = []
            transfers: list[tuple[object, ...]] = []
            people: list[tuple[object, ...]] = []
            earned_rows: list[tuple[object, ...]] = []  # points_earned_year, as the ledger keeps it
            for c in part:
                path = community_path(c)
                issuance_id, next_id = next_id, next_id + 1
                issued = 0
                rows = []
                for v in range(per):
                    vid = f"v{v:07d}"
                    account_id, next_id = next_id, next_id + 1
                    earned = 0
                    for k in range(credits):
                        points = ((c * 31 + v) * 7919 + k * 104729) % 500 + 1
                        earned += points
                        issued += points
                        # Spread over the year, in China time's working hours.
                        when = datetime(year, 1 + (v + k) % 12, 1 + (v * 7 + k) % 28, 2 + k % 8, tzinfo=UTC)
                        transfers.append((path, f"bench:{vid}:{k}", 1, issuance_id, account_id, "system/issuance",
                                          f"volunteers/{vid}", points, "governance", "bench", "", "x" * 64,
                                          -issued, earned, when))
                    rows.append((account_id, path, f"volunteers/{vid}", False, 0, earned, 0, 0, earned,
                                 datetime(year, 1, 1, tzinfo=UTC)))
                    earned_rows.append((account_id, year, earned, path))  # every credit falls in `year` in China
                    if this_year is not None:  # ties on purpose: a tenth of each community earned 50
                        earned_rows.append((account_id, this_year, 50 if v % 10 == 3 else earned * 7 % 997 + 1, path))
                    people.append((path, vid, f"志愿者{c}-{v}", "", "", "x" * 64, datetime(year, 1, 1, tzinfo=UTC)))
                accounts.append((issuance_id, path, "system/issuance", True, issued, 0, 0, 0, 0,
                                 datetime(year, 1, 1, tzinfo=UTC)))
                accounts.extend(rows)
            await conn.copy_records_to_table("points_account", records=accounts, columns=[
                "id", "community_path", "name", "allow_negative", "debits_posted", "credits_posted", "debits_pending",
                "credits_pending", "earned", "created_at"])
            await conn.copy_records_to_table("points_transfer", records=transfers, columns=[
                "community_path", "transfer_id", "kind", "debit_account_id", "credit_account_id", "debit_account",
                "credit_account", "amount", "reason", "source", "related_transfer_id", "fingerprint",
                "debit_balance_after", "credit_balance_after", "created_at"])
            await conn.copy_records_to_table("points_earned_year", records=earned_rows,
                                             columns=["account_id", "year", "earned", "community_path"])
            await conn.copy_records_to_table("points_volunteer", records=people, columns=[
                "community_path", "volunteer_id", "display_name", "person_id", "family_id", "fingerprint",
                "created_at"])
        await conn.execute("SELECT setval(pg_get_serial_sequence('points_account', 'id'), max(id)) FROM points_account")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def baseline_sum(dsn: str, year: int) -> float:
    """One statement: every volunteer's points earned in `year`, all communities at once."""
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        await conn.fetchval(
            "SELECT count(*) FROM (SELECT community_path, credit_account, sum(amount) FROM points_transfer "
            "WHERE created_at >= $1 AND created_at < $2 AND debit_account = 'system/issuance' "
            "GROUP BY community_path, credit_account) AS earned",
            datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC))
        return time.perf_counter() - started
    finally:
        await conn.close()


async def sizes(dsn: str) -> dict[str, float]:
    """What the city takes in PostgreSQL (tables with their indexes) and the size of an event."""
    conn = await asyncpg.connect(dsn)
    try:
        found = {f"{name}_bytes": float(await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", name))
                 for name in ("points_transfer", "points_account", "points_volunteer", "points_award", "linli_outbox")}
        found["database_bytes"] = float(await conn.fetchval("SELECT pg_database_size(current_database())"))
        found["event_bytes"] = float(await conn.fetchval(
            "SELECT coalesce(avg(octet_length(data)), 0) FROM linli_outbox") or 0)
        return found
    finally:
        await conn.close()


# -- a day reconciled ----------------------------------------------------------------------------

CLEARING = "system/redemption-clearing"
SHOPPER = "volunteers/bench-shopper"
CHINA = timedelta(hours=8)


async def plant_clearing_history(dsn: str, communities: range, days: int, per_day: int, last_day: date) -> int:
    """`days` days up to `last_day` of `per_day` redemptions a day (a hold, posted two minutes
    later) in the clearing account of each of `communities`; rows planted."""
    conn = await asyncpg.connect(dsn)
    try:
        first_id = int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM points_account")) + 1 - 2 * communities[0]
        accounts: list[tuple[object, ...]] = []
        for c in communities:
            for k, name in enumerate((CLEARING, SHOPPER)):
                accounts.append((first_id + 2 * c + k, community_path(c), name, name == CLEARING, 0, 0, 0, 0, 0,
                                 datetime(last_day.year - 2, 1, 1, tzinfo=UTC)))
        await conn.copy_records_to_table("points_account", records=accounts, columns=[
            "id", "community_path", "name", "allow_negative", "debits_posted", "credits_posted", "debits_pending",
            "credits_pending", "earned", "created_at"])
        planted = 0
        for c in communities:
            clearing, shopper = first_id + 2 * c, first_id + 2 * c + 1
            rows: list[tuple[object, ...]] = []
            for d in range(days):
                day = last_day - timedelta(days=days - 1 - d)
                midnight = datetime(day.year, day.month, day.day, tzinfo=UTC) - CHINA
                for n in range(per_day):
                    placed = midnight + timedelta(seconds=(n * 86_399) // per_day)
                    hold = f"bench-{d}-{n}"
                    for kind, tid, related, when in ((2, hold, "", placed),
                                                     (3, f"{hold}/post", hold, placed + timedelta(minutes=2))):
                        rows.append((community_path(c), tid, kind, shopper, clearing, SHOPPER, CLEARING, 3,
                                     "redemption", "bench", related, "x" * 64, 0, None, when))
            await conn.copy_records_to_table("points_transfer", records=rows, columns=[
                "community_path", "transfer_id", "kind", "debit_account_id", "credit_account_id", "debit_account",
                "credit_account", "amount", "reason", "source", "related_transfer_id", "fingerprint",
                "debit_balance_after", "credit_balance_after", "created_at"])
            planted += len(rows)
        await conn.execute("SELECT setval(pg_get_serial_sequence('points_account', 'id'), max(id)) FROM points_account")
        await conn.execute("ANALYZE points_transfer")
        return planted
    finally:
        await conn.close()


async def read_days(stub: ledger_pb2_grpc.LedgerServiceStub, md: tuple[tuple[str, str], ...], path: str,
                    day: date) -> int:
    """What ReconcileDay reads now: the clearing account's eve, day and morrow."""
    token, entries = "", 0
    while True:
        reply = await stub.ListDayTransfers(ledger_pb2.ListDayTransfersRequest(
            community_path=path, account=CLEARING, start_date=(day - timedelta(days=1)).isoformat(),
            end_date=(day + timedelta(days=1)).isoformat(), page_size=1000, page_token=token), metadata=md)
        entries += len(reply.entries)
        token = reply.next_page_token
        if not token:
            return entries


async def read_history(stub: ledger_pb2_grpc.LedgerServiceStub, md: tuple[tuple[str, str], ...], path: str,
                       day: date) -> int:
    """What ReconcileDay read before: the clearing account's whole history, page by page."""
    token, entries = "", 0
    while True:
        reply = await stub.ListTransfers(ledger_pb2.ListTransfersRequest(
            community_path=path, account=CLEARING, page_size=1000, page_token=token), metadata=md)
        entries += len(reply.entries)
        token = reply.next_page_token
        if not token:
            return entries


@dataclass
class ReconcileRun:
    history_s: list[float] = field(default_factory=list)  # the baseline: one community's whole history
    days_s: list[float] = field(default_factory=list)  # one community's three days
    history_rows: int = 0
    days_rows: int = 0


async def reconcile_runs(address: str, md: tuple[tuple[str, str], ...], communities: int, day: date,
                         runs: int) -> list[ReconcileRun]:
    """Each run: every planted community's day read both ways, one call at a time."""
    out = []
    async with make_channel(address, default_timeout=600) as channel:
        stub = ledger_pb2_grpc.LedgerServiceStub(channel)
        for _ in range(runs):
            run = ReconcileRun()
            for c in range(communities):
                t0 = time.perf_counter()
                run.history_rows += await read_history(stub, md, community_path(c), day)
                t1 = time.perf_counter()
                run.days_rows += await read_days(stub, md, community_path(c), day)
                run.history_s.append(t1 - t0)
                run.days_s.append(time.perf_counter() - t1)
            out.append(run)
    return out


# -- the dashboard's points section ---------------------------------------------------------------

async def old_way(stub: awards_pb2_grpc.AwardServiceStub, volunteers: volunteers_pb2_grpc.VolunteerServiceStub,
                  md: tuple[tuple[str, str], ...], path: str, year: int) -> None:
    """What the city dashboard asked for a community before SummarizeCommunities."""
    token = ""
    while True:
        page = await volunteers.ListVolunteers(volunteers_pb2.ListVolunteersRequest(
            community_path=path, page_size=1000, page_token=token), metadata=md)
        token = page.next_page_token
        if not token:
            break
    while True:
        board = await stub.ListRankings(awards_pb2.ListRankingsRequest(
            community_path=path, period=str(year), page_size=1000, page_token=token), metadata=md)
        token = board.next_page_token
        if not token:
            break
    for y in (year, year - 1):
        if (await stub.ListAwards(awards_pb2.ListAwardsRequest(community_path=path, year=y, page_size=1000),
                                  metadata=md)).awards:
            break


@dataclass
class SummaryRun:
    summary_s: float = 0.0  # every community, SummarizeCommunities 1000 at a time
    old_s: float = 0.0  # `sample` communities the old way, 8 in flight
    sample: int = 0


async def summary_runs(address: str, md: tuple[tuple[str, str], ...], communities: int, year: int, sample: int,
                       runs: int) -> list[SummaryRun]:
    out = []
    async with make_channel(address, default_timeout=600) as channel:
        stub = awards_pb2_grpc.AwardServiceStub(channel)
        volunteers = volunteers_pb2_grpc.VolunteerServiceStub(channel)
        paths = [community_path(c) for c in range(communities)]
        for _ in range(runs):
            run = SummaryRun(sample=min(sample, communities))
            t0 = time.perf_counter()
            replies = await asyncio.gather(*(stub.SummarizeCommunities(awards_pb2.SummarizeCommunitiesRequest(
                community_paths=paths[i:i + 1000], year=year), metadata=md) for i in range(0, communities, 1000)))
            run.summary_s = time.perf_counter() - t0
            assert sum(len(r.communities) for r in replies) == communities
            queue = iter(paths[:run.sample])

            async def worker(queue: Iterator[str]) -> None:
                for path in queue:
                    await old_way(stub, volunteers, md, path, year)

            t0 = time.perf_counter()
            await asyncio.gather(*(worker(queue) for _ in range(8)))
            run.old_s = time.perf_counter() - t0
            out.append(run)
    return out


# -- the dashboard's redemptions section -----------------------------------------------------------

async def plant_redemptions(dsn: str, per_day: dict[int, tuple[int, int]], window: list[date]) -> int:
    """A merchant per community and, on the last `days` days of `window` (per_day: community →
    (redemptions a day, days)), the committed redemptions the clearing account's posted holds
    stand for (3 points each, as planted): every day balances."""
    conn = await asyncpg.connect(dsn)
    try:
        made = datetime(window[0].year, 1, 1, tzinfo=UTC)
        await conn.copy_records_to_table("rd_partner", records=[
            (f"m-{c:05d}", community_path(c), "merchant", f"商户 {c}", made) for c in per_day],
            columns=["id", "community_path", "kind", "display_name", "create_time"])
        rows: list[tuple[object, ...]] = []
        for c, (n, days) in per_day.items():
            for day in window[len(window) - days:]:
                for k in range(n):
                    rid = f"r-{c}-{day.isoformat()}-{k}"
                    rows.append((rid, f"m-{c:05d}", rid, "x" * 64, "t", community_path(c), "bench-shopper", "**",
                                 "rw", "reward", 1, 3, "committed", f"h-{rid}", True, f"h-{rid}/post",
                                 day.isoformat(), made))
        await conn.copy_records_to_table("rd_redemption", records=rows, columns=[
            "id", "merchant_id", "request_id", "fingerprint", "terminal_id", "community_path", "volunteer_id",
            "masked_member", "reward_id", "reward_name", "quantity", "points", "state", "hold_id", "hold_placed",
            "transfer_id", "ledger_day", "create_time"])
        await conn.execute("ANALYZE rd_redemption")
        await conn.execute("ANALYZE rd_partner")
        return len(rows)
    finally:
        await conn.close()


async def old_redemptions(stub: radmin_pb2_grpc.SettlementServiceStub, partners: radmin_pb2_grpc.PartnerServiceStub,
                          md: tuple[tuple[str, str], ...], path: str, window: list[date]) -> None:
    """What the city dashboard asked for a community before SummarizeRedemptions."""
    listed = await partners.ListPartners(radmin_pb2.ListPartnersRequest(
        community_path=path, kind=rresources_pb2.PARTNER_KIND_MERCHANT, page_size=100), metadata=md)
    if listed.partners:
        await asyncio.gather(*(stub.ReconcileDay(radmin_pb2.ReconcileDayRequest(
            community_path=path, date=d.isoformat()), metadata=md) for d in window))


@dataclass
class RedemptionsRun:
    summary_s: float = 0.0  # every community, SummarizeRedemptions 1000 at a time
    old_s: float = 0.0  # `sample` communities the old way, 8 in flight
    sample: int = 0


async def redemptions_runs(address: str, md: tuple[tuple[str, str], ...], communities: int, window: list[date],
                           sample: int, runs: int) -> list[RedemptionsRun]:
    out = []
    async with make_channel(address, default_timeout=600) as channel:
        stub = radmin_pb2_grpc.SettlementServiceStub(channel)
        partners = radmin_pb2_grpc.PartnerServiceStub(channel)
        paths = [community_path(c) for c in range(communities)]
        for _ in range(runs):
            run = RedemptionsRun(sample=min(sample, communities))
            t0 = time.perf_counter()
            replies = await asyncio.gather(*(stub.SummarizeRedemptions(radmin_pb2.SummarizeRedemptionsRequest(
                community_paths=paths[i:i + 1000], start_date=window[0].isoformat(),
                end_date=window[-1].isoformat()), metadata=md) for i in range(0, communities, 1000)))
            run.summary_s = time.perf_counter() - t0
            assert sum(len(r.merchants) for r in replies) == communities
            unbalanced = [d for r in replies for d in r.unbalanced_days]
            assert not unbalanced, unbalanced[:3]
            queue = iter(paths[:run.sample])

            async def worker(queue: Iterator[str]) -> None:
                for path in queue:
                    await old_redemptions(stub, partners, md, path, window)

            t0 = time.perf_counter()
            await asyncio.gather(*(worker(queue) for _ in range(8)))
            run.old_s = time.perf_counter() - t0
            out.append(run)
    return out


# -- the whole city page -----------------------------------------------------------------------

def _one(pid: int) -> Callable[[], list[psutil.Process]]:
    return lambda: [psutil.Process(pid)]


async def whole_page(args: argparse.Namespace, tmp: Path, issuer: TestIssuer, pg: EmbeddedPostgres,
                     nats: NatsServer, procs: list[subprocess.Popen[bytes]], points_address: str,
                     redemption_address: str, communities: int) -> tuple[list[city_page.PageRun],
                                                                         list[city_page.PageRun],
                                                                         list[dict[str, float]]]:
    """trust-governance (with the org tree), notification and the portal started beside the
    two services already loaded, then the city page loaded `--page-loads` times per run."""
    common = {"NATS_URL": nats.url, "VOLUNTEER_POINTS_SERVICE_ADDR": points_address}
    governance, governance_address = start_service("linli_governance.app", {
        **common, "DATABASE_URL": pg.database_url("governance"),
        **issuer.env_for("trust-governance", tmp / "clients")}, tmp / "governance.log")
    procs.append(governance)
    await city_page.plant_org_tree(pg.database_url("governance").replace("postgresql+asyncpg://", "postgresql://", 1),
                                   CITY, [community_path(c) for c in range(communities)])
    notification, notification_address = start_service("linli_notification.app", {
        **common, "DATABASE_URL": pg.database_url("notification"), "TRUST_GOVERNANCE_SERVICE_ADDR": governance_address,
        **issuer.env_for("notification", tmp / "clients")}, tmp / "notification.log")
    procs.append(notification)
    portal, url = city_page.start_portal({
        "TRUST_GOVERNANCE_SERVICE_ADDR": governance_address, "VOLUNTEER_POINTS_SERVICE_ADDR": points_address,
        "PARTNER_REDEMPTION_SERVICE_ADDR": redemption_address, "NOTIFICATION_SERVICE_ADDR": notification_address,
        "PORTAL_CITIES": CITY, **issuer.env_for("portal", tmp / "clients")}, tmp / "portal.log")
    procs.append(portal)
    named = {"portal": portal, "volunteer-points": procs[0], "partner-redemption": procs[1],
             "trust-governance": governance, "notification": notification}
    groups = {name: _one(proc.pid) for name, proc in named.items()}
    groups["postgresql"] = lambda: postgres_processes(pg.data_dir)
    if args.pg_statements:  # the view shows every database's statements: from here on, the page's
        pg._admin("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset();")
    return await city_page.page_runs(url, issuer, CITY, args.page_loads, args.runs, communities, groups)


# -- the close ---------------------------------------------------------------------------------

async def close_all(address: str, md: tuple[tuple[str, str], ...], communities: int, year: int,
                    concurrency: int, batch: int) -> tuple[float, list[float], int]:
    """The year closed in every community, as `linli year close <city>` closes it: CloseYears
    with `batch` communities per call (`batch` 0: CloseYear per community, as before
    CloseYears); the wall time, each call's latency, the awards granted."""
    latencies: list[float] = []
    awards = 0
    size = max(batch, 1)
    queue = iter(range(0, communities, size))
    async with make_channel(address, default_timeout=600) as channel:
        stub = awards_pb2_grpc.AwardServiceStub(channel)

        async def worker() -> None:
            nonlocal awards
            for first in queue:
                t0 = time.perf_counter()
                if batch:
                    paths = [community_path(c) for c in range(first, min(first + size, communities))]
                    reply = await stub.CloseYears(awards_pb2.CloseYearsRequest(community_paths=paths, year=year),
                                                  metadata=md)
                    refused = [r.refusal.message for r in reply.results if r.refusal.code]
                    assert not refused, refused
                    awards += sum(r.award_count for r in reply.results)
                else:
                    alone = await stub.CloseYear(awards_pb2.CloseYearRequest(community_path=community_path(first),
                                                                             year=year), metadata=md)
                    awards += len(alone.awards)
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, awards


def _py_spy(pid: int, out: str) -> subprocess.Popen[bytes]:
    """py-spy sampling the service until stopped (raw stacks, for `bench.profile_summary`)."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen([exe, "record", "-p", str(pid), "-r", "100", "-f", "raw", "-o", out, "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# -- the run -----------------------------------------------------------------------------------

@dataclass
class CityResult:
    communities: int
    volunteers: int
    transfers: int
    load_s: float = 0.0
    baseline_s: float = 0.0
    close_s: float = 0.0
    close_latencies: list[float] = field(default_factory=list)
    awards: int = 0
    peaks: dict[str, tuple[int, int]] = field(default_factory=dict)
    sizes: dict[str, float] = field(default_factory=dict)
    planted: int = 0
    reconcile: list[ReconcileRun] = field(default_factory=list)
    summaries: list[SummaryRun] = field(default_factory=list)
    redemptions: list[RedemptionsRun] = field(default_factory=list)
    redemption_rows: int = 0
    pages: list[city_page.PageRun] = field(default_factory=list)
    live_pages: list[city_page.PageRun] = field(default_factory=list)  # ?refresh=1: every section read anew
    downloads: list[dict[str, float]] = field(default_factory=list)
    statements: str = ""  # pg_stat_statements over the page loads (--pg-statements)


async def run(args: argparse.Namespace, tmp: Path, issuer: TestIssuer) -> CityResult:
    communities = max(1, round(FULL_COMMUNITIES * args.scale))
    volunteers = max(communities, round(FULL_VOLUNTEERS * args.scale))
    result = CityResult(communities, volunteers // communities * communities,
                        volunteers // communities * communities * args.credits)
    year = datetime.now(UTC).year - 1  # a year that has ended: the close refuses one that has not
    # The redemptions end today in China: the city page shows the last 7 days and this year.
    today = (datetime.now(UTC) + CHINA).date()
    nats = NatsServer(tmp / "nats").start()
    pg = EmbeddedPostgres(tmp / "pg" / "data")
    if args.pg_statements:  # pg_stat_statements is loaded at start: set it, then start the server again
        pg._admin("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';")
        pg.stop()
        pg = EmbeddedPostgres(tmp / "pg" / "data")
    procs = []
    try:
        url = pg.database_url("points")
        points, address = start_service("linli_points.app", {
            "DATABASE_URL": url, "NATS_URL": nats.url, **issuer.env_for("volunteer-points", tmp / "clients")},
            tmp / "points.log")
        procs.append(points)
        me = psutil.Process()
        watch = MemoryWatch({"volunteer-points": lambda: [psutil.Process(points.pid)],
                             "postgresql": lambda: postgres_processes(pg.data_dir),
                             "bench (loader, client)": lambda: [me]})
        dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        with watch:
            result.load_s = await bulk_load(dsn, communities, volunteers, args.credits, year,
                                            today.year if args.page_loads else None)
            result.baseline_s = await baseline_sum(dsn, year)
            md = issuer.bearer("bench", role="service", kind="service")
            spy = _py_spy(points.pid, args.profile) if args.profile else None
            result.close_s, result.close_latencies, result.awards = await close_all(
                address, md, communities, year, args.close_concurrency, args.close_batch)
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
                spy.wait(30)
            if args.summary_sample:
                result.summaries = await summary_runs(address, md, communities, year, args.summary_sample, args.runs)
            last_day = today
            planted_in = min(args.reconcile_communities, communities)
            if planted_in:
                result.planted = await plant_clearing_history(dsn, range(planted_in), args.history_days,
                                                              args.redemptions_per_day, last_day)
                result.reconcile = await reconcile_runs(address, md, planted_in, last_day - timedelta(days=1),
                                                        args.runs)
            if args.redemptions_sample:
                window = [last_day - timedelta(days=DASHBOARD_DAYS - 1 - i) for i in range(DASHBOARD_DAYS)]
                result.planted += await plant_clearing_history(dsn, range(planted_in, communities), DASHBOARD_DAYS,
                                                               args.dashboard_redemptions, last_day)
                redemption, redemption_address = start_service("linli_redemption.app", {
                    "DATABASE_URL": pg.database_url("redemption"), "NATS_URL": nats.url,
                    "VOLUNTEER_POINTS_SERVICE_ADDR": address,
                    **issuer.env_for("partner-redemption", tmp / "clients")}, tmp / "redemption.log")
                procs.append(redemption)
                result.redemption_rows = await plant_redemptions(
                    pg.database_url("redemption").replace("postgresql+asyncpg://", "postgresql://", 1),
                    {c: (args.redemptions_per_day, min(args.history_days, DASHBOARD_DAYS)) if c < planted_in
                     else (args.dashboard_redemptions, DASHBOARD_DAYS) for c in range(communities)}, window)
                result.redemptions = await redemptions_runs(redemption_address, md, communities, window,
                                                            args.redemptions_sample, args.runs)
                if args.page_loads:
                    result.pages, result.live_pages, result.downloads = await whole_page(
                        args, tmp, issuer, pg, nats, procs, address, redemption_address, communities)
                    if args.pg_statements:
                        result.statements = pg._server.psql(
                            "SELECT d.datname AS db, s.calls, s.rows, "
                            "round(s.total_exec_time::numeric, 0) AS total_ms, "
                            "round(s.mean_exec_time::numeric, 1) AS ms_per_call, "
                            "left(regexp_replace(s.query, '\\s+', ' ', 'g'), 110) AS query "
                            "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                            f"ORDER BY s.total_exec_time DESC LIMIT {args.pg_statements};")
        result.peaks = watch.peaks
        result.sizes = await sizes(dsn)
    finally:
        stop_processes(procs)
        nats.stop()
        pg.stop()
    return result


def _how(args: argparse.Namespace) -> str:
    return f"CloseYears, {args.close_batch} communities a call" if args.close_batch else "CloseYear per community"


def report(r: CityResult, args: argparse.Namespace) -> None:
    def ms(values: list[float], p: float) -> str:
        return f"{percentile(values, p) * 1000:.0f}"

    print_table(f"City year-end close — {r.communities:,} communities, {r.volunteers:,} volunteers, "
                f"{r.transfers:,} credits (scale {args.scale}, load {os.getloadavg()[0]:.1f})",
                ["what", "seconds", "per call p50 ms", "p99 ms", "note"],
                [["bulk load (COPY)", f"{r.load_s:.1f}", "", "", ""],
                 ["baseline: one SQL sum of the year", f"{r.baseline_s:.2f}", "", "", "the read a close needs"],
                 [f"year-end close ({_how(args)}, {args.close_concurrency} in flight)",
                  f"{r.close_s:.1f}", ms(r.close_latencies, 50), ms(r.close_latencies, 99),
                  f"{r.awards:,} awards; {r.close_s / max(r.baseline_s, 1e-9):.0f} × baseline"]])
    if r.summaries:
        rows = []
        for i, srun in enumerate(r.summaries, start=1):
            whole_old = srun.old_s / max(srun.sample, 1) * r.communities
            rows.append([f"run {i}", f"{srun.summary_s * 1000:.0f}", f"{srun.old_s * 1000:.0f}",
                         f"{whole_old:.1f}", f"{whole_old / max(srun.summary_s, 1e-9):.0f}"])
        medians = [median([x.summary_s * 1000 for x in r.summaries]),
                   median([x.old_s / max(x.sample, 1) * r.communities for x in r.summaries])]
        rows.append(["median", f"{medians[0]:.0f}", "", f"{medians[1]:.1f}",
                     f"{medians[1] / max(medians[0] / 1000, 1e-9):.0f}"])
        print_table(f"The city dashboard's points section — {r.communities:,} communities "
                    f"(load {os.getloadavg()[0]:.1f})",
                    ["", "SummarizeCommunities, all, ms",
                     f"baseline: the old calls, {r.summaries[0].sample} communities, ms",
                     "baseline for all, s (extrapolated)", "baseline ÷ summary"], rows)
    if r.redemptions:
        rows = []
        for i, rrun in enumerate(r.redemptions, start=1):
            whole_old = rrun.old_s / max(rrun.sample, 1) * r.communities
            rows.append([f"run {i}", f"{rrun.summary_s * 1000:.0f}", f"{rrun.old_s * 1000:.0f}",
                         f"{whole_old:.1f}", f"{whole_old / max(rrun.summary_s, 1e-9):.0f}"])
        medians = [median([x.summary_s * 1000 for x in r.redemptions]),
                   median([x.old_s / max(x.sample, 1) * r.communities for x in r.redemptions])]
        rows.append(["median", f"{medians[0]:.0f}", "", f"{medians[1]:.1f}",
                     f"{medians[1] / max(medians[0] / 1000, 1e-9):.0f}"])
        print_table(f"The city dashboard's redemptions section — {r.communities:,} communities, {DASHBOARD_DAYS} "
                    f"days, {r.redemption_rows:,} redemptions (load {os.getloadavg()[0]:.1f})",
                    ["", "SummarizeRedemptions, all, ms",
                     f"baseline: ListPartners + ReconcileDay × {DASHBOARD_DAYS}, {r.redemptions[0].sample} "
                     "communities, ms", "baseline for all, s (extrapolated)", "baseline ÷ summary"], rows)
    if r.pages:
        report_pages(r)
    if r.reconcile:
        def p(values: list[float], q: float) -> float:
            return percentile(values, q) * 1000
        rows = []
        for i, run in enumerate(r.reconcile, start=1):
            rows.append([f"run {i}", f"{p(run.history_s, 50):.1f}", f"{p(run.history_s, 95):.1f}",
                         f"{p(run.days_s, 50):.1f}", f"{p(run.days_s, 95):.1f}",
                         f"{p(run.history_s, 50) / max(p(run.days_s, 50), 1e-9):.0f}",
                         f"{run.history_rows // len(run.history_s):,} / {run.days_rows // len(run.days_s):,}"])
        per_run = [(p(run.history_s, 50), p(run.history_s, 95), p(run.days_s, 50), p(run.days_s, 95))
                   for run in r.reconcile]
        rows.append(["median", *(f"{median([figures[k] for figures in per_run]):.1f}" for k in range(4)),
                     f"{median([f[0] / max(f[2], 1e-9) for f in per_run]):.0f}", ""])
        print_table(f"A day of the redemption clearing account read for ReconcileDay — {len(r.reconcile[0].days_s)} "
                    f"communities, {args.history_days} days of history, {args.redemptions_per_day} redemptions a "
                    f"day ({r.planted:,} rows planted; load {os.getloadavg()[0]:.1f})",
                    ["", "baseline: whole history p50 ms", "p95 ms", "three days p50 ms", "p95 ms",
                     "baseline ÷ days (p50)", "rows read per call: history / days"], rows)
    z = r.sizes
    print_table("PostgreSQL after the close (tables with their indexes)",
                ["what", "MiB", "bytes per row"],
                [["points_transfer", f"{z['points_transfer_bytes'] / 2**20:.0f}",
                  f"{z['points_transfer_bytes'] / max(r.transfers + r.planted, 1):.0f} per transfer"],
                 ["points_account", f"{z['points_account_bytes'] / 2**20:.0f}",
                  f"{z['points_account_bytes'] / max(r.volunteers, 1):.0f} per volunteer"],
                 ["points_volunteer", f"{z['points_volunteer_bytes'] / 2**20:.0f}",
                  f"{z['points_volunteer_bytes'] / max(r.volunteers, 1):.0f} per volunteer"],
                 ["points_award + outbox", f"{(z['points_award_bytes'] + z['linli_outbox_bytes']) / 2**20:.0f}",
                  f"an event {z['event_bytes']:.0f} B"],
                 ["the whole database", f"{z['database_bytes'] / 2**20:.0f}", ""]])
    print_table("Peak resident memory, the largest process of each group (limit 1 GiB each)",
                ["process", "peak MiB", "under 1 GiB"],
                [[name, f"{rss / 1024 ** 2:.0f}", "yes" if rss < GiB else "NO"]
                 for name, (rss, _pid) in sorted(r.peaks.items())])


def report_pages(r: CityResult) -> None:
    """The whole page: p50/p95 of each run's loads and the portal's split of them, then medians —
    as opened (the snapshot) and live (every section read anew) — then the downloads."""
    for title, pages in (("as an operator opens it (points and redemptions from the portal's snapshot, "
                          "at most 5 min old)", r.pages),
                         ("live, ?refresh=1 (every section read anew while the operator waits)", r.live_pages)):
        rows = []
        for i, run in enumerate(pages, start=1):
            rows.append([f"run {i}", f"{run.p(50) * 1000:.0f}", f"{run.p(95) * 1000:.0f}",
                         *(f"{run.section(name) * 1000:.0f}" for name in city_page.SECTIONS),
                         f"{sum(run.cpu_s.values()) * 1000:.0f}", f"{run.bytes / 1024:.0f}", str(len(run.failed))])
        rows.append(["median", f"{median([x.p(50) for x in pages]) * 1000:.0f}",
                     f"{median([x.p(95) for x in pages]) * 1000:.0f}",
                     *(f"{median([x.section(name) for x in pages]) * 1000:.0f}" for name in city_page.SECTIONS),
                     f"{median([sum(x.cpu_s.values()) for x in pages]) * 1000:.0f}", "",
                     str(sum(len(x.failed) for x in pages))])
        print_table(f"The operators' whole city page (GET /ops/{CITY} through the portal), {title} — "
                    f"{r.communities:,} communities, {len(pages[0].loads_s)} loads a run after a first load of "
                    f"{pages[0].warm_up_s * 1000:.0f} ms (load {os.getloadavg()[0]:.1f}); target p95 < 2 000 ms; "
                    "sections: medians of the portal's Server-Timing (org walk, then the reads side by side, "
                    "then the render; a section from the snapshot is not timed)",
                    ["", "p50 ms", "p95 ms", *(f"{name} ms" for name in city_page.SECTIONS), "CPU ms a load", "KiB",
                     "not whole"], rows, width=150)
        for reason in sorted({reason for run in pages for reason in run.failed}):
            print(f"  not a whole page: {reason}")
        groups = sorted({name for run in pages for name in run.cpu_s})
        print_table("CPU per page load by process, ms (medians of the runs)", ["process", "ms"],
                    [[name, f"{median([run.cpu_s.get(name, 0.0) for run in pages]) * 1000:.0f}"] for name in groups])
    if r.downloads:
        print_table("Download of every community (GET /ops/chengdu/communities.csv|xlsx)",
                    ["", "CSV ms", "CSV KiB", "CSV lines", "XLSX ms", "XLSX KiB"],
                    [[f"run {i}", f"{d['csv_s'] * 1000:.0f}", f"{d['csv_bytes'] / 1024:.0f}", f"{d['csv_rows']:.0f}",
                      f"{d['xlsx_s'] * 1000:.0f}", f"{d['xlsx_bytes'] / 1024:.0f}"]
                     for i, d in enumerate(r.downloads, start=1)])
    if r.statements:
        print("PostgreSQL statements over the page loads by execution time (pg_stat_statements):")
        print(r.statements)


def as_json(r: CityResult, args: argparse.Namespace) -> dict[str, object]:
    return {"scale": args.scale, "communities": r.communities, "volunteers": r.volunteers, "transfers": r.transfers,
            "load_s": r.load_s, "baseline_s": r.baseline_s, "close_s": r.close_s,
            "close_p50_s": percentile(r.close_latencies, 50), "close_p99_s": percentile(r.close_latencies, 99),
            "awards": r.awards, "sizes": r.sizes, "planted": r.planted,
            "summaries": [{"summary_s": run.summary_s, "old_s": run.old_s, "sample": run.sample}
                          for run in r.summaries],
            "redemptions": [{"summary_s": run.summary_s, "old_s": run.old_s, "sample": run.sample}
                            for run in r.redemptions],
            "reconcile": [{"history_s": run.history_s, "days_s": run.days_s, "history_rows": run.history_rows,
                           "days_rows": run.days_rows} for run in r.reconcile],
            **{key: [{"loads_s": run.loads_s, "sections": run.sections, "cpu_s": run.cpu_s, "bytes": run.bytes,
                      "failed": run.failed, "warm_up_s": run.warm_up_s} for run in runs]
               for key, runs in (("pages", r.pages), ("live_pages", r.live_pages))},
            "downloads": r.downloads,
            "peak_rss_bytes": {name: rss for name, (rss, _pid) in r.peaks.items()},
            "load_average": os.getloadavg()[0]}


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="linli-bench-city-") as tmp, serve_test_issuer() as issuer:
        result = await run(args, Path(tmp), issuer)
    if args.json:
        print(json.dumps(as_json(result, args)))
    else:
        report(result, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="share of the city: 1 = 5 000 communities and 1 000 000 volunteers")
    parser.add_argument("--credits", type=int, default=1, help="credits per volunteer in the year")
    parser.add_argument("--close-concurrency", type=int, default=2, help="close calls in flight")
    parser.add_argument("--close-batch", type=int, default=100,
                        help="communities per CloseYears call (0: CloseYear per community, the old way)")
    parser.add_argument("--summary-sample", type=int, default=100,
                        help="communities read the old way (per-community calls) as the dashboard's baseline (0: skip)")
    parser.add_argument("--reconcile-communities", type=int, default=10,
                        help="communities whose clearing account gets a history and a day reconciled (0: none)")
    parser.add_argument("--history-days", type=int, default=365, help="days of clearing history planted")
    parser.add_argument("--redemptions-per-day", type=int, default=20, help="redemptions a day per community")
    parser.add_argument("--redemptions-sample", type=int, default=50,
                        help="communities reconciled the old way (ListPartners, ReconcileDay a day) as the "
                             "redemptions section's baseline (0: skip the section)")
    parser.add_argument("--dashboard-redemptions", type=int, default=4,
                        help="redemptions a day in each other community over the dashboard's week")
    parser.add_argument("--page-loads", type=int, default=10,
                        help="loads of the whole city page through the portal per run (0: skip; needs the "
                             "redemptions section)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions of the day's read and its baseline")
    parser.add_argument("--pg-statements", type=int, default=0, metavar="N",
                        help="print the N statements that took the most time over the page loads (pg_stat_statements)")
    parser.add_argument("--profile", metavar="FILE", help="py-spy the service during the close (raw stacks)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("LINLI_LOG_LEVEL", "WARNING")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
