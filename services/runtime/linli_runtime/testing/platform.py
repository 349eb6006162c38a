"""A running demo platform for end-to-end tests of the faces people use (CLI, web portal):
nats-server and every installed service as real processes on free ports, SQLite files, the
demo data set loaded. One per test session — starting it costs seconds, and tests against it
must create their own records (fresh request ids, new names) rather than assume a pristine
state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from linli_runtime.auth import Role, TokenSigner
from linli_runtime.platform import LocalPlatform
from linli_runtime.processes import free_port
from linli_runtime.settings import ServiceSettings


class DemoPlatform:
    """Addresses of a running platform, plus tokens signed with the key its services trust."""

    def __init__(self, platform: LocalPlatform) -> None:
        self.platform = platform
        self.var_dir = platform.var_dir
        settings = ServiceSettings()
        self.signer = TokenSigner(settings.jwt_secret, settings.jwt_issuer)

    def address(self, service: str) -> str:
        """Where `service` (e.g. "volunteer-points") listens."""
        for running in self.platform.services:
            if running.descriptor.name == service:
                return running.address
        raise KeyError(f"{service} is not running; running: {[s.descriptor.name for s in self.platform.services]}")

    @property
    def addresses(self) -> dict[str, str]:
        """`<SERVICE>_SERVICE_ADDR` → address, the environment a client of the platform needs."""
        return self.platform.addresses()

    def token(self, role: Role = Role.PLATFORM_ADMIN, scope: str = "", subject: str = "e2e-test") -> str:
        return self.signer.issue(subject, role=role, scope=scope)


@pytest.fixture(scope="session")
def demo_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoPlatform]:
    """Every installed service with demo data, started once per session and stopped at its end.
    Services use the signing key of the environment (the development key unless
    LINLI_JWT_SECRET is set), so `DemoPlatform.token()` and `linli token issue` both work."""
    var_dir: Path = tmp_path_factory.mktemp("demo-platform") / "var"
    # Free ports, not the defaults: a developer's `make run` or a parallel test session may hold them.
    platform = LocalPlatform(var_dir, nats_port=free_port(), demo_data=True, default_ports=False)
    try:
        platform.start()
        yield DemoPlatform(platform)
    finally:
        platform.stop()
