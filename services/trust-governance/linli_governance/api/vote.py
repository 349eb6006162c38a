from __future__ import annotations

from typing import Any

from linli.governance.v1 import vote_pb2, vote_pb2_grpc
from linli_governance import votes
from linli_governance.api.base import VOTE_OFFICERS, Api
from linli_governance.names import parse_child_name, require_path, require_text, utc
from linli_runtime.auth import Role, require_role, require_scope
from linli_runtime.errors import InvalidArgument


class VoteServicer(Api, vote_pb2_grpc.VoteServiceServicer):
    async def CreateVote(self, request: vote_pb2.CreateVoteRequest, context: Any) -> vote_pb2.CreateVoteResponse:
        require_role(*VOTE_OFFICERS)
        path = require_scope(require_path(request.compound_path, "compound_path"))
        title = require_text(request.title, "title", max_len=300)
        votes.rule_for(request.matter)
        if not request.HasField("close_time"):
            raise InvalidArgument.field("close_time", "is required")
        close_time = utc(request.close_time.ToDatetime())

        async def body(session: Any) -> vote_pb2.CreateVoteResponse:
            vote = await votes.create(
                session,
                path,
                title=title,
                matter=request.matter,
                subject=request.subject,
                close_time=close_time,
                when=self.now(),
            )
            return vote_pb2.CreateVoteResponse(vote=vote)

        return await self.write("CreateVote", request, vote_pb2.CreateVoteResponse, body)

    async def CastBallot(self, request: vote_pb2.CastBallotRequest, context: Any) -> vote_pb2.CastBallotResponse:
        path, vote_id = parse_child_name(request.vote, "votes", "vote")
        household = require_path(request.household_path, "household_path")
        if not household.startswith(path + "/"):
            raise InvalidArgument.field("household_path", "must be a household of the vote's compound")
        if request.channel not in (vote_pb2.BALLOT_CHANNEL_ONLINE, vote_pb2.BALLOT_CHANNEL_PAPER):
            raise InvalidArgument.field("channel", "must be ONLINE or PAPER")
        if request.channel == vote_pb2.BALLOT_CHANNEL_PAPER:
            # Paper ballots are typed in by an officer of the compound.
            who = require_role(*VOTE_OFFICERS)
            require_scope(path)
        else:
            # Online ballots come from the household itself (a resident token scoped to it).
            who = require_role(Role.RESIDENT)
            require_scope(household)

        async def body(session: Any) -> vote_pb2.CastBallotResponse:
            vote = await votes.cast(
                session,
                path,
                vote_id,
                household_path=household,
                choice=request.choice,
                channel=request.channel,
                entered_by=who.subject,
                when=self.now(),
            )
            return vote_pb2.CastBallotResponse(vote=vote)

        return await self.write("CastBallot", request, vote_pb2.CastBallotResponse, body)

    async def RecountPaperBallot(
        self, request: vote_pb2.RecountPaperBallotRequest, context: Any
    ) -> vote_pb2.RecountPaperBallotResponse:
        path, vote_id = parse_child_name(request.vote, "votes", "vote")
        household = require_path(request.household_path, "household_path")
        if not household.startswith(path + "/"):
            raise InvalidArgument.field("household_path", "must be a household of the vote's compound")
        who = require_role(*VOTE_OFFICERS)
        require_scope(path)

        async def body(session: Any) -> vote_pb2.RecountPaperBallotResponse:
            vote, confirmed = await votes.recount(
                session,
                path,
                vote_id,
                household_path=household,
                choice=request.choice,
                officer=who.subject,
                when=self.now(),
            )
            return vote_pb2.RecountPaperBallotResponse(vote=vote, confirmed=confirmed)

        return await self.write("RecountPaperBallot", request, vote_pb2.RecountPaperBallotResponse, body)

    async def GetVote(self, request: vote_pb2.GetVoteRequest, context: Any) -> vote_pb2.GetVoteResponse:
        path, vote_id = parse_child_name(request.name, "votes")
        require_scope(path)

        async def body(session: Any) -> vote_pb2.GetVoteResponse:
            return vote_pb2.GetVoteResponse(vote=await votes.get(session, path, vote_id))

        return await self.read(body)

    async def CloseVote(self, request: vote_pb2.CloseVoteRequest, context: Any) -> vote_pb2.CloseVoteResponse:
        require_role(*VOTE_OFFICERS)
        path, vote_id = parse_child_name(request.name, "votes")
        require_scope(path)

        async def body(session: Any) -> vote_pb2.CloseVoteResponse:
            return vote_pb2.CloseVoteResponse(vote=await votes.close(session, path, vote_id, when=self.now()))

        return await self.write("CloseVote", request, vote_pb2.CloseVoteResponse, body)
