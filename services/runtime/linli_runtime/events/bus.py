"""The NATS connection a service shares between its relay and its consumers.

A service must start and serve while NATS is down (events wait in the outbox), so the
connection is made in the background and retried until it succeeds; after that, nats-py
reconnects by itself.

It connects as the service's own NATS user (`LINLI_NATS_USER`/`LINLI_NATS_PASSWORD`, limited
to its own subjects: linli_runtime.nats_access) and over TLS when given a context
(`LINLI_NATS_TLS_CA`: `from_settings`).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Iterable
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext

from linli_runtime.events.headers import parse_header_lines
from linli_runtime.events.streams import DAY, StreamLimits, StreamSpec, ensure_stream
from linli_runtime.settings import ServiceSettings
from linli_runtime.tls import client_context

log = logging.getLogger("linli.events.bus")


class EventBus:
    def __init__(
        self,
        url: str,
        *,
        name: str,
        streams: Iterable[StreamSpec] = (),
        replicas: int = 1,
        limits: StreamLimits | None = None,
        tls: ssl.SSLContext | None = None,
        user: str = "",
        password: str = "",
    ) -> None:
        self.servers = [u.strip() for u in url.split(",") if u.strip()]
        self.name = name
        self.streams = list(streams)
        self.replicas = replicas
        self.limits = limits or StreamLimits()
        self.tls = tls
        self.user = user
        self.password = password
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: ServiceSettings, *, name: str, streams: Iterable[StreamSpec] = ()) -> EventBus:
        return cls(settings.nats_url, name=name, streams=streams, replicas=settings.stream_replicas,
                   limits=StreamLimits(int(settings.stream_max_bytes), settings.stream_max_age_days * DAY),
                   **connect_options(settings))

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self._nc is not None and self._nc.is_connected

    async def wait_ready(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._ready.wait(), timeout)

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("the event bus is not connected yet")
        return self._js

    @property
    def nc(self) -> Client:
        if self._nc is None:
            raise RuntimeError("the event bus is not connected yet")
        return self._nc

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect_forever(), name=f"{self.name}-nats-connect")

    async def _connect_forever(self) -> None:
        # Not a PeriodicTask: it retries (with a growing delay) until connected once, then ends;
        # nats-py reconnects by itself after that.
        delay = 0.2
        while True:
            try:
                nc = await nats.connect(
                    servers=self.servers,
                    name=self.name,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    **self._auth(),
                )
            except Exception as exc:  # NoServersError, OSError, TimeoutError …
                log.warning("NATS unreachable, retrying", extra={"servers": self.servers, "error": str(exc),
                                                                  "retry_in_s": delay})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            # Its received headers parsed the same way for less CPU (events/headers.py).
            nc._parse_header_lines = parse_header_lines  # type: ignore[method-assign]
            self._nc = nc
            self._js = nc.jetstream(timeout=5)
            while True:
                try:
                    for spec in self.streams:
                        await ensure_stream(self._js, spec, self.replicas, self.limits)
                    break
                except Exception as exc:  # JetStream not ready yet (cluster electing a leader)
                    log.warning("could not ensure streams, retrying", extra={"error": str(exc)})
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
            log.info("NATS connected", extra={"servers": self.servers})
            self._ready.set()
            return

    def _auth(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.tls is not None:
            options["tls"] = self.tls
        if self.user:
            options.update(user=self.user, password=self.password)
        return options

    async def _on_error(self, exc: Exception) -> None:
        log.debug("NATS error", extra={"error": str(exc)})

    async def _on_disconnected(self) -> None:
        log.warning("NATS disconnected; events wait in the outbox")

    async def _on_reconnected(self) -> None:
        log.info("NATS reconnected")

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._nc is not None and not self._nc.is_closed:
            # Relay and consumers have stopped by now; flush what is buffered (acks) and close.
            # (drain() would also wait out pull subscriptions a crashed consumer left behind.)
            try:
                if self._nc.is_connected:
                    await self._nc.flush(timeout=2)
            except Exception as exc:
                log.warning("NATS flush on close failed", extra={"error": repr(exc)})
            await self._nc.close()
        self._ready.clear()


def connect_options(settings: ServiceSettings) -> dict[str, Any]:
    """TLS and credentials for `EventBus` (and any other NATS client of a service) from settings."""
    tls = client_context(settings.nats_tls_ca, settings.nats_tls_cert or None,
                         settings.nats_tls_key or None) if settings.nats_tls_ca else None
    return {"tls": tls, "user": settings.nats_user, "password": settings.nats_password}
