"""The runtime behind PgBouncer in transaction mode, as Kubernetes runs it (the CloudNativePG
`Pooler` in deploy/k8s/base/postgres/pooler.yaml, `LINLI_DATABASE_STATEMENT_CACHE_SIZE=0`):
migrations, concurrent transactions and the outbox work through a real pgbouncer with fewer
server connections than clients, and the default statement cache would not.

Needs Debian's `pgbouncer` (.ci/run installs it); skipped without it, failed under CI=true.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from linli.devtools.v1 import echo_pb2
from linli_runtime.db import Database
from linli_runtime.events import make_event, publish_in
from linli_runtime.events.tables import OUTBOX
from linli_runtime.migrations import upgrade
from linli_runtime.processes import EmbeddedPostgres, free_port, wait_for_port

# What deploy/k8s/base/postgres/pooler.yaml asks of PgBouncer, scaled down: fewer server
# connections per database than the clients' pool holds.
SERVER_CONNECTIONS = 3
CLIENTS = 12

# The migrations themselves go through the pooler here, as a service's start-up would.
pytestmark = pytest.mark.real_migrations


@pytest.fixture
def pooled_url(embedded_postgres: EmbeddedPostgres, tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("pgbouncer")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pgbouncer is not installed (apt-get install -y pgbouncer; .ci/run does)")
        pytest.skip("pgbouncer is not installed: apt-get install -y pgbouncer")
    name = f"t_{uuid.uuid4().hex[:12]}"
    direct = make_url(embedded_postgres.database_url(name))
    port = free_port()
    ini = tmp_path / "pgbouncer.ini"
    ini.write_text(f"""[databases]
{name} = host={direct.query["host"]} port={direct.port or 5432} dbname={name} user={direct.username}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = {SERVER_CONNECTIONS}
max_client_conn = 200
ignore_startup_parameters = extra_float_digits,options
""")
    tmp_path.chmod(0o755)
    # PgBouncer refuses to run as root; the embedded server's own user may reach its socket.
    as_user = ["-u", "embedded_postgres"] if os.geteuid() == 0 else []
    proc = subprocess.Popen([binary, *as_user, str(ini)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port, 10, proc)
        yield f"postgresql+asyncpg://{direct.username}@127.0.0.1:{port}/{name}"
    finally:
        proc.terminate()
        proc.wait(10)
        embedded_postgres.drop_database(name)


async def busy(db: Database) -> None:
    """Clients × transactions, each preparing the same statements, each writing an event."""
    async def client(i: int) -> None:
        for j in range(10):
            async with db.transaction() as session:
                conn = await session.connection()
                await conn.execute(select(func.count()).select_from(OUTBOX))
                await publish_in(session, make_event("pool.test.done", echo_pb2.EchoRequest(message=f"{i}-{j}"),
                                                     org_scope="", source="pool-test"))

    await asyncio.gather(*(client(i) for i in range(CLIENTS)))


async def test_the_runtime_works_through_pgbouncer_in_transaction_mode_without_a_statement_cache(
        pooled_url: str) -> None:
    db = Database(pooled_url, pool_size=CLIENTS, statement_cache_size=0)
    try:
        await upgrade(db)  # migrations take pg_advisory_xact_lock: a transaction-scoped lock
        await busy(db)
        async with db.reading() as conn:
            assert (await conn.execute(select(func.count()).select_from(OUTBOX))).scalar_one() == CLIENTS * 10
            # More clients than server connections: PgBouncer multiplexed them.
            backends = (await conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"))).scalar_one()
            assert backends <= SERVER_CONNECTIONS
    finally:
        await db.dispose()


async def test_the_default_statement_cache_breaks_behind_a_transaction_pooler(pooled_url: str) -> None:
    db = Database(pooled_url, pool_size=CLIENTS)  # asyncpg's default cache of 100 statements
    try:
        await upgrade(db)
        with pytest.raises(Exception, match="prepared statement"):
            await busy(db)
    finally:
        await db.dispose()
