"""Pytest fixtures for tests that need a real PostgreSQL: one embedded server for the whole session.

In a ``conftest.py``::

    from brokkr_adapters_postgres.testing import postgres_server, postgres_url  # noqa: F401 (fixtures)

- ``postgres_server`` (session): a :class:`PostgresTestServer`; set ``BROKKR_TEST_DATABASE_URL`` to a
  superuser URL to use an existing server instead of starting the embedded one;
- ``postgres_url`` (session): URL of a database migrated to head, shared by the session;
- ``fresh_database_url``: a brand-new migrated database for one test (cloned from a migrated template,
  ~0.1 s), for tests that need isolation from everything else.

``truncate_all(engine)`` empties every Brokkr table of a database, the cheap way to isolate tests that share
``postgres_url``. The server runs with fsync off: fast, and disposable.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from brokkr_adapters_postgres.embedded import EmbeddedPostgres
from brokkr_adapters_postgres.engine import make_engine
from brokkr_adapters_postgres.migrate import migrate
from brokkr_adapters_postgres.tables import metadata

URL_ENV = "BROKKR_TEST_DATABASE_URL"
TEMPLATE_DATABASE = "brokkr_template"


class PostgresTestServer:
    """A server for tests, reached through a superuser URL; creates databases cheaply."""

    def __init__(self, admin_url: str, embedded: EmbeddedPostgres | None = None) -> None:
        self.admin_url = make_url(admin_url).set(drivername="postgresql+psycopg")
        self.embedded = embedded
        self._template_ready = False
        self._lock = threading.Lock()
        self._names = itertools.count(1)

    def url(self, database: str) -> str:
        """SQLAlchemy URL (with password) of a database on this server."""
        return self.admin_url.set(database=database).render_as_string(hide_password=False)

    def _maintenance(self) -> psycopg.Connection[tuple[object, ...]]:
        url = self.admin_url.set(database="postgres")
        return psycopg.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            password=url.password,
            dbname="postgres",
            autocommit=True,
        )

    def _ensure_template(self) -> None:
        with self._lock:
            if self._template_ready:
                return
            self.drop_database(TEMPLATE_DATABASE)
            with self._maintenance() as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE_DATABASE)))
            engine = make_engine(self.url(TEMPLATE_DATABASE), pool_size=1)
            try:
                migrate(engine)
            finally:
                engine.dispose()
            self._template_ready = True

    def create_database(self, name: str | None = None, *, migrated: bool = True) -> str:
        """Create a database (a clone of a migrated template when ``migrated``) and return its URL."""
        if name is None:
            name = f"brokkr_test_{os.getpid()}_{next(self._names)}_{uuid.uuid4().hex[:6]}"
        else:
            self.drop_database(name)
        if migrated:
            self._ensure_template()
        statement = sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
            sql.Identifier(name), sql.Identifier(TEMPLATE_DATABASE if migrated else "template0")
        )
        with self._maintenance() as conn:
            conn.execute(statement)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self._maintenance() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def truncate_all(engine: Engine) -> None:
    """Empty every Brokkr table in the engine's schema, children first.

    ``DELETE`` on tiny tables takes ~2 ms where ``TRUNCATE`` of 28 tables takes ~150 ms; only the admin row,
    which a trigger protects from ``DELETE``, is truncated. Identities are not restarted.
    """
    statements = [
        f'DELETE FROM "{table.name}"'  # noqa: S608 - table names from our own metadata
        for table in reversed(metadata.sorted_tables)
        if table.name != "admin_role"
    ]
    with engine.begin() as conn:
        conn.execute(text("; ".join([*statements, 'TRUNCATE "admin_role"'])))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresTestServer]:
    """One PostgreSQL for the session: ``$BROKKR_TEST_DATABASE_URL`` or an embedded server in a temp dir.

    The data directory is a private ``mkdtemp`` (not pytest's shared, self-cleaning ``basetemp``, which
    concurrent pytest sessions prune), and a watchdog stops the server if this process is killed.
    """
    external = os.environ.get(URL_ENV)
    if external:
        yield PostgresTestServer(external)
        return
    directory = Path(tempfile.mkdtemp(prefix="brokkr-pg-test-"))
    server = EmbeddedPostgres(directory, durable=False, database="postgres", stop_with_parent=True)
    try:
        server.start()
        yield PostgresTestServer(server.url("postgres"), embedded=server)
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresTestServer) -> str:
    """A migrated database shared by the whole session."""
    return postgres_server.create_database(f"brokkr_session_{os.getpid()}")


@pytest.fixture
def fresh_database_url(postgres_server: PostgresTestServer) -> Iterator[str]:
    """A new migrated database for one test, dropped afterwards."""
    url = postgres_server.create_database()
    yield url
    database = make_url(url).database
    assert database is not None
    postgres_server.drop_database(database)


__all__ = [
    "TEMPLATE_DATABASE",
    "URL_ENV",
    "PostgresTestServer",
    "fresh_database_url",
    "postgres_server",
    "postgres_url",
    "truncate_all",
]
