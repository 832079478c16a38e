"""Run the shipped Alembic migrations from code, per tenant schema.

Every function accepts an ``Engine`` (from ``make_engine``; its schema is used unless one is given) or a URL.
Migrations of one schema are serialised with a transaction-scoped advisory lock, so several broker replicas
starting together migrate once and the others wait, then see the schema at head.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL

from brokkr_adapters_postgres.engine import engine_schema, make_engine, quote_schema
from brokkr_adapters_postgres.errors import translated

_LOCK_SQL = text("SELECT pg_advisory_xact_lock(hashtext(:key))")


def _script_location() -> str:
    return str(Path(str(resources.files("brokkr_adapters_postgres") / "migrations")))


def alembic_config() -> Config:
    """An in-memory Alembic config pointing at the migrations inside this package."""
    config = Config()
    config.set_main_option("script_location", _script_location())
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


@contextmanager
def _engine(engine_or_url: Engine | str | URL, schema: str | None) -> Iterator[tuple[Engine, str | None]]:
    """The engine to migrate with and the effective schema; a URL gets a short-lived one-connection engine."""
    if isinstance(engine_or_url, Engine):
        own_schema = engine_schema(engine_or_url)
        if schema is None or schema == own_schema:
            yield engine_or_url, own_schema
            return
        engine_or_url = engine_or_url.url
    engine = make_engine(engine_or_url, schema=schema, pool_size=1, max_overflow=0)
    try:
        yield engine, schema
    finally:
        engine.dispose()


@contextmanager
def _locked(engine: Engine, schema: str | None) -> Iterator[Connection]:
    """A connection in a transaction holding the schema's migration lock (the schema exists afterwards)."""
    with translated(), engine.begin() as conn:
        conn.execute(_LOCK_SQL, {"key": f"brokkr-migrate:{schema or ''}"})
        if schema is not None:
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quote_schema(schema)}"))
        yield conn


def _run(conn: Connection, schema: str | None, action: str, target: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = conn
    config.attributes["schema"] = schema
    if action == "upgrade":
        command.upgrade(config, target)
    else:
        command.downgrade(config, target)


def migrate(engine_or_url: Engine | str | URL, schema: str | None = None, *, revision: str = "head") -> None:
    """Create the schema if needed and upgrade it to ``revision`` (default: the newest)."""
    with _engine(engine_or_url, schema) as (engine, effective), _locked(engine, effective) as conn:
        _run(conn, effective, "upgrade", revision)


def downgrade_to_base(engine_or_url: Engine | str | URL, schema: str | None = None) -> None:
    """Undo every migration (drops all Brokkr tables of the schema; the schema itself stays)."""
    with _engine(engine_or_url, schema) as (engine, effective), _locked(engine, effective) as conn:
        _run(conn, effective, "downgrade", "base")


def current_revision(engine_or_url: Engine | str | URL, schema: str | None = None) -> str | None:
    """The revision the schema is at; None for an empty (or missing) schema."""
    with _engine(engine_or_url, schema) as (engine, effective), translated(), engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table_schema": effective})
        return context.get_current_revision()


def is_up_to_date(engine_or_url: Engine | str | URL, schema: str | None = None) -> bool:
    """Whether the schema is at the newest revision shipped with this package."""
    return current_revision(engine_or_url, schema) == head_revision()


__all__ = [
    "alembic_config",
    "current_revision",
    "downgrade_to_base",
    "head_revision",
    "is_up_to_date",
    "migrate",
]
