"""SigningKeyService: list and rotate the issuer's signing keys (platform admins only)."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from linli.identity.v1 import identity_pb2 as pb
from linli_identity import access
from linli_identity.api import convert
from linli_identity.api.base import Api, deny
from linli_runtime import fields


class SigningKeyServicer(Api):
    async def _require_admin(self) -> None:
        async def body(session: AsyncSession) -> pb.ListSigningKeysResponse:
            if not access.may_manage_keys(await self.actor(session)):
                raise deny("manage the issuer's signing keys (platform admins only)")
            return pb.ListSigningKeysResponse()

        await self.read(body)

    async def ListSigningKeys(self, request: pb.ListSigningKeysRequest, context: Any) -> pb.ListSigningKeysResponse:
        await self._require_admin()
        keys, token = await self.domain.keys.list(page_size=request.page_size, page_token=request.page_token)
        return pb.ListSigningKeysResponse(signing_keys=[convert.signing_key(k) for k in keys], next_page_token=token)

    async def RotateSigningKeys(self, request: pb.RotateSigningKeysRequest,
                                context: Any) -> pb.RotateSigningKeysResponse:
        fields.request_id(request.request_id)

        async def body(session: AsyncSession) -> pb.RotateSigningKeysResponse:
            if not access.may_manage_keys(await self.actor(session)):
                raise deny("manage the issuer's signing keys (platform admins only)")
            active, retired = await self.domain.keys.rotate_in(session)
            return pb.RotateSigningKeysResponse(active_key=convert.signing_key(active),
                                                retired_key=convert.signing_key(retired) if retired else None)

        response = await self.write("RotateSigningKeys", request, pb.RotateSigningKeysResponse, body)
        await self.domain.keys.reload()
        return response
