"""The portal's open data: stable public URLs, no sign-in, read with the portal's own token.

    /open/v1/compounds/{compound path}/disclosures.{csv,json,xlsx,schema.json}       one row per sealed period
    /open/v1/compounds/{compound path}/disclosure-lines.{csv,json,xlsx,schema.json}  one row per line of each
    /open/v1/compounds/{compound path}/budgets/{year}.{csv,json,xlsx,schema.json}    one row per budget line
    /open/v1/communities/{community path}/awards/{year}.{csv,json,xlsx,schema.json}  the year's Red Maple Guardians

`v1` is the promise: a field is never renamed or removed under it (new ones may be added at the
end). Times are China time (+08:00), dates the local calendar day. Awards carry the names read
out at the ceremony, never volunteers' ids. A place that does not exist (or is not a compound,
or a community) is 404, as is a budget not drafted; a year not yet closed has no awards (0 rows).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from linli.events.v1 import points_pb2 as points_events
from linli.governance.v1 import account_pb2, disclosure_pb2, org_pb2
from linli.points.v1 import awards_pb2
from linli_portal import fmt
from linli_portal.backends import Backends
from linli_portal.open_data import FORMATS, LICENCE, Dataset, Field, fen, to_csv, to_json, to_xlsx
from linli_runtime.auth import normalize_path
from linli_runtime.errors import InvalidArgument

PREFIX = "/open/v1"
FIRST_YEAR, LAST_YEAR = 2000, 2100


class Missing(Exception):
    """What was asked for is not there: 404 with this message."""


DISCLOSURE_FIELDS = (
    Field("period", "string", "公示期间", "period (YYYY-MM or YYYY-Qn)"),
    Field("period_start", "date", "期间起始日", "first day of the period"),
    Field("period_end", "date", "期间结束日（不含）", "day after the period's last day"),
    fen("income_fen", "收入合计", "total income"),
    fen("expense_fen", "支出合计", "total expenses"),
    fen("surplus_fen", "结余", "surplus (income minus expenses)"),
    fen("to_maintenance_fund_fen", "转入维修基金", "moved into the maintenance fund"),
    fen("operating_balance_fen", "运营账户余额", "operating account balance at the period's end"),
    fen("maintenance_fund_balance_fen", "维修基金余额", "maintenance fund balance at the period's end"),
    fen("pending_fen", "待批支出", "expenses awaiting approval at the close"),
    Field("transfer_count", "integer", "记账笔数", "transfers in the period"),
    Field("seal_hash", "string", "公示封存哈希", "SHA-256 seal of this disclosure (hex)"),
    Field("previous_seal_hash", "string", "上期封存哈希", "seal of the disclosure before (hex; empty for the first)"),
    Field("publish_time", "datetime", "公示时间", "when it was sealed and published (+08:00)"),
)
LINE_FIELDS = (
    Field("period", "string", "公示期间", "period"),
    Field("direction", "string", "收支", "income or expense"),
    Field("account", "string", "科目", "ledger account, e.g. expense:cleaning"),
    Field("line_zh", "string", "科目名称", "line name in Chinese"),
    Field("line_en", "string", "科目英文名", "line name in English"),
    fen("amount_fen", "本期金额", "amount in the period"),
    fen("budget_fen", "年度预算", "the year's budget for the line (expenses)"),
    fen("year_actual_fen", "年度累计", "spent on the line this year so far (expenses)"),
)
BUDGET_FIELDS = (
    Field("year", "integer", "年度", "year"),
    Field("state", "string", "状态", "draft, or approved by the owners' vote"),
    Field("code", "string", "预算科目代码", "budget line code"),
    Field("title", "string", "预算科目", "budget line title"),
    fen("amount_fen", "预算金额", "budgeted"),
    fen("actual_fen", "实际支出", "posted expenses on the line this year"),
    Field("approved_by_vote", "string", "表决", "the owners' vote that approved it (resource name)"),
)
AWARD_FIELDS = (
    Field("year", "integer", "年度", "year"),
    Field("rank", "integer", "名次", "rank by points earned in the year"),
    Field("tier", "string", "奖项", "gold, silver or bronze Red Maple Guardian (金银铜牌·红枫卫士)"),
    Field("display_name", "string", "姓名", "the volunteer's name as announced"),
    Field("points_earned", "integer", "积分", "points earned in the year", unit="points"),
)
TIERS = {points_events.AWARD_TIER_GOLD: "gold", points_events.AWARD_TIER_SILVER: "silver",
         points_events.AWARD_TIER_BRONZE: "bronze"}
BUDGET_STATES = {account_pb2.BUDGET_STATE_DRAFT: "draft", account_pb2.BUDGET_STATE_APPROVED: "approved"}


def _day(ts: Any) -> str | None:
    when = fmt.local_time(ts)
    return when.date().isoformat() if when else None


def _time(ts: Any) -> str | None:
    when = fmt.local_time(ts)
    return when.isoformat() if when else None


async def _unit(b: Backends, raw_path: str, kind: int, what: str) -> org_pb2.OrgUnit:
    try:
        path = normalize_path(raw_path)
        unit: org_pb2.OrgUnit = (await b.org.GetOrgUnit(org_pb2.GetOrgUnitRequest(path=path))).org_unit
    except (InvalidArgument, grpc.aio.AioRpcError) as exc:
        if isinstance(exc, grpc.aio.AioRpcError) and exc.code() not in (grpc.StatusCode.NOT_FOUND,
                                                                       grpc.StatusCode.INVALID_ARGUMENT):
            raise
        raise Missing(f"there is no {what} {raw_path!r}") from None
    if unit.kind != kind:
        raise Missing(f"{raw_path!r} is not a {what}")
    return unit


def _about(unit: org_pb2.OrgUnit, key: str) -> dict[str, str]:
    return {key: unit.path, f"{key}_name": unit.display_name}


async def _disclosures(b: Backends, path: str) -> list[disclosure_pb2.Disclosure]:
    found: list[disclosure_pb2.Disclosure] = []
    token = ""
    while True:
        page = await b.disclosures.ListDisclosures(disclosure_pb2.ListDisclosuresRequest(
            compound_path=path, page_size=100, page_token=token))
        found.extend(page.disclosures)
        token = page.next_page_token
        if not token:
            return found


async def disclosures(b: Backends, raw_path: str) -> Dataset:
    unit = await _unit(b, raw_path, org_pb2.ORG_UNIT_KIND_COMPOUND, "compound")
    rows = [{"period": d.period, "period_start": _day(d.period_start), "period_end": _day(d.period_end),
             "income_fen": d.income_fen, "expense_fen": d.expense_fen, "surplus_fen": d.surplus_fen,
             "to_maintenance_fund_fen": d.to_maintenance_fund_fen, "operating_balance_fen": d.operating_balance_fen,
             "maintenance_fund_balance_fen": d.maintenance_fund_balance_fen, "pending_fen": d.pending_fen,
             "transfer_count": d.transfer_count, "seal_hash": d.seal_hash, "previous_seal_hash": d.previous_seal_hash,
             "publish_time": _time(d.publish_time)} for d in await _disclosures(b, unit.path)]
    return Dataset("disclosures", f"{unit.display_name}定期公示", "periodic disclosures", DISCLOSURE_FIELDS, rows,
                   _about(unit, "compound"))


async def disclosure_lines(b: Backends, raw_path: str) -> Dataset:
    unit = await _unit(b, raw_path, org_pb2.ORG_UNIT_KIND_COMPOUND, "compound")
    rows = []
    for d in await _disclosures(b, unit.path):
        for direction, lines in (("income", d.income), ("expense", d.expenses)):
            for line in lines:
                zh, en = fmt.account_names(line.account)
                rows.append({"period": d.period, "direction": direction, "account": line.account, "line_zh": zh,
                             "line_en": en, "amount_fen": line.amount_fen, "budget_fen": line.budget_fen,
                             "year_actual_fen": line.year_actual_fen})
    return Dataset("disclosure-lines", f"{unit.display_name}公示明细", "disclosure lines", LINE_FIELDS, rows,
                   _about(unit, "compound"))


async def budget(b: Backends, raw_path: str, year: int) -> Dataset:
    unit = await _unit(b, raw_path, org_pb2.ORG_UNIT_KIND_COMPOUND, "compound")
    name = f"compounds/{unit.path.replace('/', '~')}/budgets/{year}"
    try:
        found = (await b.accounts.GetBudget(account_pb2.GetBudgetRequest(name=name))).budget
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            raise Missing(f"{unit.display_name} has no budget for {year}") from None
        raise
    rows = [{"year": year, "state": BUDGET_STATES.get(found.state, ""), "code": line.code, "title": line.title,
             "amount_fen": line.amount_fen, "actual_fen": line.actual_fen,
             "approved_by_vote": found.approved_by_vote} for line in found.lines]
    return Dataset("budget", f"{unit.display_name}{year}年预算", f"budget {year}", BUDGET_FIELDS, rows,
                   {**_about(unit, "compound"), "year": str(year)})


async def awards(b: Backends, raw_path: str, year: int) -> Dataset:
    unit = await _unit(b, raw_path, org_pb2.ORG_UNIT_KIND_COMMUNITY, "community")
    rows: list[dict[str, Any]] = []
    token = ""
    while True:
        page = await b.awards.ListAwards(awards_pb2.ListAwardsRequest(
            community_path=unit.path, year=year, page_size=1000, page_token=token))
        rows += [{"year": a.year, "rank": a.rank, "tier": TIERS.get(a.tier, ""), "display_name": a.display_name,
                  "points_earned": a.points_earned} for a in page.awards]
        token = page.next_page_token
        if not token:
            break
    return Dataset("awards", f"{unit.display_name}{year}年度红枫卫士", f"Red Maple Guardians {year}", AWARD_FIELDS,
                   rows, {**_about(unit, "community"), "year": str(year)})


async def respond(request: Request, fmt_: str, load: Callable[[], Awaitable[Dataset]], filename: str) -> Response:
    """The dataset `load` reads, in the format asked for, with its licence and schema linked."""
    if fmt_ not in (*FORMATS, "schema.json"):
        return _missing(f"no format {fmt_!r}: csv, json, xlsx or schema.json")
    try:
        data = await load()
    except Missing as exc:
        return _missing(str(exc))
    base = str(request.url.path).rsplit(".", 2 if fmt_ == "schema.json" else 1)[0]
    headers = {"Link": f'<{LICENCE["path"]}>; rel="license", <{base}.schema.json>; rel="describedby"'}
    if fmt_ == "schema.json":
        return JSONResponse(data.schema(url=f"{base}.csv"), headers=headers)
    source, now = str(request.url), datetime.now(UTC).astimezone(fmt.CST)
    if fmt_ == "csv":
        body = to_csv(data)
    elif fmt_ == "json":
        body = to_json(data, source=source, generated=now)
    else:
        body = await asyncio.to_thread(to_xlsx, data, source=source, generated=now)
    if fmt_ != "json":
        headers["Content-Disposition"] = f'attachment; filename="{filename}.{fmt_}"'
    return Response(body, media_type=FORMATS[fmt_], headers=headers)


def _missing(message: str) -> JSONResponse:
    return JSONResponse({"error": "NOT_FOUND", "message": message}, status_code=404)


def _year(year: int) -> int:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise Missing(f"no year {year}")
    return year


def _leaf(raw_path: str) -> str:
    return raw_path.strip("/").rsplit("/", 1)[-1] or "data"


def mount(app: FastAPI, b: Backends) -> None:
    """Add the open-data URLs to the portal."""

    @app.get(PREFIX + "/compounds/{raw_path:path}/disclosures.{fmt_}")
    async def open_disclosures(request: Request, raw_path: str, fmt_: str) -> Response:
        return await respond(request, fmt_, lambda: disclosures(b, raw_path), f"{_leaf(raw_path)}-disclosures")

    @app.get(PREFIX + "/compounds/{raw_path:path}/disclosure-lines.{fmt_}")
    async def open_disclosure_lines(request: Request, raw_path: str, fmt_: str) -> Response:
        return await respond(request, fmt_, lambda: disclosure_lines(b, raw_path),
                             f"{_leaf(raw_path)}-disclosure-lines")

    @app.get(PREFIX + "/compounds/{raw_path:path}/budgets/{year:int}.{fmt_}")
    async def open_budget(request: Request, raw_path: str, year: int, fmt_: str) -> Response:
        return await respond(request, fmt_, lambda: budget(b, raw_path, _year(year)),
                             f"{_leaf(raw_path)}-budget-{year}")

    @app.get(PREFIX + "/communities/{raw_path:path}/awards/{year:int}.{fmt_}")
    async def open_awards(request: Request, raw_path: str, year: int, fmt_: str) -> Response:
        return await respond(request, fmt_, lambda: awards(b, raw_path, _year(year)),
                             f"{_leaf(raw_path)}-awards-{year}")
