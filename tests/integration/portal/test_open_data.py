"""Open data (issue 14 item 12): each compound's disclosures and budgets and a community's year of
awards at stable public URLs as CSV, JSON and XLSX, each with its schema and licence line — read
from a real trust-governance (its demo data: Shengjian's sealed months and budget) and a real
volunteer-points (a year closed here), through the portal's ASGI app."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from linli_governance.app import GovernanceApp
from linli_governance.app import create_app as create_governance
from linli_identity.testing import TestIssuer
from linli_points.app import PointsApp
from linli_points.app import create_app as create_points
from linli_points.settings import PointsSettings
from linli_points.tables import KNOWN_ORG_UNITS
from linli_portal.app import create_app as create_portal
from linli_portal.backends import Backends
from linli_portal.signin import SignInClient
from openpyxl import load_workbook  # type: ignore[import-untyped]

from linli.governance.v1 import account_pb2, disclosure_pb2
from linli.points.v1 import awards_pb2, ledger_pb2, volunteers_pb2
from linli_runtime import org_units
from linli_runtime.auth import PrincipalKind, Role
from linli_runtime.clients import make_channel
from linli_runtime.clock import ManualClock
from linli_runtime.processes import NatsServer, free_port
from linli_runtime.settings import ServiceSettings

SHENGJIAN = "chengdu/chongzhou/longxing/longxing-community/shengjian"
FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
OPEN = "/open/v1"


@dataclass
class Site:
    web: httpx.AsyncClient
    governance: GovernanceApp
    points: PointsApp
    service: tuple[tuple[str, str], ...]


@pytest.fixture
async def site(tmp_path: Path, nats_server: NatsServer, issuer: TestIssuer) -> AsyncIterator[Site]:
    clock = ManualClock(datetime(2026, 6, 1, tzinfo=UTC))

    def common(name: str) -> dict[str, object]:
        return dict(port=0, database_url=f"sqlite+aiosqlite:///{tmp_path / name}.db", nats_url=nats_server.url)

    governance = issuer.trust(create_governance(ServiceSettings(**common("governance"), demo_data=True), clock))
    points = issuer.trust(create_points(PointsSettings(**common("points")), clock))
    await governance.start()
    await points.start()
    await org_units.learn_demo_tree(points.db, KNOWN_ORG_UNITS, clock.now())
    service = (("authorization", f"Bearer {issuer.issue_service_token('test')}"),)
    nowhere = f"127.0.0.1:{free_port()}"  # the portal's open data needs neither of these
    addresses = {"governance": f"127.0.0.1:{governance.port}", "points": f"127.0.0.1:{points.port}",
                 "redemption": nowhere, "notification": nowhere}

    def public_token() -> str:  # what the portal's own client credentials give it: the read-only `portal` role
        return issuer.issue("acc_portal", role=Role.PORTAL, kind=PrincipalKind.SERVICE, client_id="svc-portal")

    # Nobody signs in here: the sign-in client is never asked.
    signin = SignInClient(issuer=issuer.url, client_id="linli-portal", secret_file=tmp_path / "unused.secret",
                          redirect_uri="http://portal/auth/callback")
    backends = Backends(addresses, public_token)
    portal = create_portal(lambda: backends, issuer.verifier(), signin)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=portal), base_url="http://portal") as web:
            yield Site(web, governance, points, service)
    finally:
        await backends.close()
        await points.stop(grace=0.5)
        await governance.stop(grace=0.5)


def rows_of_csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith("\ufeff".encode()), "a byte-order mark, for spreadsheet programs"
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


async def get(site: Site, url: str) -> httpx.Response:
    response = await site.web.get(url)
    assert response.status_code == 200, (url, response.status_code, response.text[:300])
    return response


async def every_format(site: Site, base: str) -> tuple[dict[str, object], list[dict[str, str]], list[list[object]]]:
    """The dataset at `base` as JSON, CSV and XLSX, checked to say the same with schema and licence."""
    document = json.loads((await get(site, f"{base}.json")).content)
    schema = json.loads((await get(site, f"{base}.schema.json")).content)
    names = [f["name"] for f in schema["fields"]]
    assert [f["name"] for f in document["schema"]["fields"]] == names
    assert all(f["type"] in {"string", "integer", "date", "datetime"} and f["description"] for f in schema["fields"])
    for licensed in (document, schema):
        assert licensed["licence"]["name"] == "CC-BY-4.0" and "CC BY 4.0" in licensed["licence_line"]  # type: ignore[index]
    csv_response = await get(site, f"{base}.csv")
    assert csv_response.headers["content-type"].startswith("text/csv")
    assert 'rel="license"' in csv_response.headers["link"] and f'<{base}.schema.json>; rel="describedby"' in \
        csv_response.headers["link"]
    table = rows_of_csv(csv_response.content)
    assert next(csv.reader(io.StringIO(csv_response.content.decode("utf-8-sig")))) == names
    book = load_workbook(io.BytesIO((await get(site, f"{base}.xlsx")).content))
    assert book.sheetnames == ["data", "schema", "about"]
    data = [list(r) for r in book["data"].iter_rows(values_only=True)]
    assert data[0] == names and [r[0] for r in book["schema"].iter_rows(min_row=2, values_only=True)] == names
    about = {k: v for k, v in book["about"].iter_rows(values_only=True)}
    assert "CC BY 4.0" in about["licence_line"]
    rows = document["rows"]
    assert isinstance(rows, list) and len(rows) == len(table) == len(data) - 1
    for row, line, cells in zip(rows, table, data[1:], strict=True):
        assert [str("" if row[n] is None else row[n]) for n in names] == [line[n] for n in names]
        assert [None if row[n] == "" else row[n] for n in names] == list(cells)  # an empty cell is None
    return document, table, data


async def test_disclosures_budgets_and_awards_as_csv_json_and_xlsx(site: Site) -> None:
    async with make_channel(f"127.0.0.1:{site.governance.port}") as channel:
        from linli.governance.v1 import account_pb2_grpc, disclosure_pb2_grpc

        sealed = (await disclosure_pb2_grpc.DisclosureServiceStub(channel).ListDisclosures(
            disclosure_pb2.ListDisclosuresRequest(compound_path=SHENGJIAN), metadata=site.service)).disclosures
        budget = (await account_pb2_grpc.TrustAccountServiceStub(channel).GetBudget(account_pb2.GetBudgetRequest(
            name=f"compounds/{SHENGJIAN.replace('/', '~')}/budgets/2026"), metadata=site.service)).budget
    assert sealed and budget.lines, "the governance demo seals Shengjian's months and drafts its budget"

    document, _, _ = await every_format(site, f"{OPEN}/compounds/{SHENGJIAN}/disclosures")
    assert document["compound_name"] == "生建小区"
    assert [(r["period"], r["seal_hash"], r["income_fen"]) for r in document["rows"]] == [  # type: ignore[union-attr]
        (d.period, d.seal_hash, d.income_fen) for d in sealed]
    assert str(document["rows"][0]["publish_time"]).endswith("+08:00")  # type: ignore[index]
    lines, _, _ = await every_format(site, f"{OPEN}/compounds/{SHENGJIAN}/disclosure-lines")
    assert len(lines["rows"]) == sum(len(d.income) + len(d.expenses) for d in sealed)  # type: ignore[arg-type]
    planned, _, _ = await every_format(site, f"{OPEN}/compounds/{SHENGJIAN}/budgets/2026")
    assert [(r["code"], r["amount_fen"]) for r in planned["rows"]] == [  # type: ignore[union-attr]
        (line.code, line.amount_fen) for line in budget.lines]

    await close_a_year_of_points(site)
    awarded, _, _ = await every_format(site, f"{OPEN}/communities/{FENGSHU}/awards/2026")
    assert [(r["rank"], r["tier"], r["display_name"], r["points_earned"]) for r in awarded["rows"]] == [  # type: ignore[union-attr]
        (1, "gold", "万阿姨", 35), (2, "silver", "李叔", 20)]
    assert "v-wan" not in json.dumps(awarded, ensure_ascii=False), "volunteers' ids are not published"
    none_yet, _, _ = await every_format(site, f"{OPEN}/communities/{FENGSHU}/awards/2027")
    assert none_yet["rows"] == []

    page = await get(site, f"/c/{SHENGJIAN}")
    assert f'href="{OPEN}/compounds/{SHENGJIAN}/disclosures.csv"' in page.text and "CC BY 4.0" in page.text


async def test_what_is_not_there_is_404(site: Site) -> None:
    for url in [f"{OPEN}/compounds/chengdu/chongzhou/nowhere/disclosures.csv",
                f"{OPEN}/compounds/{FENGSHU}/disclosures.json",  # a community, not a compound
                f"{OPEN}/compounds/{SHENGJIAN}/budgets/2030.csv",
                f"{OPEN}/compounds/{SHENGJIAN}/disclosures.pdf",
                f"{OPEN}/communities/{SHENGJIAN}/awards/2026.csv",
                f"{OPEN}/communities/{FENGSHU}/awards/1900.csv"]:
        response = await site.web.get(url)
        assert response.status_code == 404 and response.json()["error"] == "NOT_FOUND", url


async def close_a_year_of_points(site: Site) -> None:
    async with make_channel(f"127.0.0.1:{site.points.port}") as channel:
        from linli.points.v1 import awards_pb2_grpc, ledger_pb2_grpc, volunteers_pb2_grpc

        volunteers = volunteers_pb2_grpc.VolunteerServiceStub(channel)
        ledger = ledger_pb2_grpc.LedgerServiceStub(channel)
        for vid, name, points in (("v-wan", "万阿姨", 35), ("v-li", "李叔", 20)):
            await volunteers.CreateVolunteer(volunteers_pb2.CreateVolunteerRequest(volunteer=volunteers_pb2.Volunteer(
                community_path=FENGSHU, volunteer_id=vid, display_name=name)), metadata=site.service)
            await ledger.CreateTransfer(ledger_pb2.CreateTransferRequest(
                community_path=FENGSHU, transfer_id=f"t-{vid}", debit_account="system/issuance",
                credit_account=f"volunteers/{vid}", amount=points, reason="governance"), metadata=site.service)
        site.points.clock.set(datetime(2027, 1, 2, tzinfo=UTC))  # type: ignore[attr-defined]
        await awards_pb2_grpc.AwardServiceStub(channel).CloseYear(awards_pb2.CloseYearRequest(
            community_path=FENGSHU, year=2026, gold_count=1, silver_count=1, bronze_count=0), metadata=site.service)
