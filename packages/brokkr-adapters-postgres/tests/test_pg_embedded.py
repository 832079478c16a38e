"""The embedded server and the ``Database`` facade: defaults, reuse, restarts, and actionable errors."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from brokkr_adapters_postgres.database import Database
from brokkr_adapters_postgres.embedded import SERVER_USER, EmbeddedPostgres, free_port
from brokkr_adapters_postgres.testing import PostgresTestServer
from brokkr_domain.errors import BrokkrError, TransientError
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.fakes import FakeClock, PlainCipher


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("brokkr-data")


@pytest.fixture(scope="module")
def database(data_dir: Path) -> Iterator[Database]:
    """No URL: the facade starts its own embedded PostgreSQL in the data directory."""
    db = Database.open(None, cipher=PlainCipher(), data_dir=data_dir, auto_migrate=True, pool_size=3)
    yield db
    db.close()


def test_no_url_starts_an_embedded_server_in_the_data_dir(database: Database, data_dir: Path) -> None:
    assert database.server is not None
    assert database.server.pgdata == data_dir / "postgres" / "pgdata"
    assert database.ping()
    with database.engine.connect() as conn:
        assert conn.execute(text("SELECT current_database()")).scalar() == "brokkr"
        assert conn.execute(text("SHOW listen_addresses")).scalar() == "127.0.0.1"
    password_file = database.server.password_file
    assert password_file.stat().st_mode & 0o077 == 0
    if os.geteuid() == 0:
        import pwd

        assert pwd.getpwuid(database.server.pgdata.stat().st_uid).pw_name == SERVER_USER


def test_pool_survives_a_server_restart(database: Database) -> None:
    clock = FakeClock()
    agent = b.agent(clock.now())
    with database.uow() as uow:
        uow.agents.add(agent)
        uow.commit()
    # Warm several pooled connections, then cut them all.
    for _ in range(3):
        with database.uow() as uow:
            assert uow.agents.get(agent.id) == agent
    assert database.server is not None
    database.server.restart()
    time.sleep(0.3)  # a quiet moment: every pooled connection rested long enough to be pinged
    with database.uow() as uow:  # rested connections are pinged and replaced: no error surfaces
        assert uow.agents.get(agent.id) == agent


def test_a_busy_pool_fails_once_per_restart_then_reconnects(database: Database) -> None:
    """Connections in use a moment ago are not pinged: the first statement on a dead one is a transient error,
    and SQLAlchemy invalidates the whole pool so the next unit of work reconnects."""
    assert database.server is not None
    for _ in range(3):
        with database.uow() as uow:
            uow.agents.list()
    database.server.restart()
    failures = 0
    for _ in range(3):
        try:
            with database.uow() as uow:
                uow.agents.list()
        except TransientError:
            failures += 1
    assert failures <= 1
    with database.uow() as uow:
        assert uow.agents.list() is not None


def test_outage_is_a_transient_error_then_recovers(database: Database) -> None:
    assert database.server is not None
    database.server.stop()
    try:
        assert not database.ping()
        with pytest.raises(TransientError) as info, database.uow() as uow:
            uow.agents.list()
        assert info.value.code in {"database_unavailable", "service_unavailable"}
    finally:
        database.server.start()
    assert database.ping()
    with database.uow() as uow:
        uow.agents.list()


def test_the_data_directory_is_reused(database: Database, data_dir: Path) -> None:
    clock = FakeClock()
    agent = b.agent(clock.now())
    with database.uow() as uow:
        uow.agents.add(agent)
        uow.commit()
    assert database.server is not None
    database.server.stop()
    assert not database.server.is_running()
    with EmbeddedPostgres(data_dir / "postgres") as again:
        reopened = Database.open(again.url(), cipher=PlainCipher(), pool_size=1)
        with reopened.uow() as uow:
            assert uow.agents.get(agent.id) == agent
        reopened.close()
    database.server.start()


def test_a_running_server_is_adopted_and_left_running(database: Database, data_dir: Path) -> None:
    """A second process (another broker replica) on the same data directory shares the running server."""
    assert database.server is not None
    second = EmbeddedPostgres(data_dir / "postgres").start()
    assert second.port == database.server.port
    second.stop()  # not ours to stop
    assert database.ping()


def test_a_url_is_used_as_given_with_its_database_name(postgres_server: PostgresTestServer) -> None:
    url = postgres_server.create_database("custom_name_db")
    with Database.open(url, cipher=PlainCipher(), pool_size=1) as db:
        assert db.server is None
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar() == "custom_name_db"


def test_a_schema_behind_is_refused_with_the_command_to_run(postgres_server: PostgresTestServer) -> None:
    url = postgres_server.create_database(migrated=False)
    with pytest.raises(BrokkrError) as info:
        Database.open(url, cipher=PlainCipher(), schema="tenant_x")
    assert info.value.code == "schema_outdated"
    assert "brokkr-broker migrate" in info.value.message
    assert "tenant_x" in info.value.message
    with Database.open(url, cipher=PlainCipher(), schema="tenant_x", auto_migrate=True) as db:
        db.check_schema()


def test_an_unreachable_server_is_a_transient_error_without_the_password() -> None:
    url = f"postgresql://brokkr:s3cret-pw@127.0.0.1:{free_port()}/brokkr"
    with pytest.raises(TransientError) as info:
        Database.open(url, cipher=PlainCipher())
    assert "cannot reach PostgreSQL at" in info.value.message
    assert "s3cret-pw" not in info.value.message
    assert info.value.code == "database_unavailable"


def test_a_pinged_connection_leaves_no_transaction_behind(database: Database) -> None:
    """The idle ping must not open a transaction: an autocommit unit of work could not switch modes after it."""
    with database.uow() as uow:
        uow.agents.list()
    time.sleep(0.3)  # rested: the next checkout pings
    for _ in range(2):
        with database.uow.autocommit() as uow:
            assert uow.agents.list() is not None
        time.sleep(0.3)
