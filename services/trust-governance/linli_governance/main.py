"""Entry point: `python -m linli_governance.main` (settings from the environment)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from linli.governance.v1 import (
    account_pb2,
    account_pb2_grpc,
    bodies_pb2,
    bodies_pb2_grpc,
    disclosure_pb2,
    disclosure_pb2_grpc,
    org_pb2,
    org_pb2_grpc,
    project_pb2,
    project_pb2_grpc,
    rollout_pb2,
    rollout_pb2_grpc,
    vote_pb2,
    vote_pb2_grpc,
)
from linli_governance.api.account import TrustAccountServicer
from linli_governance.api.bodies import GovernanceBodyServicer, ProjectServicer
from linli_governance.api.disclosure import DisclosureServicer
from linli_governance.api.org import OrgServicer, RolloutServicer
from linli_governance.api.vote import VoteServicer
from linli_governance.demo_seed import seed_demo_data
from linli_runtime.clock import Clock
from linli_runtime.events.streams import GOVERNANCE
from linli_runtime.migrations import MigrationSet
from linli_runtime.server import ServiceApp
from linli_runtime.settings import ServiceSettings

NAME = "trust-governance"
MIGRATIONS = MigrationSet(Path(__file__).parent / "migrations")


def build_app(settings: ServiceSettings, *, clock: Clock | None = None) -> ServiceApp:
    app = ServiceApp(NAME, settings, migrations=[MIGRATIONS], streams=[GOVERNANCE], clock=clock)
    mounts: list[tuple[Any, Any, Any, str]] = [
        (org_pb2_grpc.add_OrgServiceServicer_to_server, OrgServicer(app), org_pb2, "OrgService"),
        (rollout_pb2_grpc.add_RolloutServiceServicer_to_server, RolloutServicer(app), rollout_pb2, "RolloutService"),
        (
            account_pb2_grpc.add_TrustAccountServiceServicer_to_server,
            TrustAccountServicer(app),
            account_pb2,
            "TrustAccountService",
        ),
        (vote_pb2_grpc.add_VoteServiceServicer_to_server, VoteServicer(app), vote_pb2, "VoteService"),
        (
            disclosure_pb2_grpc.add_DisclosureServiceServicer_to_server,
            DisclosureServicer(app),
            disclosure_pb2,
            "DisclosureService",
        ),
        (
            bodies_pb2_grpc.add_GovernanceBodyServiceServicer_to_server,
            GovernanceBodyServicer(app),
            bodies_pb2,
            "GovernanceBodyService",
        ),
        (project_pb2_grpc.add_ProjectServiceServicer_to_server, ProjectServicer(app), project_pb2, "ProjectService"),
    ]
    for register, servicer, module, service in mounts:
        app.add_service(register, servicer, module.DESCRIPTOR.services_by_name[service].full_name)
    if settings.demo_data:
        app.on_start(seed_demo_data)
    return app


def main() -> None:
    build_app(ServiceSettings(service_name=NAME)).main()


if __name__ == "__main__":
    main()
