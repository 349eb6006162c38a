from __future__ import annotations

from typing import Any

from linli.governance.v1 import org_pb2, org_pb2_grpc, rollout_pb2, rollout_pb2_grpc
from linli_governance import org_tree, rollout
from linli_governance.api import convert
from linli_governance.api.base import Api
from linli_governance.periods import local_date
from linli_runtime import fields, names, paging, times
from linli_runtime.auth import OPERATORS, STAFF, Role, allows, authorize
from linli_runtime.errors import InvalidArgument

# What UpdateOrgUnit may change: a unit's names. Path, parent and kind are its identity.
RENAMEABLE = frozenset({"display_name", "display_name_en"})


class OrgServicer(Api, org_pb2_grpc.OrgServiceServicer):
    async def CreateOrgUnit(self, request: org_pb2.CreateOrgUnitRequest, context: Any) -> org_pb2.CreateOrgUnitResponse:
        parent = names.org_path("parent_path", request.parent_path) if request.parent_path.strip() else ""
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
        # Operators add units where they may act (a street officer to their street).
        authorize(*OPERATORS, path=unit.path)
        return await self.write(
            request,
            org_pb2.CreateOrgUnitResponse,
            lambda session: org_tree.create(session, self.make_event, unit, when=self.now()),
            lambda created: org_pb2.CreateOrgUnitResponse(org_unit=convert.org_unit(created)),
        )

    @allows(Role.PORTAL)
    async def GetOrgUnit(self, request: org_pb2.GetOrgUnitRequest, context: Any) -> org_pb2.GetOrgUnitResponse:
        path = self.scoped_path("path", request.path)
        return org_pb2.GetOrgUnitResponse(org_unit=convert.org_unit(await org_tree.get(self.db, path)))

    @allows(Role.PORTAL)
    async def ListOrgUnits(self, request: org_pb2.ListOrgUnitsRequest, context: Any) -> org_pb2.ListOrgUnitsResponse:
        path = self.scoped_path("parent_path", request.parent_path)
        if request.down_to_kind:
            rows, token = await org_tree.list_subtree(
                self.db, path, request.down_to_kind, page_token=request.page_token,
                size=paging.page_size(request.page_size, default=org_tree.SUBTREE_PAGE_MAX,
                                      maximum=org_tree.SUBTREE_PAGE_MAX))
            return org_pb2.ListOrgUnitsResponse(org_units=[convert.org_unit(u) for u in rows],
                                                next_page_token=token)
        units, token = await org_tree.list_children(
            self.db, path, page_token=request.page_token, size=paging.page_size(request.page_size)
        )
        return org_pb2.ListOrgUnitsResponse(org_units=[convert.org_unit(u) for u in units], next_page_token=token)

    async def UpdateOrgUnit(self, request: org_pb2.UpdateOrgUnitRequest, context: Any) -> org_pb2.UpdateOrgUnitResponse:
        path = self.managed_path("org_unit.path", request.org_unit.path)
        paths = set(request.update_mask.paths)
        if not paths or paths - RENAMEABLE:
            raise InvalidArgument.field("update_mask", "name display_name and/or display_name_en (path, parent and "
                                                       "kind never change; use CloseOrgUnit to close a unit)")
        change = org_tree.Rename(
            display_name=request.org_unit.display_name if "display_name" in paths else None,
            display_name_en=request.org_unit.display_name_en if "display_name_en" in paths else None,
        )
        org_tree.validate_rename(change)
        return await self.write(
            request,
            org_pb2.UpdateOrgUnitResponse,
            lambda session: org_tree.rename(session, self.make_event, path, change, when=self.now()),
            lambda unit: org_pb2.UpdateOrgUnitResponse(org_unit=convert.org_unit(unit)),
        )

    async def CloseOrgUnit(self, request: org_pb2.CloseOrgUnitRequest, context: Any) -> org_pb2.CloseOrgUnitResponse:
        path = self.managed_path("path", request.path)
        reason = fields.text("reason", request.reason, 500, required=True)
        return await self.write(
            request,
            org_pb2.CloseOrgUnitResponse,
            lambda session: org_tree.close(session, self.make_event, path, reason, when=self.now()),
            lambda unit: org_pb2.CloseOrgUnitResponse(org_unit=convert.org_unit(unit)),
        )

    async def ReopenOrgUnit(
        self, request: org_pb2.ReopenOrgUnitRequest, context: Any
    ) -> org_pb2.ReopenOrgUnitResponse:
        path = self.managed_path("path", request.path)
        reason = fields.text("reason", request.reason, 500, required=True)
        return await self.write(
            request,
            org_pb2.ReopenOrgUnitResponse,
            lambda session: org_tree.reopen(session, self.make_event, path, reason, when=self.now()),
            lambda unit: org_pb2.ReopenOrgUnitResponse(org_unit=convert.org_unit(unit)),
        )

    @staticmethod
    def managed_path(field: str, path: str) -> str:
        """A unit is renamed, closed and reopened from above: the caller's scope must cover its
        parent (a community worker cannot close her own community; a city needs the whole
        platform's scope)."""
        normalized = names.org_path(field, path)
        authorize(*OPERATORS, path=normalized.rsplit("/", 1)[0] if "/" in normalized else "")
        return normalized


class RolloutServicer(Api, rollout_pb2_grpc.RolloutServiceServicer):
    async def GetRollout(self, request: rollout_pb2.GetRolloutRequest, context: Any) -> rollout_pb2.GetRolloutResponse:
        path = self.scoped_path("compound_path", request.compound_path)
        return rollout_pb2.GetRolloutResponse(rollout=convert.rollout_view(await rollout.get(self.db, path)))

    async def AdvanceRollout(
        self, request: rollout_pb2.AdvanceRolloutRequest, context: Any
    ) -> rollout_pb2.AdvanceRolloutResponse:
        path = self.scoped_path("compound_path", request.compound_path, *STAFF)
        if request.stage in (rollout_pb2.ROLLOUT_STAGE_UNSPECIFIED, rollout_pb2.ROLLOUT_STAGE_NOT_STARTED):
            raise InvalidArgument.field("stage", "must be SURVEYED, PILOT, IMPORTING, ADOPTED or EXITED")
        if request.date:
            times.parse_date("date", request.date)
        note = fields.text("note", request.note, 2000)
        group = [fields.text("working_group", m, 100) for m in request.working_group]
        return await self.write(
            request,
            rollout_pb2.AdvanceRolloutResponse,
            lambda session: rollout.advance(
                session,
                path,
                request.stage,
                date=request.date or local_date(self.now()),
                note=note,
                working_group=[m for m in group if m],
                when=self.now(),
            ),
            lambda updated: rollout_pb2.AdvanceRolloutResponse(rollout=convert.rollout_view(updated)),
        )

    async def UpdateRolloutChecklistItem(
        self, request: rollout_pb2.UpdateRolloutChecklistItemRequest, context: Any
    ) -> rollout_pb2.UpdateRolloutChecklistItemResponse:
        path = self.scoped_path("compound_path", request.compound_path, *STAFF)
        if not request.key:
            raise InvalidArgument.field("key", "is required")
        return await self.write(
            request,
            rollout_pb2.UpdateRolloutChecklistItemResponse,
            lambda session: rollout.set_checklist_item(session, path, request.key, request.done, when=self.now()),
            lambda updated: rollout_pb2.UpdateRolloutChecklistItemResponse(rollout=convert.rollout_view(updated)),
        )

    async def SummarizeRollout(
        self, request: rollout_pb2.SummarizeRolloutRequest, context: Any
    ) -> rollout_pb2.SummarizeRolloutResponse:
        path = self.scoped_path("path", request.path)
        return convert.rollout_summary(await rollout.summarize(self.db, path))
