"""One gRPC channel per service, shared by every page. Public pages call with the portal's own
token (the channel default): its client credentials at the issuer (`svc-portal`), whose one
role, `portal`, the services accept only on the public reads those pages show. Operator pages
pass the operator's token on each call, so the services themselves decide what that operator
may see. Channels speak TLS when the portal trusts the platform's CA (LINLI_GRPC_TLS_CA), and
present the portal's certificate when the services ask for one (mTLS)."""

from __future__ import annotations

from typing import Any

import grpc

from linli.governance.v1 import (
    account_pb2_grpc,
    disclosure_pb2_grpc,
    org_pb2,
    org_pb2_grpc,
    rollout_pb2_grpc,
    vote_pb2_grpc,
)
from linli.identity.v1 import identity_pb2_grpc
from linli.notification.v1 import notification_pb2_grpc
from linli.points.v1 import (
    activities_pb2_grpc,
    awards_pb2_grpc,
    ledger_pb2_grpc,
    pairings_pb2_grpc,
    volunteers_pb2_grpc,
)
from linli.redemption.v1 import admin_pb2_grpc
from linli_runtime.clients import TokenSource, make_channel
from linli_runtime.grpc_tls import PLAINTEXT, GrpcTls
from linli_runtime.tracing import NO_TRACING, Tracing


class Backends:
    def __init__(self, addresses: dict[str, str], service_token: TokenSource,
                 tracing: Tracing = NO_TRACING, tls: GrpcTls = PLAINTEXT) -> None:
        self.channels: dict[str, grpc.aio.Channel] = {
            key: make_channel(address, token=service_token, tracing=tracing, tls=tls)
            for key, address in addresses.items()
        }
        gov, points = self.channels["governance"], self.channels["points"]
        self.org = org_pb2_grpc.OrgServiceStub(gov)
        self.rollout = rollout_pb2_grpc.RolloutServiceStub(gov)
        self.accounts = account_pb2_grpc.TrustAccountServiceStub(gov)
        self.disclosures = disclosure_pb2_grpc.DisclosureServiceStub(gov)
        self.volunteers = volunteers_pb2_grpc.VolunteerServiceStub(points)
        self.awards = awards_pb2_grpc.AwardServiceStub(points)
        self.partners = admin_pb2_grpc.PartnerServiceStub(self.channels["redemption"])
        self.settlements = admin_pb2_grpc.SettlementServiceStub(self.channels["redemption"])
        self.help_requests = notification_pb2_grpc.HelpRequestServiceStub(self.channels["notification"])
        self.roster = notification_pb2_grpc.DutyRosterServiceStub(self.channels["notification"])
        # Residents' pages (residents.py), called with the resident's own token.
        self.votes = vote_pb2_grpc.VoteServiceStub(gov)
        self.inbox = notification_pb2_grpc.InboxServiceStub(self.channels["notification"])
        # Check-in and visits (checkin_routes.py, visit_routes.py), with the person's own token.
        self.activities = activities_pb2_grpc.ActivityServiceStub(points)
        self.pairings = pairings_pb2_grpc.PairingServiceStub(points)
        # Volunteers' pages (volunteer.py), called with the volunteer's own token.
        self.ledger = ledger_pb2_grpc.LedgerServiceStub(points)
        self.catalog = admin_pb2_grpc.CatalogServiceStub(self.channels["redemption"])
        self.member_cards = admin_pb2_grpc.MemberCardServiceStub(self.channels["redemption"])
        self.redemptions = admin_pb2_grpc.RedemptionAdminServiceStub(self.channels["redemption"])
        if "identity" in self.channels:
            self.grants = identity_pb2_grpc.GrantServiceStub(self.channels["identity"])
            self.household_claims = identity_pb2_grpc.HouseholdClaimServiceStub(self.channels["identity"])

    # A place named by a household or a claim may be gone, misspelt or out of the caller's
    # reach: the pages show it as unknown rather than failing.
    _NO_UNIT = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED)

    async def org_unit(self, path: str) -> org_pb2.OrgUnit | None:
        """The org unit at `path`, or None where there is none the portal may show."""
        try:
            found: org_pb2.OrgUnit = (await self.org.GetOrgUnit(org_pb2.GetOrgUnitRequest(path=path))).org_unit
            return found
        except grpc.aio.AioRpcError as exc:
            if exc.code() in self._NO_UNIT:
                return None
            raise

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()


def as_operator(token: str) -> dict[str, Any]:
    """Call options that make a call on the operator's behalf instead of the portal's."""
    return {"metadata": (("authorization", f"Bearer {token}"),)}
