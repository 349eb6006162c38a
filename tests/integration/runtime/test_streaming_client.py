"""A channel from `make_channel` sends its bearer token, request id and default deadline on
server-streaming calls as on unary ones (a real gRPC server on loopback echoes what it got).
grpc.aio files an interceptor under the first kind of call it implements only; one object for
both kinds left streaming calls without a token (StreamImportRoster refused the CLI)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from linli_runtime.clients import make_channel


async def echo_stream(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    metadata = dict(context.invocation_metadata())
    yield metadata.get("authorization", "").encode()
    yield b"request id" if metadata.get("x-request-id") else b"none"
    yield b"deadline" if context.time_remaining() is not None else b"none"


async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return dict(context.invocation_metadata()).get("authorization", "").encode()


async def test_streaming_and_unary_calls_both_carry_the_token_request_id_and_deadline() -> None:
    server = grpc.aio.server()
    identity = {"request_deserializer": bytes, "response_serializer": bytes}
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("probe.Echo", {
        "Stream": grpc.unary_stream_rpc_method_handler(echo_stream, **identity),  # type: ignore[arg-type]
        "Unary": grpc.unary_unary_rpc_method_handler(echo, **identity),  # type: ignore[arg-type]
    })])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = make_channel(f"127.0.0.1:{port}", token="the-token", default_timeout=30)
    try:
        stream = channel.unary_stream("/probe.Echo/Stream", request_serializer=bytes, response_deserializer=bytes)
        assert [m async for m in stream(b"")] == [b"Bearer the-token", b"request id", b"deadline"]
        unary = channel.unary_unary("/probe.Echo/Unary", request_serializer=bytes, response_deserializer=bytes)
        assert await unary(b"") == b"Bearer the-token"
    finally:
        await channel.close()
        await server.stop(None)
