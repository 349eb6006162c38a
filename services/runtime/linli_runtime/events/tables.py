"""The runtime's own tables, present in every service's database (created by the runtime's
migrations, see linli_runtime/migrations)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# BigInteger on PostgreSQL, but INTEGER on SQLite so the column is the rowid alias (autoincrement).
Seq = BigInteger().with_variant(Integer(), "sqlite")

# Events written in a business transaction, waiting for (or done with) the relay.
outbox = Table(
    "linli_outbox",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("subject", String(255), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # A relay that picked the row holds it until then; another relay (replica) may take it after.
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("sent_at", DateTime(timezone=True), nullable=True),
)
Index("ix_linli_outbox_unsent", outbox.c.sent_at, outbox.c.seq)

# Event ids each consumer has applied: the handler's changes and this row commit together,
# so a redelivered event (even long after JetStream's duplicate window) is applied once.
inbox = Table(
    "linli_inbox",
    metadata,
    Column("consumer", String(128), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

# Messages a consumer gave up on: undecodable, refused by the handler as poison, or failing
# past max_deliver. Kept whole so an operator can inspect and replay them.
dead_letter = Table(
    "linli_dead_letter",
    metadata,
    Column("id", Seq, primary_key=True, autoincrement=True),
    Column("consumer", String(128), nullable=False),
    Column("stream", String(64), nullable=False),
    Column("stream_seq", BigInteger, nullable=False),
    Column("event_id", String(64), nullable=True),
    Column("subject", String(255), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("error", Text, nullable=False),
    Column("deliveries", Integer, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("consumer", "stream", "stream_seq", name="uq_linli_dead_letter_msg"),
)

# Answers to retryable mutations by request id (AIP-155), see linli_runtime.idempotency.
request_ids = Table(
    "linli_request_ids",
    metadata,
    Column("caller", String(128), primary_key=True),
    Column("method", String(128), primary_key=True),
    Column("request_id", String(128), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("response", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
