"""linli.redemption.v1.RedemptionAdminService: the redemptions at a community's merchants, for
the community's staff, and a volunteer's own (filtered by the volunteer bound to their account).
A POS terminal (a `merchant` principal) is refused: its till has GetRedemption and its own day
on the POS API, and this list spans every merchant."""

from __future__ import annotations

import grpc

from linli.redemption.v1 import admin_pb2 as pb
from linli.redemption.v1 import admin_pb2_grpc
from linli.redemption.v1 import resources_pb2 as rpb
from linli_redemption.api import access
from linli_redemption.api.convert import REDEMPTION_STATES, redemption_pb
from linli_redemption.members import check_volunteer_id
from linli_redemption.partners import Partners
from linli_redemption.points import Points
from linli_redemption.redemption_list import RedemptionList
from linli_runtime import paging
from linli_runtime.auth import STAFF
from linli_runtime.errors import InvalidArgument, PermissionDenied

FULL_NAME = pb.DESCRIPTOR.services_by_name["RedemptionAdminService"].full_name
STATE_NAMES = {value: name for name, value in REDEMPTION_STATES.items()}


class RedemptionAdminServicer(admin_pb2_grpc.RedemptionAdminServiceServicer):
    def __init__(self, partners: Partners, redemptions: RedemptionList, points: Points) -> None:
        self.partners, self.redemptions, self.points = partners, redemptions, points

    async def ListRedemptions(self, request: pb.ListRedemptionsRequest,
                              context: grpc.aio.ServicerContext) -> pb.ListRedemptionsResponse:
        volunteer_id = check_volunteer_id(request.volunteer_id) if request.volunteer_id else None
        if volunteer_id is None:
            path = access.staff_reader(request.community_path)
        else:
            path = await access.staff_or_own_volunteer(
                self.points, request.community_path, volunteer_id, staff=STAFF, fallback=access.staff_reader,
                refusal=PermissionDenied("a volunteer may list only their own redemptions (the volunteer bound to "
                                         "your account)", reason="NOT_YOUR_REDEMPTIONS"))
        if request.state != rpb.REDEMPTION_STATE_UNSPECIFIED and request.state not in STATE_NAMES:
            raise InvalidArgument.field("state", "must be PENDING, COMMITTED, VOIDED or unset (all)")
        merchant_id = None
        if request.merchant:
            merchant = await access.merchant_named(self.partners, request.merchant, field="merchant")
            if merchant.community_path != path:
                raise InvalidArgument.field("merchant", f"is not a merchant of {path}")
            merchant_id = merchant.id
        rows, token = await self.redemptions.page(
            path, merchant_id=merchant_id, state=STATE_NAMES.get(request.state), volunteer_id=volunteer_id,
            page_token=request.page_token,
            size=paging.page_size(request.page_size))
        return pb.ListRedemptionsResponse(redemptions=[redemption_pb(r) for r in rows], next_page_token=token)
