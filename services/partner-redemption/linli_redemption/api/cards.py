"""linli.redemption.v1.MemberCardService: a volunteer's member card and current member code
(the volunteer's own, or any in an operator's scope)."""

from __future__ import annotations

import grpc

from linli.redemption.v1 import admin_pb2 as pb
from linli.redemption.v1 import admin_pb2_grpc
from linli_redemption.api.access import staff_or_own_volunteer, writer
from linli_redemption.members import Members, check_volunteer_id, mask_name
from linli_redemption.points import Points
from linli_runtime import times
from linli_runtime.auth import OPERATORS
from linli_runtime.errors import PermissionDenied

FULL_NAME = pb.DESCRIPTOR.services_by_name["MemberCardService"].full_name


class MemberCardServicer(admin_pb2_grpc.MemberCardServiceServicer):
    def __init__(self, members: Members, points: Points) -> None:
        self.members = members
        self.points = points

    async def _may_see(self, community_path: str, volunteer_id: str) -> None:
        """Operators of the community see any volunteer's card; a volunteer only their own."""
        await staff_or_own_volunteer(self.points, community_path, check_volunteer_id(volunteer_id), staff=OPERATORS,
                                     fallback=writer, refusal=PermissionDenied(
                                         "a volunteer may see only their own member code (the volunteer bound to "
                                         "your account)", reason="NOT_YOUR_CARD"))

    async def IssueMemberCard(self, request: pb.IssueMemberCardRequest,
                              context: grpc.aio.ServicerContext) -> pb.IssueMemberCardResponse:
        await self._may_see(request.community_path, request.volunteer_id)
        card = await self.members.card(request.community_path, request.volunteer_id, issue=True)
        return pb.IssueMemberCardResponse(card_number=card.card_number, community_path=card.community_path,
                                          volunteer_id=card.volunteer_id, masked_member=mask_name(card.display_name))

    async def GetMemberCode(self, request: pb.GetMemberCodeRequest,
                            context: grpc.aio.ServicerContext) -> pb.GetMemberCodeResponse:
        await self._may_see(request.community_path, request.volunteer_id)
        code, expires = await self.members.current_code(request.community_path, request.volunteer_id)
        return pb.GetMemberCodeResponse(member_code=code, expire_time=times.to_timestamp(expires))
