"""pytest fixtures: real infrastructure on loopback, stopped by the tests that start it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from linli_runtime.clock import ManualClock
from linli_runtime.db import Database
from linli_runtime.migrations import upgrade, use_migrated_copies
from linli_runtime.processes import EmbeddedPostgres, NatsServer
from linli_runtime.testing.migrated import MigratedCopies


@pytest.fixture(scope="session")
def migrated_copies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedCopies]:
    """Empty databases start as copies of one migrated per kind (linli_runtime.testing.migrated)."""
    copies = MigratedCopies(tmp_path_factory.mktemp("migrated"))
    use_migrated_copies(copies)
    try:
        yield copies
    finally:
        use_migrated_copies(None)


@pytest.fixture(autouse=True)
def _copies_unless_real_migrations(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests marked `real_migrations` (the migration tests) run Alembic on every database."""
    copies: MigratedCopies = request.getfixturevalue("migrated_copies")
    if request.node.get_closest_marker("real_migrations") is not None:
        use_migrated_copies(None)
        try:
            yield
        finally:
            use_migrated_copies(copies)
        return
    yield


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A fresh nats-server with JetStream on a free port; `.stop()`/`.start()` restart it on
    the same port and store (fault tests)."""
    server = NatsServer(tmp_path / "nats").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def embedded_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    pg = EmbeddedPostgres(tmp_path_factory.mktemp("postgres") / "data").without_durability()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each database-touching test runs twice: on a SQLite file and on a fresh PostgreSQL
    database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    pg: EmbeddedPostgres = request.getfixturevalue("embedded_postgres")
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield pg.database_url(name)
    pg.drop_database(name)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await upgrade(database)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def unique_stream(prefix: str = "T") -> tuple[str, str]:
    """A stream name and subject root no other test uses."""
    tag = uuid.uuid4().hex[:10]
    return f"{prefix}{tag}".upper(), f"t{tag}"
