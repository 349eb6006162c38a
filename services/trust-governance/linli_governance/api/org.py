from __future__ import annotations

from datetime import date
from typing import Any

from linli.governance.v1 import org_pb2, org_pb2_grpc, rollout_pb2, rollout_pb2_grpc
from linli_governance import org_tree, rollout
from linli_governance.api.base import OPERATORS, ROLLOUT_ROLES, Api
from linli_governance.names import decode_token, encode_token, optional_text, page_size, require_path
from linli_governance.periods import local_date
from linli_runtime.auth import require_role, require_scope
from linli_runtime.errors import InvalidArgument


class OrgServicer(Api, org_pb2_grpc.OrgServiceServicer):
    async def CreateOrgUnit(self, request: org_pb2.CreateOrgUnitRequest, context: Any) -> org_pb2.CreateOrgUnitResponse:
        require_role(*OPERATORS)
        parent = require_path(request.parent_path, "parent_path") if request.parent_path.strip() else ""
        unit = org_tree.NewUnit(
            parent_path=parent,
            slug=request.slug,
            kind=request.kind,
            display_name=request.display_name,
            display_name_en=request.display_name_en,
            compound_type=request.compound_type,
            exclusive_area_dm2=request.exclusive_area_dm2,
        )
        org_tree.validate(unit)
        # A new unit must lie inside the caller's scope (a street officer adds to their street).
        require_scope(unit.path)

        async def body(session: Any) -> org_pb2.CreateOrgUnitResponse:
            return org_pb2.CreateOrgUnitResponse(
                org_unit=await org_tree.create(session, self.app, unit, when=self.now())
            )

        return await self.write("CreateOrgUnit", request, org_pb2.CreateOrgUnitResponse, body)

    async def GetOrgUnit(self, request: org_pb2.GetOrgUnitRequest, context: Any) -> org_pb2.GetOrgUnitResponse:
        path = require_scope(require_path(request.path, "path"))

        async def body(session: Any) -> org_pb2.GetOrgUnitResponse:
            return org_pb2.GetOrgUnitResponse(org_unit=await org_tree.get(session, path))

        return await self.read(body)

    async def ListOrgUnits(self, request: org_pb2.ListOrgUnitsRequest, context: Any) -> org_pb2.ListOrgUnitsResponse:
        path = require_scope(require_path(request.parent_path, "parent_path"))
        limit = page_size(request.page_size)
        after = decode_token(request.page_token)

        async def body(session: Any) -> org_pb2.ListOrgUnitsResponse:
            await org_tree.get(session, path)
            units = await org_tree.children(session, path, after=after, limit=limit + 1)
            token = encode_token(units[limit - 1].path) if len(units) > limit else ""
            return org_pb2.ListOrgUnitsResponse(org_units=units[:limit], next_page_token=token)

        return await self.read(body)


class RolloutServicer(Api, rollout_pb2_grpc.RolloutServiceServicer):
    async def GetRollout(self, request: rollout_pb2.GetRolloutRequest, context: Any) -> rollout_pb2.GetRolloutResponse:
        path = require_scope(require_path(request.compound_path, "compound_path"))

        async def body(session: Any) -> rollout_pb2.GetRolloutResponse:
            return rollout_pb2.GetRolloutResponse(rollout=await rollout.get(session, path))

        return await self.read(body)

    async def AdvanceRollout(
        self, request: rollout_pb2.AdvanceRolloutRequest, context: Any
    ) -> rollout_pb2.AdvanceRolloutResponse:
        require_role(*ROLLOUT_ROLES)
        path = require_scope(require_path(request.compound_path, "compound_path"))
        if request.stage in (rollout_pb2.ROLLOUT_STAGE_UNSPECIFIED, rollout_pb2.ROLLOUT_STAGE_NOT_STARTED):
            raise InvalidArgument.field("stage", "must be SURVEYED, PILOT, IMPORTING, ADOPTED or EXITED")
        if request.date and not _is_date(request.date):
            raise InvalidArgument.field("date", "must be YYYY-MM-DD")
        note = optional_text(request.note, "note")
        group = [optional_text(m, "working_group", max_len=100) for m in request.working_group]

        async def body(session: Any) -> rollout_pb2.AdvanceRolloutResponse:
            updated = await rollout.advance(
                session,
                path,
                request.stage,
                date=request.date or local_date(self.now()),
                note=note,
                working_group=[m for m in group if m],
                when=self.now(),
            )
            return rollout_pb2.AdvanceRolloutResponse(rollout=updated)

        return await self.write("AdvanceRollout", request, rollout_pb2.AdvanceRolloutResponse, body)

    async def UpdateRolloutChecklistItem(
        self, request: rollout_pb2.UpdateRolloutChecklistItemRequest, context: Any
    ) -> rollout_pb2.UpdateRolloutChecklistItemResponse:
        require_role(*ROLLOUT_ROLES)
        path = require_scope(require_path(request.compound_path, "compound_path"))
        if not request.key:
            raise InvalidArgument.field("key", "is required")

        async def body(session: Any) -> rollout_pb2.UpdateRolloutChecklistItemResponse:
            updated = await rollout.set_checklist_item(session, path, request.key, request.done, when=self.now())
            return rollout_pb2.UpdateRolloutChecklistItemResponse(rollout=updated)

        return await self.write(
            "UpdateRolloutChecklistItem", request, rollout_pb2.UpdateRolloutChecklistItemResponse, body
        )

    async def SummarizeRollout(
        self, request: rollout_pb2.SummarizeRolloutRequest, context: Any
    ) -> rollout_pb2.SummarizeRolloutResponse:
        path = require_scope(require_path(request.path, "path"))

        async def body(session: Any) -> rollout_pb2.SummarizeRolloutResponse:
            await org_tree.get(session, path)
            return await rollout.summarize(session, path)

        return await self.read(body)


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10
