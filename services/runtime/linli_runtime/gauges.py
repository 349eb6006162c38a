"""Gauges read from state rather than counted as things happen: how many dead letters each of a
service's consumers left (`linli_dead_letter_events`), and how full the service's JetStream
streams are (`linli_jetstream_stream_bytes` against `linli_jetstream_stream_max_bytes`). The
alerts in deploy/k8s/components/monitoring watch them.

A `PeriodicTask` refreshes them every `interval` seconds; reading them costs one grouped count on
an (almost always empty) table and one STREAM.INFO per stream. The outbox backlog gauges are the
relay's own (linli_runtime.events.outbox), since it reads that table anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import func, select

from linli_runtime.db import Database
from linli_runtime.events.bus import EventBus
from linli_runtime.events.tables import DEAD_LETTERS
from linli_runtime.metrics import DEAD_LETTERS as DEAD_LETTER_GAUGE
from linli_runtime.metrics import STREAM_BYTES, STREAM_MAX_BYTES, STREAM_MESSAGES
from linli_runtime.tasks import PeriodicTask

log = logging.getLogger("linli.gauges")


class RuntimeGauges:
    def __init__(self, service: str, db: Database, bus: EventBus, consumers: Sequence[str], *,
                 interval: float = 15.0) -> None:
        self.service = service
        self.db = db
        self.bus = bus
        self.consumers = list(consumers)
        self._task = PeriodicTask(f"{service}-gauges", self.refresh, interval=interval)

    def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    async def refresh(self) -> None:
        await self.refresh_dead_letters()
        await self.refresh_streams()

    async def refresh_dead_letters(self) -> None:
        counts = dict.fromkeys(self.consumers, 0)
        async with self.db.reading() as conn:
            rows = await conn.execute(select(DEAD_LETTERS.c.consumer, func.count()).group_by(DEAD_LETTERS.c.consumer))
            counts.update({str(consumer): int(n) for consumer, n in rows})
        for consumer, n in counts.items():
            DEAD_LETTER_GAUGE.labels(self.service, consumer).set(n)

    async def refresh_streams(self) -> None:
        if not self.bus.ready:
            return
        for spec in self.bus.streams:
            try:
                info = await self.bus.js.stream_info(spec.name)
            except Exception as exc:  # a stream not created yet, NATS between leaders: next round
                log.debug("no stream info", extra={"stream": spec.name, "error": repr(exc)})
                continue
            STREAM_BYTES.labels(spec.name).set(info.state.bytes)
            STREAM_MESSAGES.labels(spec.name).set(info.state.messages)
            STREAM_MAX_BYTES.labels(spec.name).set(info.config.max_bytes or 0)
