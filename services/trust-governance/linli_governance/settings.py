"""trust-governance's settings: the runtime's (`PORT`, `DATABASE_URL`, `NATS_URL`, `LINLI_*`);
the service has none of its own yet."""

from __future__ import annotations

from linli_runtime.settings import ServiceSettings


class GovernanceSettings(ServiceSettings):
    service_name: str = "trust-governance"
