"""The runtime's own tables, present in every service's database (created by the runtime's
migrations, see linli_runtime/migrations), each declared once as a SQLModel model on the
runtime's own registry (its MetaData holds these four tables and nothing else).

The hot paths (the outbox relay, the consumers' inbox, request ids) build Core statements from
`OUTBOX`, `INBOX`, `DEAD_LETTERS` and `REQUEST_IDS` and read rows back as the models — except
the relay, which reads only the four columns it publishes as plain rows (building a model per
event cost it a quarter of its time).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from linli_runtime.models import table


class RuntimeTable(SQLModel, registry=registry()):
    """Base of the runtime's tables: their own MetaData, apart from every service's."""


# An empty-string server default written so that SQLite reflects it as it was declared ('').
EMPTY = sa.text("''")

# BigInteger on PostgreSQL, but INTEGER on SQLite so the column is the rowid alias (autoincrement).
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class OutboxEvent(RuntimeTable, table=True):
    """An event written in a business transaction, waiting for (or done with) the relay."""

    __tablename__ = "linli_outbox"
    # The relay looks for unsent rows in order. On PostgreSQL it deletes a row once JetStream has
    # it, so pages are full again (rt0005 dropped rt0004's fillfactor 50, room for a lease the relay
    # no longer writes) and the primary key reads the unsent rows in order: the unsent index is
    # SQLite's alone (rt0006), where sent rows are kept.
    __table_args__ = (sa.Index("ix_linli_outbox_unsent", "sent_at", "seq").ddl_if(dialect="sqlite"),)

    # Numbered by the database: rows are written with Core (`publish_in`), never built to be added.
    seq: int = Field(sa_column=sa.Column(Seq, primary_key=True, autoincrement=True))
    event_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    subject: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    data: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    # Written by earlier relays (a lease); unused since the relay holds the rows it publishes in a
    # transaction on PostgreSQL (and SQLite serves one relay). `attempts` likewise.
    claimed_until: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    attempts: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, default=0,
                                                         server_default="0"))
    # SQLite: when the relay marked the row sent (kept for a backup's restore to re-send). On
    # PostgreSQL a sent row is deleted; only rows sent before rt0005 carry it, until pruned.
    sent_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))


class InboxEntry(RuntimeTable, table=True):
    """An event id a consumer has applied: the handler's changes and this row commit together,
    so a redelivered event (even long after JetStream's duplicate window) is applied once."""

    __tablename__ = "linli_inbox"

    consumer: str = Field(sa_column=sa.Column(sa.String(128), primary_key=True))
    event_id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    applied_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class DeadLetter(RuntimeTable, table=True):
    """A message a consumer gave up on: undecodable, refused by the handler as poison, or failing
    past max_deliver. Kept whole so an operator can inspect and replay it."""

    __tablename__ = "linli_dead_letter"
    # A message redelivered after its dead letter was recorded is recorded once.
    __table_args__ = (sa.UniqueConstraint("consumer", "stream", "stream_seq", name="uq_linli_dead_letter_msg"),)

    id: int = Field(sa_column=sa.Column(Seq, primary_key=True, autoincrement=True))  # numbered by the database
    consumer: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))
    stream: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    stream_seq: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    event_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    subject: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    data: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    error: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    deliveries: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    recorded_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    # The event's org scope ("" when it did not decode): a city operator sees their city's only.
    org_scope: str = Field(default="", sa_column=sa.Column(sa.String(255), nullable=False, server_default=EMPTY))
    # What an operator did with it (linli_runtime.dead_letters): pending → replayed | discarded,
    # once, with who, when and why (rt0003).
    state: str = Field(default="pending", sa_column=sa.Column(sa.String(16), nullable=False,
                                                              server_default="pending"))
    resolved_by: str = Field(default="", sa_column=sa.Column(sa.String(128), nullable=False, server_default=EMPTY))
    resolved_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    resolution_reason: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=EMPTY))
    replay_outcome: str = Field(default="", sa_column=sa.Column(sa.String(32), nullable=False, server_default=EMPTY))


class AnsweredRequest(RuntimeTable, table=True):
    """The answer to a retryable mutation, by request id (AIP-155; see linli_runtime.idempotency)."""

    __tablename__ = "linli_request_ids"

    caller: str = Field(sa_column=sa.Column(sa.String(128), primary_key=True))
    method: str = Field(sa_column=sa.Column(sa.String(128), primary_key=True))
    request_id: str = Field(sa_column=sa.Column(sa.String(128), primary_key=True))
    # What the request asked for, without its request id: the same id for another request is refused.
    fingerprint: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    response: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


metadata = RuntimeTable.metadata

OUTBOX = table(OutboxEvent)
INBOX = table(InboxEntry)
DEAD_LETTERS = table(DeadLetter)
REQUEST_IDS = table(AnsweredRequest)
