"""`python -m linli_runtime.healthcheck`: the container health probe of every Linli image
(Dockerfile HEALTHCHECK, compose). Exit 0 when the service in this container is ready: a
platform service's gRPC health says SERVING, an HTTP gateway's `GET /healthz` answers 200.
Which one is decided by the service's descriptor (found by LINLI_SERVICE_NAME or
LINLI_SERVICE_MODULE); a module the registry does not know is taken to be gRPC."""

from __future__ import annotations

import os
import sys
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from linli_runtime.registry import installed_services

TIMEOUT = 2.0


def protocol(name: str, module: str) -> str:
    for descriptor in installed_services():
        if descriptor.name == name or descriptor.module == module:
            return descriptor.protocol
    return "grpc"


def ready(address: str, protocol: str) -> bool:
    try:
        if protocol == "http":
            with urllib.request.urlopen(f"http://{address}/healthz", timeout=TIMEOUT) as reply:
                return bool(reply.status == 200)
        with grpc.insecure_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT)
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except (OSError, grpc.RpcError):
        return False


def main() -> int:
    address = f"127.0.0.1:{os.environ['PORT']}"
    kind = protocol(os.environ.get("LINLI_SERVICE_NAME", ""), os.environ.get("LINLI_SERVICE_MODULE", ""))
    return 0 if ready(address, kind) else 1


if __name__ == "__main__":
    sys.exit(main())
