"""The register of published chain heads: the newest seal of each compound's disclosure chain,
kept outside the service's database so that deleting (or replacing) the newest disclosure in the
database is caught by verification.

Every sealed disclosure is announced by `governance.disclosure.published` (written by the close's
transaction to the outbox, published to JetStream by the relay; the notification service tells
the compound's residents). A consumer of trust-governance's own event keeps the register: a
JetStream key-value bucket (`LINLI_DISCLOSURE_HEADS`, file storage, replicated like the streams,
no expiry), one key per compound, holding the head with the highest sequence seen — events
delivered again or out of order never move it back. Verification compares the database's chain
with that head (`disclosures.verify_chain`).

`HeadRegister` is the interface; `JetStreamHeadRegister` keeps it in NATS; tests may hold one in
memory (`MemoryHeadRegister`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from linli.events.v1 import governance_pb2 as events_pb2
from linli_runtime.events import Event
from linli_runtime.events.bus import EventBus

log = logging.getLogger("linli.governance.chain_heads")

BUCKET = "LINLI_DISCLOSURE_HEADS"


@dataclass(frozen=True)
class PublishedHead:
    """The newest published disclosure of a compound: its name, period, place and seal."""

    disclosure: str
    period: str
    sequence: int
    seal_hash: str


class HeadRegister(Protocol):
    async def latest(self, compound_path: str) -> PublishedHead | None:
        """The compound's newest published head; None when none was published (or the register
        cannot be reached: then verification says the head was not checked)."""

    async def publish(self, compound_path: str, head: PublishedHead) -> None:
        """Record `head` unless the register already holds one at least as far along."""


class MemoryHeadRegister:
    def __init__(self) -> None:
        self.heads: dict[str, PublishedHead] = {}

    async def latest(self, compound_path: str) -> PublishedHead | None:
        return self.heads.get(compound_path)

    async def publish(self, compound_path: str, head: PublishedHead) -> None:
        current = self.heads.get(compound_path)
        if current is None or head.sequence > current.sequence:
            self.heads[compound_path] = head


class JetStreamHeadRegister:
    """The register in a JetStream key-value bucket (created on first use)."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self._kv: Any = None

    async def _bucket(self) -> Any:
        if self._kv is None:
            from nats.js.errors import BucketNotFoundError

            js = self.bus.js
            try:
                self._kv = await js.key_value(BUCKET)
            except BucketNotFoundError:
                self._kv = await js.create_key_value(
                    bucket=BUCKET,
                    description="trust-governance: the newest published seal of each compound's disclosure chain",
                    history=16,
                    replicas=self.bus.replicas,
                )
        return self._kv

    async def latest(self, compound_path: str) -> PublishedHead | None:
        from nats.js.errors import KeyNotFoundError

        if not self.bus.ready:
            return None
        try:
            entry = await (await self._bucket()).get(compound_path)
        except KeyNotFoundError:
            return None
        except Exception as exc:  # an unreachable register leaves the head unchecked, not the call failed
            log.warning("chain head register unavailable", extra={"error": str(exc)})
            return None
        return PublishedHead(**json.loads(entry.value))

    async def publish(self, compound_path: str, head: PublishedHead) -> None:
        from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

        kv = await self._bucket()
        value = json.dumps(asdict(head)).encode()
        for _ in range(5):
            try:
                entry = await kv.get(compound_path)
            except KeyNotFoundError:
                try:
                    await kv.create(compound_path, value)
                    return
                except KeyWrongLastSequenceError:
                    continue  # another replica recorded one first: look again
            if PublishedHead(**json.loads(entry.value)).sequence >= head.sequence:
                return
            try:
                await kv.update(compound_path, value, last=entry.revision)
                return
            except KeyWrongLastSequenceError:
                continue
        raise RuntimeError(f"could not record the chain head of {compound_path}: the register kept changing")


class HeadKeeper:
    """The consumer that keeps the register from `governance.disclosure.published`."""

    def __init__(self, register: HeadRegister) -> None:
        self.register = register

    async def on_published(self, event: Event, session: AsyncSession) -> None:
        published = event.payload(events_pb2.DisclosurePublished)
        if published.sequence <= 0:
            return  # announced before disclosures carried their place in the chain
        await self.register.publish(
            published.compound_path,
            PublishedHead(published.disclosure, published.period, published.sequence, published.seal_hash),
        )
