"""The operator's page as a person reads it at 5,000 communities: the unit's totals, its
districts (or streets) rolled up for drilling down, the top and bottom 20 in the charts, and the
tables a page at a time — sorted and narrowed to a district or street by the URL's query, so a
view can be bookmarked and sent. Pure: `dashboard.load` reads the figures, this picks what the
page shows of them, and `export_rows` gives every row for the CSV/XLSX download.

Query parameters (anything unknown or out of range falls back to the default, never an error
page: these URLs are typed and edited by hand):
- `district`, `street`: a unit's path below the page's unit; narrows the three tables.
- `sort` / `page`: the communities' table (`points`, `volunteers`, `active`, `name`, `district`,
  `street`; `-` in front for descending; default `-points`).
- `msort` / `mpage`: the merchants' table (`net`, `redemptions`, `redeemed`, `refunded`,
  `name`, `community`; default `-net`).
- `hpage`: the help requests' table (most overdue first, then the slowest).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from markupsafe import Markup

from linli.governance.v1 import org_pb2
from linli_portal import charts
from linli_portal.dashboard import CommunityActivity, Dashboard, HelpRow, MerchantRow
from linli_portal.fmt import points_short

T = TypeVar("T")
PER_PAGE = 50  # rows of a table a page
CHART_N = 20  # bars in a top or bottom chart

COMMUNITY_SORTS: dict[str, Callable[[CommunityActivity], Any]] = {
    "points": lambda c: c.points, "volunteers": lambda c: c.volunteers, "active": lambda c: c.active,
    "name": lambda c: c.name, "district": lambda c: c.district, "street": lambda c: c.street,
}
MERCHANT_SORTS: dict[str, Callable[[MerchantRow], Any]] = {
    "net": lambda m: m.net, "redemptions": lambda m: m.redemptions, "redeemed": lambda m: m.redeemed,
    "refunded": lambda m: m.refunded, "name": lambda m: m.name, "community": lambda m: m.community,
}
DEFAULTS = {"sort": "-points", "msort": "-net", "page": "1", "mpage": "1", "hpage": "1", "district": "",
            "street": "", "days": "7"}


def _page_number(value: str) -> int:
    return int(value) if value.isdigit() and 0 < len(value) < 7 else 1


def _sort(value: str, known: Mapping[str, object], default: str) -> str:
    return value if value.lstrip("-") in known else default


def _below(value: str, path: str) -> str:
    value = value.strip().strip("/")
    return value if value.startswith(path + "/") else ""


@dataclass(frozen=True)
class Query:
    """What the URL asks of the page (see the module's doc)."""

    district: str = ""
    street: str = ""
    sort: str = DEFAULTS["sort"]
    page: int = 1
    msort: str = DEFAULTS["msort"]
    mpage: int = 1
    hpage: int = 1
    days: int = 7

    @classmethod
    def parse(cls, params: Mapping[str, str], unit_path: str) -> Query:
        district = _below(params.get("district", ""), unit_path)
        street = _below(params.get("street", ""), district or unit_path)
        days = 30 if params.get("days", "").isdigit() and int(params["days"][:4]) >= 30 else 7
        return cls(district=district, street=street,
                   sort=_sort(params.get("sort", ""), COMMUNITY_SORTS, DEFAULTS["sort"]),
                   page=_page_number(params.get("page", "")),
                   msort=_sort(params.get("msort", ""), MERCHANT_SORTS, DEFAULTS["msort"]),
                   mpage=_page_number(params.get("mpage", "")), hpage=_page_number(params.get("hpage", "")),
                   days=days)

    def covers(self, community_path: str) -> bool:
        return all(not area or community_path.startswith(area + "/") for area in (self.district, self.street))

    def link(self, **changes: object) -> str:
        """This view's URL query with `changes` (a new sort goes back to page 1 of its table)."""
        values = {name: str(getattr(self, name)) for name in DEFAULTS}
        values.update({name: str(value) for name, value in changes.items()})
        if "sort" in changes:
            values["page"] = "1"
        if "msort" in changes:
            values["mpage"] = "1"
        if "district" in changes:
            values.update(street="", page="1", mpage="1", hpage="1")
        if "street" in changes:
            values.update(page="1", mpage="1", hpage="1")
        kept = {name: value for name, value in values.items() if value != DEFAULTS.get(name, "")}
        return "?" + urlencode(kept) if kept else "?"

    def sort_link(self, table: str, key: str) -> str:
        """The link of a column's header: descending first (the largest figures are wanted
        first), ascending when it is already sorted descending by that column."""
        current = self.sort if table == "sort" else self.msort
        return self.link(**{table: key if current == f"-{key}" else f"-{key}"})

    def sorted_by(self, table: str, key: str) -> str:
        """`aria-sort` of a column: "descending", "ascending" or "none"."""
        current = self.sort if table == "sort" else self.msort
        return "descending" if current == f"-{key}" else "ascending" if current == key else "none"


@dataclass
class Page(Generic[T]):
    rows: list[T]
    number: int
    pages: int
    total: int

    @property
    def first(self) -> int:
        return (self.number - 1) * PER_PAGE + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0


def paged(rows: Sequence[T], number: int, per: int = PER_PAGE) -> Page[T]:
    pages = max(1, -(-len(rows) // per))
    number = min(max(number, 1), pages)
    return Page(list(rows[(number - 1) * per:number * per]), number, pages, len(rows))


def ordered(rows: Sequence[T], sort: str, keys: Mapping[str, Callable[[T], Any]],
            tie: Callable[[T], Any]) -> list[T]:
    """`rows` sorted by `sort` (`-` for descending), ties in `tie` order either way."""
    key = keys[sort.lstrip("-")]
    by_tie = sorted(rows, key=tie)
    return sorted(by_tie, key=key, reverse=sort.startswith("-"))


@dataclass
class AreaRow:
    """A district (or street, under a district) with its communities rolled up."""

    path: str
    name: str
    communities: int = 0
    with_volunteers: int = 0
    volunteers: int = 0
    active: int = 0
    points: int = 0
    redemptions: int = 0
    net: int = 0


@dataclass
class Totals:
    communities: int = 0
    with_volunteers: int = 0
    volunteers: int = 0
    active: int = 0
    points: int = 0
    merchants: int = 0
    redemptions: int = 0
    redeemed: int = 0
    refunded: int = 0

    @property
    def net(self) -> int:
        return self.redeemed - self.refunded


@dataclass
class View:
    d: Dashboard
    q: Query
    totals: Totals = field(default_factory=Totals)
    areas: list[AreaRow] = field(default_factory=list)
    community_page: Page[CommunityActivity] = field(default_factory=lambda: paged([], 1))
    merchant_page: Page[MerchantRow] = field(default_factory=lambda: paged([], 1))
    help_page: Page[HelpRow] = field(default_factory=lambda: paged([], 1))
    idle_merchants: int = 0

    @property
    def narrowed(self) -> bool:
        return bool(self.q.district or self.q.street)

    def area_name(self, path: str) -> str:
        return self.d.area_names.get(path, path.rsplit("/", 1)[-1])

    def district_choices(self) -> list[tuple[str, str]]:
        """(path, name) of the districts (or streets, on a district's page) to narrow the tables to."""
        return [(a.path, a.name) for a in self.areas]

    def street_choices(self) -> list[tuple[str, str]]:
        """The streets of the chosen district (of the page's unit, on a district's page: none)."""
        if not self.q.district:
            return []
        streets = sorted({c.street for c in self.d.every_community if c.street.startswith(self.q.district + "/")})
        return [(s, self.area_name(s)) for s in streets]

    # -- charts: the first and last CHART_N, not one bar per community --

    def top_chart(self) -> Markup:
        rows = self.d.communities[:CHART_N]
        return _points_chart(rows, f"{self.d.year}年志愿积分最多的{len(rows)}个社区 "
                                   f"Top {len(rows)} communities by points earned in {self.d.year}")

    def bottom_chart(self) -> Markup:
        if len(self.d.communities) <= CHART_N:
            return Markup("")
        rows = list(reversed(self.d.communities[-CHART_N:]))
        return _points_chart(rows, f"有志愿者的社区中积分最少的{len(rows)}个 "
                                   f"Bottom {len(rows)} communities with volunteers, by points earned")

    def help_chart(self) -> Markup:
        slowest = sorted((r for r in self.d.help_rows if r.acknowledged),
                         key=lambda r: (-r.median_minutes, r.path))[:CHART_N]
        bars = [charts.Bar(r.name, r.median_minutes, f"{r.median} 分钟 min (SLA {r.sla_normal})",
                           target=r.sla_normal, over=r.median_minutes > r.sla_normal) for r in slowest]
        desc = "; ".join(f"{r.name}: median {r.median} minutes to acknowledge, SLA {r.sla_normal} minutes for "
                         f"normal urgency, {r.within_share} within SLA" for r in slowest)
        return charts.hbars(bars, title=f"响应最慢的{len(slowest)}个社区（中位数） "
                                        f"The {len(slowest)} slowest communities: median minutes to acknowledge",
                            desc=desc, target_is_track=False)

    def merchant_charts(self) -> list[Markup]:
        busy = sorted((m for m in self.d.merchants if m.redemptions), key=lambda m: (-m.net, m.merchant_id))
        out = [_merchant_chart(busy[:CHART_N], f"近{self.d.days}天兑换最多的{min(len(busy), CHART_N)}家商家 "
                                               f"Top merchants by net points, last {self.d.days} days")]
        if len(busy) > CHART_N:
            out.append(_merchant_chart(list(reversed(busy[-CHART_N:])),
                                       f"有兑换的商家中最少的{CHART_N}家 Bottom {CHART_N} merchants with "
                                       f"redemptions, last {self.d.days} days"))
        return out

    # -- paging links --

    def page_links(self, param: str, page: Page[Any]) -> list[tuple[str, str, bool]]:
        """(label, link, current) for a table's pager: first, a window around this page, last."""
        wanted = sorted({1, page.pages, *range(max(1, page.number - 2), min(page.pages, page.number + 2) + 1)})
        links: list[tuple[str, str, bool]] = []
        previous = 0
        for n in wanted:
            if n - previous > 1:
                links.append(("…", "", False))
            links.append((str(n), self.q.link(**{param: n}), n == page.number))
            previous = n
        return links


def _points_chart(rows: Sequence[CommunityActivity], title: str) -> Markup:
    bars = [charts.Bar(c.name, c.points, f"{points_short(c.points)} 分 · {c.active} 人") for c in rows]
    desc = "; ".join(f"{c.name}: {c.points} points earned by {c.active} of {c.volunteers} volunteers" for c in rows)
    return charts.hbars(bars, title=title, desc=desc)


def _merchant_chart(rows: Sequence[MerchantRow], title: str) -> Markup:
    bars = [charts.Bar(m.name, m.net, f"{points_short(m.net)} 分 points · {m.redemptions} 笔") for m in rows]
    desc = "; ".join(f"{m.name}: {m.redemptions} redemptions, {m.net} points net" for m in rows)
    return charts.hbars(bars, title=title, desc=desc)


def view(d: Dashboard, q: Query) -> View:
    """What the page shows of `d` for the query `q`."""
    out = View(d, q)
    areas = {c.path: AreaRow(c.path, c.display_name) for c in d.children  # districts, or a district's streets
             if c.kind <= org_pb2.ORG_UNIT_KIND_STREET}
    # Each community's area: its district on a city's page, its street on a district's.
    area_of = {c.path: c.district if d.unit.kind == org_pb2.ORG_UNIT_KIND_CITY else c.street
               for c in d.every_community}
    totals = out.totals
    for c in d.every_community:
        totals.communities += 1
        totals.with_volunteers += bool(c.volunteers)
        totals.volunteers += c.volunteers
        totals.active += c.active
        totals.points += c.points
        if (area := areas.get(area_of[c.path])) is not None:
            area.communities += 1
            area.with_volunteers += bool(c.volunteers)
            area.volunteers += c.volunteers
            area.active += c.active
            area.points += c.points
    for m in d.merchants:
        totals.merchants += 1
        totals.redemptions += m.redemptions
        totals.redeemed += m.redeemed
        totals.refunded += m.refunded
        if (area := areas.get(area_of.get(m.community_path, ""))) is not None:
            area.redemptions += m.redemptions
            area.net += m.net
    out.areas = sorted(areas.values(), key=lambda a: a.path)
    communities = [c for c in d.communities if q.covers(c.path)]
    out.community_page = paged(ordered(communities, q.sort, COMMUNITY_SORTS, lambda c: c.path), q.page)
    merchants = [m for m in d.merchants if (m.redemptions or m.refunds) and q.covers(m.community_path)]
    out.idle_merchants = sum(1 for m in d.merchants if not (m.redemptions or m.refunds) and q.covers(m.community_path))
    out.merchant_page = paged(ordered(merchants, q.msort, MERCHANT_SORTS, lambda m: m.merchant_id), q.mpage)
    helped = sorted((h for h in d.help_rows if q.covers(h.path)),
                    key=lambda h: (-h.overdue_now, -h.p50_seconds, h.path))
    out.help_page = paged(helped, q.hpage)
    return out


# -- the export: every community, every figure --

EXPORT_COLUMNS = [
    ("community_path", "社区路径 Community path"), ("district", "区县 District"), ("street", "街道/镇 Street/town"),
    ("community", "社区 Community"), ("volunteers", "志愿者 Volunteers"), ("active", "活跃 Active"),
    ("points_earned", "积分 Points earned"), ("award_year", "表彰年度 Award year"), ("gold", "金 Gold"),
    ("silver", "银 Silver"), ("bronze", "铜 Bronze"), ("merchants", "商家 Merchants"),
    ("redemptions", "兑换笔数 Redemptions"), ("redeemed_points", "兑换积分 Points redeemed"),
    ("refunded_points", "退还积分 Points refunded"), ("net_points", "净额 Net points"),
    ("help_requests", "求助 Help requests"), ("help_acknowledged", "已响应 Acknowledged"),
    ("help_within_sla", "时限内 Within SLA"), ("help_overdue", "已超时 Overdue"),
]


def export_rows(d: Dashboard, q: Query) -> Iterator[list[object]]:
    """Every community of the page's unit (narrowed as `q` narrows the tables), quiet ones too,
    in path order, one list per row in `EXPORT_COLUMNS`' order."""
    merchants: dict[str, list[MerchantRow]] = {}
    for m in d.merchants:
        merchants.setdefault(m.community_path, []).append(m)
    helped = {h.path: h for h in d.help_rows}
    for c in sorted(d.every_community, key=lambda c: c.path):
        if not q.covers(c.path):
            continue
        ms = merchants.get(c.path, [])
        h = helped.get(c.path) or HelpRow(c.path, c.name)
        redeemed, refunded = sum(m.redeemed for m in ms), sum(m.refunded for m in ms)
        yield [c.path, d.area_names.get(c.district, c.district.rsplit("/", 1)[-1]) if c.district else "",
               d.area_names.get(c.street, c.street.rsplit("/", 1)[-1]) if c.street else "", c.name,
               c.volunteers, c.active, c.points, c.award_year or "", c.awards.get("gold", 0),
               c.awards.get("silver", 0), c.awards.get("bronze", 0), len(ms), sum(m.redemptions for m in ms),
               redeemed, refunded, redeemed - refunded, h.requests, h.acknowledged, h.within_sla, h.overdue_now]


