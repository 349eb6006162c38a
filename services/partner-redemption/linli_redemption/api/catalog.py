"""linli.redemption.v1.CatalogService: operators manage a merchant's rewards."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import grpc

from linli.redemption.v1 import admin_pb2 as pb
from linli.redemption.v1 import admin_pb2_grpc
from linli.redemption.v1 import resources_pb2 as rpb
from linli_redemption import names
from linli_redemption.api import access
from linli_redemption.api.convert import reward_pb
from linli_redemption.catalog import Catalog, NewReward
from linli_redemption.partners import Partners
from linli_redemption.redemption_rules import UNLIMITED
from linli_redemption.tables import Reward
from linli_runtime import fields, paging
from linli_runtime.auth import OPERATORS, authorize
from linli_runtime.errors import InvalidArgument

FULL_NAME = pb.DESCRIPTOR.services_by_name["CatalogService"].full_name


def _when(reward: rpb.Reward, field: Literal["valid_from", "valid_until"]) -> datetime | None:
    """A set Timestamp field as a UTC instant (unset: None); one out of range is INVALID_ARGUMENT."""
    if not reward.HasField(field):
        return None
    try:
        return getattr(reward, field).ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]
    except (ValueError, OverflowError) as exc:
        raise InvalidArgument.field(f"reward.{field}", "is not a valid time") from exc


class CatalogServicer(admin_pb2_grpc.CatalogServiceServicer):
    def __init__(self, partners: Partners, catalog: Catalog) -> None:
        self.partners, self.catalog = partners, catalog

    async def CreateReward(self, request: pb.CreateRewardRequest,
                           context: grpc.aio.ServicerContext) -> pb.CreateRewardResponse:
        merchant = await access.merchant_named(self.partners, request.parent)
        authorize(*OPERATORS, path=merchant.community_path)
        reward_id = names.slug("reward_id", request.reward_id)
        given = request.reward
        created = await self.catalog.create(merchant.id, NewReward(
            reward_id=reward_id,
            display_name=fields.text("reward.display_name", given.display_name, 200, required=True),
            points=fields.in_range("reward.points", given.points, 1, 1_000_000),
            stock=given.stock if given.stock == UNLIMITED else fields.in_range("reward.stock", given.stock, 0,
                                                                               1_000_000_000),
            per_volunteer_limit=fields.in_range("reward.per_volunteer_limit", given.per_volunteer_limit, 0, 10_000),
            daily_quota=fields.in_range("reward.daily_quota", given.daily_quota, 0, 1_000_000),
            valid_from=_when(given, "valid_from"), valid_until=_when(given, "valid_until")))
        return pb.CreateRewardResponse(reward=reward_pb(created))

    async def _reward(self, name: str, *, change: bool = False) -> Reward:
        """The reward `name` names, where the caller's grants reach (operators when `change`)."""
        merchant_id, reward_id = names.parse_reward("name", name)
        merchant = await access.merchant(self.partners, merchant_id)
        if change:
            authorize(*OPERATORS, path=merchant.community_path)
        return await self.catalog.get(merchant_id, reward_id)

    async def GetReward(self, request: pb.GetRewardRequest, context: grpc.aio.ServicerContext) -> pb.GetRewardResponse:
        return pb.GetRewardResponse(reward=reward_pb(await self._reward(request.name)))

    async def ListMerchantRewards(self, request: pb.ListMerchantRewardsRequest,
                                  context: grpc.aio.ServicerContext) -> pb.ListMerchantRewardsResponse:
        merchant = await access.merchant_named(self.partners, request.parent)
        rewards, next_token = await self.catalog.list(merchant.id, request.page_token,
                                                      paging.page_size(request.page_size))
        return pb.ListMerchantRewardsResponse(rewards=[reward_pb(r) for r in rewards], next_page_token=next_token)

    async def RestockReward(self, request: pb.RestockRewardRequest,
                            context: grpc.aio.ServicerContext) -> pb.RestockRewardResponse:
        # The request's own fields first: a malformed restock is refused as such, whatever the
        # reward (a NOT_FOUND would send the caller looking for the wrong mistake).
        units = fields.in_range("units", request.units, 1, 1_000_000)
        request_id = fields.request_id(request.request_id, required=True)
        found = await self._reward(request.name, change=True)
        return pb.RestockRewardResponse(reward=reward_pb(await self.catalog.restock(found, units, request_id)))
