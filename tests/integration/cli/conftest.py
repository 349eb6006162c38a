"""The in-process CLI tests talk to plaintext test servers: pin that, so a `var/tls/ca.pem` left in
the working tree by `make run` (which the CLI trusts by default when run in the repository) never
turns their calls into TLS."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def plaintext_grpc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINLI_GRPC_TLS_CA", "")  # empty: plaintext (linli_runtime.grpc_tls.client_trust)
