"""The operator page at city scale without a platform: what it shows of a city's figures
(totals, districts rolled up, top and bottom charts, tables a page at a time, sorted and
narrowed by the URL), the download of every community, and the snapshots of its costliest
sections."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from typing import Any

from fastapi import Request
from linli_portal import ops_export, ops_view
from linli_portal.app import templates
from linli_portal.dashboard import STAGES, URGENCY_NAMES, CommunityActivity, Dashboard, HelpRow, MerchantRow
from linli_portal.ops_view import PER_PAGE, Query
from linli_portal.snapshots import Snapshots
from openpyxl import load_workbook  # type: ignore[import-untyped]
from starlette.datastructures import Headers

from linli.governance.v1 import org_pb2

CITY = "cd"
COMMUNITIES = 5000


def community(i: int) -> str:
    return f"{CITY}/d{i % 10}/s{(i // 10) % 10}/c{i:05d}"


def city(communities: int = COMMUNITIES) -> Dashboard:
    """A city of `communities` communities in 10 districts of 10 streets, every third quiet (no
    volunteers), a merchant in each even community, a help row in every seventh."""
    unit = org_pb2.OrgUnit(path=CITY, display_name="测试市", kind=org_pb2.ORG_UNIT_KIND_CITY)
    districts = [org_pb2.OrgUnit(path=f"{CITY}/d{d}", display_name=f"区{d}", parent_path=CITY,
                                 kind=org_pb2.ORG_UNIT_KIND_DISTRICT) for d in range(10)]
    names = {d.path: d.display_name for d in districts}
    names.update({f"{CITY}/d{d}/s{s}": f"街道{d}-{s}" for d in range(10) for s in range(10)})
    every = []
    for i in range(communities):
        path = community(i)
        volunteers = 0 if i % 3 == 0 else 10 + i % 50
        every.append(CommunityActivity(path, f"社区{i:05d}", volunteers, volunteers // 2, (i * 7919) % 10_000
                                       if volunteers else 0, [], 0, {}, district=path.rsplit("/", 2)[0],
                                       street=path.rsplit("/", 1)[0]))
    active = sorted((c for c in every if c.volunteers), key=lambda c: (-c.points, c.path))
    merchants = [MerchantRow(f"m{i:05d}", f"商家{i}", f"社区{i:05d}", i % 5, community(i), (i % 5) * 100, 0, 0)
                 for i in range(0, communities, 2)]
    helped = [HelpRow(community(i), f"社区{i:05d}", requests=3, acknowledged=2, p50_seconds=60 * (i % 90),
                      overdue_now=i % 4) for i in range(0, communities, 7)]
    return Dashboard(unit=unit, ancestors=[], children=districts, headline="", compound_count=0, rollout=[],
                     totals=[0] * len(STAGES), communities=active, quiet_communities=len(every) - len(active),
                     help_rows=helped, merchants=merchants, days=7, unbalanced_days=[], year=2026, problems=[],
                     every_community=every, area_names=names)


def render(v: ops_view.View, taken: str = "") -> str:
    request = Request({"type": "http", "method": "GET", "path": f"/ops/{CITY}", "query_string": b"",
                       "headers": Headers({}).raw})
    principal: Any = type("P", (), {"claims": {"name": "测试"}, "role": "city_operator"})()
    context = {"request": request, "v": v, "taken": taken, "operator": principal, "stages": STAGES,
               "urgency": URGENCY_NAMES}
    return templates.get_template("dashboard.html").render(context)


def test_the_tables_show_a_page_at_a_time_in_the_order_asked() -> None:
    d = city()
    first = ops_view.view(d, Query.parse({}, CITY))
    assert [c.path for c in first.community_page.rows] == [c.path for c in d.communities[:PER_PAGE]]
    assert first.community_page.total == len(d.communities) and first.community_page.pages == -(-len(d.communities)
                                                                                                 // PER_PAGE)
    last = ops_view.view(d, Query.parse({"page": "9999"}, CITY))  # past the end: the last page
    assert last.community_page.number == last.community_page.pages
    assert [c.path for c in last.community_page.rows] == [c.path for c in d.communities[(last.community_page.pages - 1)
                                                                                       * PER_PAGE:]]
    by_name = ops_view.view(d, Query.parse({"sort": "name", "page": "2"}, CITY)).community_page.rows
    names = sorted(c.name for c in d.communities)
    assert [c.name for c in by_name] == names[PER_PAGE:2 * PER_PAGE]
    fewest = ops_view.view(d, Query.parse({"sort": "volunteers"}, CITY)).community_page.rows
    assert [c.volunteers for c in fewest] == sorted(c.volunteers for c in d.communities)[:PER_PAGE]
    merchants = ops_view.view(d, Query.parse({"msort": "-redemptions"}, CITY)).merchant_page
    assert all(m.redemptions == 4 for m in merchants.rows)
    # Nonsense falls back to the defaults rather than an error page.
    odd = Query.parse({"sort": "drop table", "page": "-3", "msort": "", "days": "x", "district": "elsewhere/d1"}, CITY)
    assert odd == Query()


def test_narrowing_to_a_district_and_a_street_narrows_every_table() -> None:
    d = city()
    q = Query.parse({"district": f"{CITY}/d3", "street": f"{CITY}/d3/s4"}, CITY)
    shown = ops_view.view(d, q)
    expected = [c for c in d.communities if c.path.startswith(f"{CITY}/d3/s4/")]
    assert shown.community_page.total == len(expected) > 0
    assert all(m.community_path.startswith(f"{CITY}/d3/s4/") for m in shown.merchant_page.rows)
    assert all(h.path.startswith(f"{CITY}/d3/s4/") for h in shown.help_page.rows)
    assert [p for p, _ in shown.street_choices()] == [f"{CITY}/d3/s{s}" for s in range(10)]
    # A street outside the district is ignored, and changing the district clears the street.
    assert Query.parse({"district": f"{CITY}/d3", "street": f"{CITY}/d4/s4"}, CITY).street == ""
    assert "street" not in q.link(district=f"{CITY}/d5") and "district=cd%2Fd5" in q.link(district=f"{CITY}/d5")


def test_districts_roll_up_to_the_citys_totals() -> None:
    d = city()
    shown = ops_view.view(d, Query())
    assert [a.path for a in shown.areas] == [f"{CITY}/d{i}" for i in range(10)]
    assert sum(a.communities for a in shown.areas) == shown.totals.communities == COMMUNITIES
    assert sum(a.points for a in shown.areas) == shown.totals.points == sum(c.points for c in d.every_community)
    assert sum(a.volunteers for a in shown.areas) == shown.totals.volunteers
    assert sum(a.net for a in shown.areas) == shown.totals.net == sum(m.net for m in d.merchants)
    d3 = next(a for a in shown.areas if a.path == f"{CITY}/d3")
    assert d3.points == sum(c.points for c in d.every_community if c.path.startswith(f"{CITY}/d3/"))


def test_the_page_at_5000_communities_is_small() -> None:
    d = city()
    shown = ops_view.view(d, Query())
    page = render(shown, taken="09:05")  # its time is bench.city's ("render" in Server-Timing)
    assert len(page.encode()) < 200_000  # it was 6.6 MiB with every community in the tables and charts
    table = page[page.index('id="volunteer-table"'):page.index("</table>", page.index('id="volunteer-table"'))]
    assert table.count("<tr>") == PER_PAGE + 1  # the head and a page of rows
    assert page.count('role="img"') == 2 + 1 + 2  # top and bottom 20 points, slowest help, top and bottom merchants
    top_chart = page[:page.index("</svg>")]
    assert top_chart.count("<rect") == 20
    assert 'data-communities="5000"' in page and "数据更新于 09:05" in page
    assert page.count('href="/ops/cd/d') >= 10  # each district drills down to its own page
    assert re.search(r'aria-sort="descending"><a href="\?sort=points#volunteers"', page)


def test_the_download_has_every_community_with_its_figures() -> None:
    d = city(300)
    rows = list(ops_view.export_rows(d, Query()))
    assert [r[0] for r in rows] == sorted(c.path for c in d.every_community)
    body = b"".join(ops_export.to_csv(iter(rows)))
    assert body.startswith("\ufeff".encode())
    parsed = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert parsed[0] == [name for name, _ in ops_view.EXPORT_COLUMNS] and len(parsed) == 301
    header = parsed[0]
    by_path = {r[0]: dict(zip(header, r, strict=True)) for r in parsed[1:]}
    c2 = by_path[community(2)]
    assert (c2["district"], c2["street"], c2["points_earned"]) == ("区2", "街道2-0", str((2 * 7919) % 10_000))
    assert c2["redemptions"] == "2" and c2["net_points"] == "200"
    narrowed = list(ops_view.export_rows(d, Query.parse({"district": f"{CITY}/d1"}, CITY)))
    assert len(narrowed) == 30 and all(str(r[0]).startswith(f"{CITY}/d1/") for r in narrowed)
    book = load_workbook(io.BytesIO(ops_export.to_xlsx(rows)), read_only=True)
    sheet_rows = list(book["communities"].iter_rows(values_only=True))
    assert len(sheet_rows) == 301 and sheet_rows[1][0] == rows[0][0]


def _value(got: tuple[Any, bool]) -> Any:
    assert got[0] is not None
    return got[0].value


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_snapshot_is_kept_shown_stale_while_it_refreshes_and_a_failed_read_is_not_kept() -> None:
    async def scenario() -> None:
        clock = Clock()
        kept: Snapshots[list[str]] = Snapshots(ttl=300, clock=clock, keep=lambda v: "problem" not in v)
        reads: list[int] = []

        async def read() -> list[str]:
            reads.append(1)
            return [f"figures {len(reads)}"]

        first, now = await kept.get("k", read)
        assert first is not None and (first.value, now) == (["figures 1"], True)
        clock.now = 299
        again, now = await kept.get("k", read)
        assert again is not None and (again.value, now, len(reads)) == (["figures 1"], False, 1)
        clock.now = 301  # stale: shown at once, refreshed behind it, once however many ask
        stale, now = await kept.get("k", read)
        stale2, _ = await kept.get("k", read)
        assert stale is not None and stale2 is not None
        assert (stale.value, stale2.value, now) == (["figures 1"], ["figures 1"], False)
        await kept.settle()
        assert len(reads) == 2 and _value(await kept.get("k", read)) == ["figures 2"]
        asked, now = await kept.get("k", read, fresh=True)  # the page's "refresh now"
        assert asked is not None and (asked.value, now, len(reads)) == (["figures 3"], True, 3)

        async def failing() -> list[str]:
            return ["problem"]

        assert _value(await kept.get("other", failing)) == ["problem"]
        assert (await kept.get("other", read))[1] is True  # not kept: read again

        # A read slower than the page's wait: the page goes on without it (None), the read
        # goes on and is kept for the next load.
        gate = asyncio.Event()

        async def slow() -> list[str]:
            await gate.wait()
            return ["slow figures"]

        assert await kept.get("slow", slow, wait=0.01) == (None, True)
        gate.set()
        await kept.settle()
        assert _value(await kept.get("slow", slow, wait=0.01)) == ["slow figures"]

    asyncio.run(scenario())


class _Calls:
    """Fake backends for `dashboard.load`: a city of two communities; each RPC counts its calls."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        city_unit = org_pb2.OrgUnit(path=CITY, display_name="测试市", kind=org_pb2.ORG_UNIT_KIND_CITY)
        self.units = {CITY: city_unit, **{u.path: u for u in (
            org_pb2.OrgUnit(path=f"{CITY}/d0", parent_path=CITY, kind=org_pb2.ORG_UNIT_KIND_DISTRICT),
            org_pb2.OrgUnit(path=f"{CITY}/d0/s0", parent_path=f"{CITY}/d0", kind=org_pb2.ORG_UNIT_KIND_STREET),
            *(org_pb2.OrgUnit(path=community(i), parent_path=f"{CITY}/d0/s0", display_name=f"社区{i}",
                              kind=org_pb2.ORG_UNIT_KIND_COMMUNITY) for i in range(2)))}}
        for service, names in (("org", ("GetOrgUnit", "ListOrgUnits")), ("rollout", ("SummarizeRollout",)),
                               ("awards", ("SummarizeCommunities",)), ("help_requests", ("SummarizeHelpRequests",)),
                               ("settlements", ("SummarizeRedemptions",))):
            setattr(self, service, type(service, (), {name: staticmethod(self._counted(name)) for name in names})())

    def _counted(self, name: str) -> Any:
        async def call(request: Any, **_: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return getattr(self, name.lower())(request)
        return call

    def getorgunit(self, request: Any) -> Any:
        return org_pb2.GetOrgUnitResponse(org_unit=self.units[request.path])

    def listorgunits(self, request: Any) -> Any:
        return org_pb2.ListOrgUnitsResponse(org_units=[u for p, u in self.units.items() if p != CITY])

    def summarizerollout(self, request: Any) -> Any:
        from linli.governance.v1 import rollout_pb2
        return rollout_pb2.SummarizeRolloutResponse()

    def summarizecommunities(self, request: Any) -> Any:
        from linli.points.v1 import awards_pb2
        return awards_pb2.SummarizeCommunitiesResponse(communities=[
            awards_pb2.CommunitySummary(community_path=p, volunteer_count=3, points_earned=self.calls[
                "SummarizeCommunities"]) for p in request.community_paths])

    def summarizehelprequests(self, request: Any) -> Any:
        from linli.notification.v1 import notification_pb2
        return notification_pb2.SummarizeHelpRequestsResponse()

    def summarizeredemptions(self, request: Any) -> Any:
        from linli.redemption.v1 import admin_pb2
        return admin_pb2.SummarizeRedemptionsResponse()


def test_refresh_now_reads_the_figures_anew_but_keeps_the_org_tree() -> None:
    from linli_portal import dashboard

    async def scenario() -> None:
        b: Any = _Calls()
        kept = dashboard.snapshots()
        try:
            first = await dashboard.load(b, CITY, "t", kept=kept, role="city_operator@cd")
            live = await dashboard.load(b, CITY, "t", kept=kept, role="city_operator@cd", fresh=True)
        finally:
            await kept.close()
        assert [c.points for c in first.every_community] == [1, 1]
        assert [c.points for c in live.every_community] == [2, 2] and live.taken_at is None  # read just now
        assert b.calls["SummarizeCommunities"] == b.calls["SummarizeRedemptions"] == 2
        assert b.calls["ListOrgUnits"] == 1  # the tree below the city: walked once, kept a minute

    asyncio.run(scenario())
