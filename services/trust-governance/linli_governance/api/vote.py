from __future__ import annotations

from typing import Any

from linli.governance.v1 import vote_pb2, vote_pb2_grpc
from linli_governance import names, owners, votes
from linli_governance.api import convert
from linli_governance.api.base import (
    BODY_KEEPERS,
    VOTE_OFFICERS,
    Api,
    owner_households,
    require_household,
    require_owner_or_scope,
)
from linli_runtime import fields, paging
from linli_runtime import names as runtime_names
from linli_runtime.auth import BOOKKEEPERS, STAFF, Role, authorize, caller, path_within, reach, scopes_for
from linli_runtime.errors import InvalidArgument
from linli_runtime.times import as_utc


def _household_of(compound_path: str, household_path: str) -> str:
    household = runtime_names.org_path("household_path", household_path)
    if not household.startswith(compound_path + "/"):
        raise InvalidArgument.field("household_path", "must be a household of the vote's compound")
    return household


# Whose grants below a wider place open its votes to them in ListVotes (see there).
VOTE_LISTERS = (*STAFF, *BOOKKEEPERS, Role.TRUST_SUPERVISOR)


class VoteServicer(Api, vote_pb2_grpc.VoteServiceServicer):
    async def CreateVote(self, request: vote_pb2.CreateVoteRequest, context: Any) -> vote_pb2.CreateVoteResponse:
        path = self.scoped_path("compound_path", request.compound_path, *VOTE_OFFICERS)
        title = fields.text("title", request.title, 300, required=True)
        votes.rule_for(request.matter)
        if not request.HasField("close_time"):
            raise InvalidArgument.field("close_time", "is required")
        close_time = as_utc(request.close_time.ToDatetime())
        open_time = as_utc(request.open_time.ToDatetime()) if request.HasField("open_time") else None
        purpose = votes.check_decision(request.matter, request.amount_fen, request.purpose)
        return await self.write(
            request,
            vote_pb2.CreateVoteResponse,
            lambda session: votes.create(
                session,
                path,
                title=title,
                matter=request.matter,
                subject=request.subject,
                close_time=close_time,
                when=self.now(),
                amount_fen=request.amount_fen,
                purpose=purpose,
                open_time=open_time,
            ),
            lambda vote: vote_pb2.CreateVoteResponse(vote=convert.vote(vote)),
        )

    async def CastBallot(self, request: vote_pb2.CastBallotRequest, context: Any) -> vote_pb2.CastBallotResponse:
        path, vote_id = names.parse_compound_child("vote", request.vote, names.VOTES)
        household = _household_of(path, request.household_path)
        votes.check_channel(request.channel)
        if request.channel == vote_pb2.BALLOT_CHANNEL_PAPER:
            # Paper ballots are typed in by an officer of the compound.
            authorize(*VOTE_OFFICERS, path=path)
            who = caller()
        else:
            # Online ballots come from the household itself: a resident grant for it (an owner of
            # several units holds one for each, in one token).
            authorize(Role.RESIDENT, path=household)
            who = caller()
        return await self.write(
            request,
            vote_pb2.CastBallotResponse,
            lambda session: votes.cast(
                session,
                path,
                vote_id,
                household_path=household,
                choice=request.choice,
                channel=request.channel,
                entered_by=who.subject,
                when=self.now(),
            ),
            lambda vote: vote_pb2.CastBallotResponse(vote=convert.vote(vote)),
        )

    async def RecountPaperBallot(
        self, request: vote_pb2.RecountPaperBallotRequest, context: Any
    ) -> vote_pb2.RecountPaperBallotResponse:
        path, vote_id = names.parse_compound_child("vote", request.vote, names.VOTES)
        household = _household_of(path, request.household_path)
        authorize(*VOTE_OFFICERS, path=path)
        who = caller()
        return await self.write(
            request,
            vote_pb2.RecountPaperBallotResponse,
            lambda session: votes.recount(
                session,
                path,
                vote_id,
                household_path=household,
                choice=request.choice,
                officer=who.subject,
                when=self.now(),
            ),
            lambda result: vote_pb2.RecountPaperBallotResponse(vote=convert.vote(result[0]), confirmed=result[1]),
        )

    async def GetBallot(self, request: vote_pb2.GetBallotRequest, context: Any) -> vote_pb2.GetBallotResponse:
        path, vote_id = names.parse_compound_child("vote", request.vote, names.VOTES)
        household = _household_of(path, request.household_path)
        require_household(household)
        ballot = await votes.ballot_of(self.db, path, vote_id, household)
        return vote_pb2.GetBallotResponse(ballot=convert.ballot(request.vote, ballot))

    async def GetVote(self, request: vote_pb2.GetVoteRequest, context: Any) -> vote_pb2.GetVoteResponse:
        # The compound's officers, and its owners (who vote in it).
        path, vote_id = names.parse_compound_child("name", request.name, names.VOTES)
        require_owner_or_scope(path)
        return vote_pb2.GetVoteResponse(vote=convert.vote(await votes.get(self.db, path, vote_id)))

    async def ListVotes(self, request: vote_pb2.ListVotesRequest, context: Any) -> vote_pb2.ListVotesResponse:
        # Officers list the votes within their scope; an owner those of their own compound. Over
        # a wider place (a district, the city) than the caller's grants reach: the votes of the
        # compounds below it where the caller holds an officer's, a committee's or a
        # bookkeeper's grant — a person on two compounds' committees sees both.
        path = runtime_names.org_path("path", request.path)
        within: tuple[str, ...] = ()
        if not (owner_households(path) or caller().can_reach(path)):
            within = tuple(s for s in scopes_for(*VOTE_LISTERS) if path_within(s, path))
            if not within:
                reach(path)  # says why: nothing of the caller's lies there
        size = paging.page_size(request.page_size, maximum=votes.MAX_LIST_PAGE)
        views, token = await votes.list_page(
            self.db, path, state=request.state, page_token=request.page_token, size=size, within=within
        )
        return vote_pb2.ListVotesResponse(votes=[convert.vote(v) for v in views], next_page_token=token)

    async def CloseVote(self, request: vote_pb2.CloseVoteRequest, context: Any) -> vote_pb2.CloseVoteResponse:
        path, vote_id = self.scoped_child("name", request.name, names.VOTES, *VOTE_OFFICERS)
        return await self.write(
            request,
            vote_pb2.CloseVoteResponse,
            lambda session: votes.close(session, path, vote_id, when=self.now()),
            lambda vote: vote_pb2.CloseVoteResponse(vote=convert.vote(vote)),
        )

    async def UpdateUnitOwner(
        self, request: vote_pb2.UpdateUnitOwnerRequest, context: Any
    ) -> vote_pb2.UpdateUnitOwnerResponse:
        household = runtime_names.org_path("unit_owner.household_path", request.unit_owner.household_path)
        authorize(*BODY_KEEPERS, path=household)
        entry = owners.check_entry(convert.unit_owner_from(request.unit_owner, household))
        return await self.write(
            request,
            vote_pb2.UpdateUnitOwnerResponse,
            lambda session: owners.register_unit(session, entry),
            lambda saved: vote_pb2.UpdateUnitOwnerResponse(unit_owner=convert.unit_owner(saved)),
        )

    async def ListOwners(self, request: vote_pb2.ListOwnersRequest, context: Any) -> vote_pb2.ListOwnersResponse:
        path = self.scoped_path("compound_path", request.compound_path)
        page, token, total, area = await owners.list_owners(
            self.db, path, page_token=request.page_token, size=paging.page_size(request.page_size)
        )
        return vote_pb2.ListOwnersResponse(
            owners=[convert.owner(o) for o in page], next_page_token=token, total_owners=total, total_area_dm2=area
        )
