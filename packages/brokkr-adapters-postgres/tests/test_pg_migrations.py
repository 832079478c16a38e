"""Migrations: empty → head → base on fresh databases, per schema, and no drift from the Core metadata."""

from __future__ import annotations

import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from brokkr_adapters_postgres.engine import make_engine
from brokkr_adapters_postgres.migrate import (
    current_revision,
    downgrade_to_base,
    head_revision,
    is_up_to_date,
    migrate,
)
from brokkr_adapters_postgres.tables import metadata
from brokkr_adapters_postgres.testing import PostgresTestServer


@pytest.fixture
def empty_url(postgres_server: PostgresTestServer) -> str:
    return postgres_server.create_database(migrated=False)


def _tables(engine: Engine, schema: str | None = None) -> set[str]:
    with engine.connect() as conn:
        return set(inspect(conn).get_table_names(schema=schema))


def _drift(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))


def test_empty_to_head_to_base(empty_url: str) -> None:
    engine = make_engine(empty_url, pool_size=1)
    try:
        assert current_revision(engine) is None
        assert not is_up_to_date(engine)
        started = time.perf_counter()
        migrate(engine)
        elapsed = time.perf_counter() - started
        print(f"\nmigrate empty database -> head: {elapsed * 1000:.0f} ms")
        assert current_revision(engine) == head_revision()
        assert is_up_to_date(engine)
        assert _tables(engine) >= set(metadata.tables)
        migrate(engine)  # idempotent at head
        downgrade_to_base(engine)
        assert current_revision(engine) is None
        assert _tables(engine) <= {"alembic_version"}
        with engine.connect() as conn:
            functions = conn.execute(
                text("SELECT count(*) FROM pg_proc WHERE proname LIKE 'brokkr_%'")
            ).scalar()
        assert functions == 0
        migrate(engine)  # and up again after a full downgrade
        assert is_up_to_date(engine)
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_metadata(postgres_url: str) -> None:
    engine = make_engine(postgres_url, pool_size=1)
    try:
        assert _drift(engine) == []
    finally:
        engine.dispose()


def test_tenant_schema_has_its_own_tables_and_version(empty_url: str) -> None:
    public = make_engine(empty_url, pool_size=1)
    tenant = make_engine(empty_url, schema="tenant_m", pool_size=1)
    try:
        migrate(tenant)
        assert current_revision(tenant) == head_revision()
        assert current_revision(public) is None  # public untouched
        assert _tables(public, "tenant_m") >= set(metadata.tables) | {"alembic_version"}
        assert _tables(public, "public") == set()
        # The tenant's tables match the metadata too (the version table is the only extra).
        diffs = [d for d in _drift(tenant) if not (d[0] == "remove_table" and d[1].name == "alembic_version")]  # type: ignore[index]
        assert diffs == []
        downgrade_to_base(tenant)
        assert current_revision(tenant) is None
    finally:
        public.dispose()
        tenant.dispose()


def test_migrate_by_url_with_schema(empty_url: str) -> None:
    migrate(empty_url, schema="by_url")
    assert is_up_to_date(empty_url, schema="by_url")
    assert not is_up_to_date(empty_url)
