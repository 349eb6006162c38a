"""`python -m linli_runtime.healthcheck`: the container health probe of every Linli image
(Dockerfile HEALTHCHECK, compose). Exit 0 when the service in this container is ready: a
platform service's gRPC health says SERVING, an HTTP gateway's `GET /healthz` answers 200.
Which one is decided by the service's descriptor (found by LINLI_SERVICE_NAME or
LINLI_SERVICE_MODULE); a module the registry does not know is taken to be gRPC.

A gRPC service is asked on its plaintext health port (LINLI_HEALTH_PORT) when it has one, else
on its own port over TLS as the service itself would call (LINLI_GRPC_TLS_*: its CA, and its
certificate when mTLS asks for one) — the certificate must name 127.0.0.1 or localhost."""

from __future__ import annotations

import os
import sys
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from linli_runtime.grpc_tls import PLAINTEXT, GrpcTls
from linli_runtime.registry import installed_services

TIMEOUT = 2.0


def protocol(name: str, module: str) -> str:
    for descriptor in installed_services():
        if descriptor.name == name or descriptor.module == module:
            return descriptor.protocol
    return "grpc"


def ready(address: str, protocol: str, tls: GrpcTls = PLAINTEXT) -> bool:
    try:
        if protocol == "http":
            with urllib.request.urlopen(f"http://{address}/healthz", timeout=TIMEOUT) as reply:
                return bool(reply.status == 200)
        with tls.sync_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT)
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except (OSError, grpc.RpcError):
        return False


def probe_target() -> tuple[str, GrpcTls]:
    """Where this container's gRPC service answers a probe, and over what (see the docstring)."""
    health_port = os.environ.get("LINLI_HEALTH_PORT", "")
    if health_port and health_port != "0":
        return f"127.0.0.1:{health_port}", PLAINTEXT
    tls = GrpcTls(os.environ.get("LINLI_GRPC_TLS_CA", ""), os.environ.get("LINLI_GRPC_TLS_CERT", ""),
                  os.environ.get("LINLI_GRPC_TLS_KEY", ""))
    return f"127.0.0.1:{os.environ['PORT']}", tls


def main() -> int:
    kind = protocol(os.environ.get("LINLI_SERVICE_NAME", ""), os.environ.get("LINLI_SERVICE_MODULE", ""))
    if kind == "http":
        return 0 if ready(f"127.0.0.1:{os.environ['PORT']}", kind) else 1
    address, tls = probe_target()
    return 0 if ready(address, kind, tls) else 1


if __name__ == "__main__":
    sys.exit(main())
