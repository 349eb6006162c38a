"""linli_runtime.models.loaded: what the hot paths (the outbox relay, request ids) use to read back
whole rows of their own tables as models, without validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from linli_runtime.events.tables import AnsweredRequest, OutboxEvent
from linli_runtime.models import loaded, loaded_all, typed

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
OUTBOX_ROW = {"seq": 7, "event_id": "e-1", "subject": "points.visit.logged", "data": b"\x01", "created_at": NOW,
              "claimed_until": None, "attempts": 0, "sent_at": None}


def test_an_unvalidated_row_is_a_full_model_instance() -> None:
    [row] = loaded_all(OutboxEvent, [OUTBOX_ROW])
    assert isinstance(row, OutboxEvent)
    assert (row.seq, row.event_id, row.data, row.created_at, row.sent_at) == (7, "e-1", b"\x01", NOW, None)
    assert row.model_dump() == typed(OutboxEvent, OUTBOX_ROW).model_dump()
    assert sa.inspect(row).transient  # a mapped instance, like one the ORM loads, in no session
    row.attempts = 2
    assert row.attempts == 2


def test_a_row_lacking_a_required_field_is_refused_and_one_lacking_a_default_gets_it() -> None:
    partial = {k: v for k, v in OUTBOX_ROW.items() if k != "created_at"}
    with pytest.raises(ValueError, match="created_at"):
        loaded(OutboxEvent, partial)
    assert loaded(OutboxEvent, {k: v for k, v in OUTBOX_ROW.items() if k != "attempts"}).attempts == 0


def test_a_model_whose_mapper_was_never_configured_reads_rows() -> None:
    class Fresh(SQLModel, registry=registry()):
        pass

    class Thing(Fresh, table=True):
        __tablename__ = "test_fresh_thing"
        ident: str = Field(sa_column=sa.Column(sa.String(20), primary_key=True))

    thing = loaded(Thing, {"ident": "a"})
    assert thing.ident == "a"


def test_validation_still_checks_what_it_is_given() -> None:
    answer = {"caller": "li", "method": "Redeem", "request_id": "r-1", "fingerprint": "f" * 64,
              "response": b"", "created_at": "2026-11-27T08:00:00+00:00"}
    assert typed(AnsweredRequest, answer).created_at == NOW  # validated: the text is parsed
    with pytest.raises(ValueError):
        typed(AnsweredRequest, {**answer, "created_at": "yesterday"})
