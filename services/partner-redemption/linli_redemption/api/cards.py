"""linli.redemption.v1.MemberCardService: a volunteer's member card and current member code
(the volunteer's own, or any in an operator's scope)."""

from __future__ import annotations

import grpc

from linli.redemption.v1 import admin_pb2 as pb
from linli.redemption.v1 import admin_pb2_grpc
from linli_redemption.members import Members, mask_name
from linli_runtime import times
from linli_runtime.auth import OPERATORS, Role, caller, require_role, require_scope
from linli_runtime.errors import PermissionDenied

FULL_NAME = pb.DESCRIPTOR.services_by_name["MemberCardService"].full_name


def _may_see(community_path: str, volunteer_id: str) -> None:
    who = caller()
    if who.role == Role.VOLUNTEER:
        if who.subject != volunteer_id:
            raise PermissionDenied("a volunteer may see only their own member code", reason="NOT_YOUR_CARD")
        require_scope(community_path)
        return
    require_scope(community_path)
    require_role(*OPERATORS)


class MemberCardServicer(admin_pb2_grpc.MemberCardServiceServicer):
    def __init__(self, members: Members) -> None:
        self.members = members

    async def IssueMemberCard(self, request: pb.IssueMemberCardRequest,
                              context: grpc.aio.ServicerContext) -> pb.IssueMemberCardResponse:
        _may_see(request.community_path, request.volunteer_id)
        card = await self.members.card(request.community_path, request.volunteer_id, issue=True)
        return pb.IssueMemberCardResponse(card_number=card.card_number, community_path=card.community_path,
                                          volunteer_id=card.volunteer_id, masked_member=mask_name(card.display_name))

    async def GetMemberCode(self, request: pb.GetMemberCodeRequest,
                            context: grpc.aio.ServicerContext) -> pb.GetMemberCodeResponse:
        _may_see(request.community_path, request.volunteer_id)
        code, expires = await self.members.current_code(request.community_path, request.volunteer_id)
        return pb.GetMemberCodeResponse(member_code=code, expire_time=times.to_timestamp(expires))
