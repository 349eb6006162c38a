"""linli.points.v1.AwardService: leaderboards from points earned (rankings.py), the year-end
close and its awards (awards.py)."""

from __future__ import annotations

import grpc

from linli.points.v1 import awards_pb2 as pb
from linli.points.v1 import awards_pb2_grpc
from linli_points.api.access import reader, reader_or_self, writer
from linli_points.api.convert import award_pb, community_summary_pb, ranking_pb, year_close_pb
from linli_points.awards import (
    FIRST_YEAR,
    LAST_YEAR,
    MAX_TIER_COUNT,
    Awards,
    Closed,
    Handover,
    Rule,
    awards_csv,
    export_filename,
    rule_of,
)
from linli_points.community_summary import CommunitySummaries
from linli_points.people import People
from linli_points.rankings import Rankings, period_bounds
from linli_runtime.auth import STAFF, Role, allows, authorized_path, caller
from linli_runtime.errors import InvalidArgument
from linli_runtime.fields import ident, in_range, text
from linli_runtime.names import org_path
from linli_runtime.paging import page_size
from linli_runtime.times import as_utc

FULL_NAME = pb.DESCRIPTOR.services_by_name["AwardService"].full_name


def _year(value: int) -> int:
    if not FIRST_YEAR <= value <= LAST_YEAR:
        raise InvalidArgument.field("year", f"must be a year between {FIRST_YEAR} and {LAST_YEAR}")
    return value


MAX_CLOSES_PER_CALL = 100
MAX_SUMMARIES_PER_CALL = 1000  # a few statements over that many communities: well under a second


def _rule(request: pb.CloseYearRequest | pb.CloseYearsRequest) -> tuple[Rule, str]:
    """A close's award rule and issuer name, checked."""
    counts = (request.gold_count, request.silver_count, request.bronze_count)
    percents = (request.gold_percent, request.silver_percent, request.bronze_percent)
    for field, value in zip(("gold_count", "silver_count", "bronze_count"), counts, strict=True):
        if not 0 <= value <= MAX_TIER_COUNT:
            raise InvalidArgument.field(field, f"must be between 0 (the default) and {MAX_TIER_COUNT}")
    for field, value in zip(("gold_percent", "silver_percent", "bronze_percent"), percents, strict=True):
        in_range(field, value, 0, 100)
    if any(counts) and any(percents):
        raise InvalidArgument.field("gold_percent", "give ranks per tier or shares per tier, not both")
    if sum(percents) > 100:
        raise InvalidArgument.field("bronze_percent", "the shares must add up to at most 100")
    return rule_of(counts, percents), text("issuer_name", request.issuer_name, 100)


class AwardServicer(awards_pb2_grpc.AwardServiceServicer):
    def __init__(self, awards: Awards, rankings: Rankings, people: People, summaries: CommunitySummaries) -> None:
        self.awards = awards
        self.rankings = rankings
        self.people = people
        self.summaries = summaries

    async def ListRankings(
        self, request: pb.ListRankingsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRankingsResponse:
        path = reader(request.community_path)
        period = period_bounds("period", request.period)
        team_id = ident("team_id", request.team_id) if request.team_id else ""
        board, next_token = await self.rankings.page(path, period, team_id=team_id, page_token=request.page_token,
                                                     size=page_size(request.page_size))
        return pb.ListRankingsResponse(rankings=[ranking_pb(r) for r in board], next_page_token=next_token)

    async def CloseYear(self, request: pb.CloseYearRequest, context: grpc.aio.ServicerContext) -> pb.CloseYearResponse:
        path = writer(request.community_path)
        who = caller()
        year = _year(request.year)
        rule, issuer = _rule(request)
        granted, close, newly = await self.awards.close_year(path, year, rule, closed_by=who.subject,
                                                             issuer_name=issuer)
        return pb.CloseYearResponse(awards=[award_pb(a) for a in granted], newly_closed=newly,
                                    year_close=year_close_pb(close))

    async def CloseYears(
        self, request: pb.CloseYearsRequest, context: grpc.aio.ServicerContext
    ) -> pb.CloseYearsResponse:
        if not 1 <= len(request.community_paths) <= MAX_CLOSES_PER_CALL:
            raise InvalidArgument.field("community_paths", f"give 1 to {MAX_CLOSES_PER_CALL} communities per call")
        paths = [writer(p, f"community_paths[{i}]") for i, p in enumerate(request.community_paths)]
        if len(set(paths)) != len(paths):
            twice = next(p for p in paths if paths.count(p) > 1)
            raise InvalidArgument.field("community_paths", f"{twice} is named twice; name each community once")
        who = caller()
        year = _year(request.year)
        rule, issuer = _rule(request)
        results = await self.awards.close_many(paths, year, rule, closed_by=who.subject, issuer_name=issuer)
        return pb.CloseYearsResponse(results=[
            pb.CloseYearsResult(community_path=path, newly_closed=r.newly_closed, award_count=r.award_count,
                                year_close=year_close_pb(r.close)) if isinstance(r, Closed) else
            pb.CloseYearsResult(community_path=path, refusal=pb.CloseYearRefusal(
                code=r.code.value[0], reason=r.reason, message=r.message))
            for path, r in zip(paths, results, strict=True)])

    # The year's awards are announced in public: the portal's open data publishes them (names as
    # announced, never volunteers' ids — the portal leaves those out).
    @allows(Role.PORTAL)
    async def ListAwards(
        self, request: pb.ListAwardsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAwardsResponse:
        # Staff read them where they work; the portal, for the open data, anywhere (its one grant is at the root).
        path = authorized_path(*STAFF, Role.PORTAL, path=org_path("community_path", request.community_path))
        year = _year(request.year)
        found, next_token, close = await self.awards.list_page(path, year, page_token=request.page_token,
                                                               size=page_size(request.page_size))
        return pb.ListAwardsResponse(awards=[award_pb(a) for a in found], next_page_token=next_token,
                                     year_close=year_close_pb(close) if close is not None else None)

    async def ExportAwards(
        self, request: pb.ExportAwardsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExportAwardsResponse:
        path = reader(request.community_path)
        year = _year(request.year)
        return pb.ExportAwardsResponse(filename=export_filename(path, year),
                                       csv_content=awards_csv(await self.awards.export(path, year)))

    async def GetAwardCertificate(
        self, request: pb.GetAwardCertificateRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAwardCertificateResponse:
        year = _year(request.year)
        volunteer_id = ident("volunteer_id", request.volunteer_id)
        path = await reader_or_self(self.people, request.community_path, volunteer_id)
        drawn = await self.awards.certificate(path, year, volunteer_id)
        return pb.GetAwardCertificateResponse(filename=drawn.filename, pdf_content=drawn.pdf, sha256=drawn.sha256)

    async def RecordRewardHandover(
        self, request: pb.RecordRewardHandoverRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordRewardHandoverResponse:
        path = writer(request.community_path)
        who = caller()
        year = _year(request.year)
        volunteer_id = ident("volunteer_id", request.volunteer_id)
        given = Handover(item=text("item", request.item, 200, required=True),
                         received_by=text("received_by", request.received_by, 100, required=True),
                         handed_over_by=who.subject,
                         when=as_utc(request.handover_time.ToDatetime()) if request.HasField("handover_time") else None)
        award = await self.awards.hand_over(path, year, volunteer_id, given)
        return pb.RecordRewardHandoverResponse(award=award_pb(award))

    async def SummarizeCommunities(
        self, request: pb.SummarizeCommunitiesRequest, context: grpc.aio.ServicerContext
    ) -> pb.SummarizeCommunitiesResponse:
        if not 1 <= len(request.community_paths) <= MAX_SUMMARIES_PER_CALL:
            raise InvalidArgument.field("community_paths",
                                        f"give 1 to {MAX_SUMMARIES_PER_CALL} communities per call")
        paths = [reader(p, f"community_paths[{i}]") for i, p in enumerate(request.community_paths)]
        if len(set(paths)) != len(paths):
            twice = next(p for p in paths if paths.count(p) > 1)
            raise InvalidArgument.field("community_paths", f"{twice} is named twice; name each community once")
        summaries = await self.summaries.summarize(paths, _year(request.year))
        return pb.SummarizeCommunitiesResponse(communities=[community_summary_pb(s) for s in summaries])
