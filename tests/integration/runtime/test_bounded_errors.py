"""Error statuses never grow with the caller's input (issue 16, defect 5): a 5,000-character
field once made the trailers exceed the client's 8 KiB metadata limit, so the caller saw
RESOURCE_EXHAUSTED ("received metadata size exceeds soft limit") instead of the error. The
interceptor bounds every message, ErrorInfo metadata value and BadRequest description."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from linli_identity.testing import TestIssuer

from linli.devtools.v1 import echo_pb2, echo_pb2_grpc
from linli_runtime.clients import make_channel
from linli_runtime.errors import FieldViolation, InvalidArgument
from linli_runtime.processes import NatsServer
from linli_runtime.server import ServiceApp
from linli_runtime.settings import ServiceSettings
from linli_runtime.testing.echo import FULL_NAME, EchoServicer

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
LONG = 5000
# What a caller may rely on: a message a person reads at a glance, details far below 8 KiB.
MAX_MESSAGE_CHARS = 1000
MAX_DETAILS_BYTES = 4096


class ShoutingServicer(EchoServicer):
    """Echo, except that `message` starting with "shout:" fails with an error that repeats
    the caller's text everywhere an error can carry it, a thousand times over."""

    async def Echo(self, request: echo_pb2.EchoRequest, context: Any) -> echo_pb2.EchoResponse:
        if request.message.startswith("shout:"):
            text = request.message
            raise InvalidArgument(
                f"nothing good about {text}",
                reason="SHOUTED_" + text.upper().replace(":", "_"),
                metadata={f"key-{i}-{text}": text for i in range(50)},
                violations=[FieldViolation(f"message[{i}]{text}", text) for i in range(1000)],
            )
        return await super().Echo(request, context)


@pytest.fixture
async def app(tmp_path: Path, nats_server: NatsServer, issuer: TestIssuer) -> AsyncIterator[ServiceApp]:
    settings = ServiceSettings(port=0, database_url=f"sqlite+aiosqlite:///{tmp_path / 'echo.db'}",
                               nats_url=nats_server.url)
    app = issuer.trust(ServiceApp("echo", settings))
    app.add_service(echo_pb2_grpc.add_EchoServiceServicer_to_server, ShoutingServicer(), FULL_NAME)
    await app.start()
    yield app
    await app.stop(grace=1)


@pytest.fixture
async def stub(app: ServiceApp) -> AsyncIterator[echo_pb2_grpc.EchoServiceStub]:
    async with make_channel(f"127.0.0.1:{app.port}") as channel:
        yield echo_pb2_grpc.EchoServiceStub(channel)


def bearer(issuer: TestIssuer) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {issuer.issue('worker-li', role='community_worker', scope=FENGSHU)}"),)


async def refused(stub: echo_pb2_grpc.EchoServiceStub, issuer: TestIssuer,
                  request: echo_pb2.EchoRequest) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Echo(request, metadata=bearer(issuer), timeout=10)
    return caught.value


def assert_bounded(error: grpc.aio.AioRpcError) -> tuple[error_details_pb2.ErrorInfo, list[tuple[str, str]]]:
    """The message is readable and short, the packed details small, every string in them short."""
    message = error.details() or ""
    assert 0 < len(message) <= MAX_MESSAGE_CHARS + 1, len(message)
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "the rich status still comes back"
    assert len(status.SerializeToString()) <= MAX_DETAILS_BYTES
    info = error_details_pb2.ErrorInfo()
    violations: list[tuple[str, str]] = []
    for detail in status.details:
        if detail.Unpack(info):
            continue
        bad = error_details_pb2.BadRequest()
        assert detail.Unpack(bad)
        violations += [(v.field, v.description) for v in bad.field_violations]
    assert info.reason and len(info.reason) <= 63
    for key, value in [*info.metadata.items(), *violations]:
        assert len(key) <= 200 and len(value) <= 300, (len(key), len(value))
    return info, violations


async def test_a_5000_character_field_is_invalid_argument_with_a_bounded_message(
    stub: echo_pb2_grpc.EchoServiceStub, issuer: TestIssuer
) -> None:
    error = await refused(stub, issuer, echo_pb2.EchoRequest(message="hi", org_path="!" * LONG))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    _info, violations = assert_bounded(error)
    assert (error.details() or "").startswith("org_path: segment '!!!")
    assert "…" in (error.details() or ""), "a cut value says it was cut"
    assert [field for field, _ in violations] == ["org_path"]


async def test_a_5000_character_path_outside_the_scope_is_permission_denied_with_bounded_details(
    stub: echo_pb2_grpc.EchoServiceStub, issuer: TestIssuer
) -> None:
    error = await refused(stub, issuer, echo_pb2.EchoRequest(message="hi", org_path="a" * LONG))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error.details()
    info, _ = assert_bounded(error)
    assert info.reason == "OUT_OF_SCOPE"
    assert info.metadata["scope"] == FENGSHU, "short values are kept whole"
    assert info.metadata["path"].startswith("aaa") and info.metadata["path"].endswith("…")


async def test_an_error_echoing_input_everywhere_stays_within_the_metadata_limit(
    stub: echo_pb2_grpc.EchoServiceStub, issuer: TestIssuer
) -> None:
    error = await refused(stub, issuer, echo_pb2.EchoRequest(message="shout:" + "x" * LONG))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    info, violations = assert_bounded(error)
    assert info.reason.startswith("SHOUTED_")
    assert violations and len(violations) < 1000, "a long list of violations is cut, and says so"
    assert "more" in violations[-1][1]
