"""Schema-per-tenant: name validation, provisioning on first use, isolation, no leak across the pool."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from brokkr_adapters_postgres.engine import make_engine
from brokkr_adapters_postgres.migrate import migrate
from brokkr_adapters_postgres.testing import PostgresTestServer
from brokkr_adapters_postgres.uow import SqlUnitOfWorkFactory
from brokkr_domain.errors import ValidationError
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.fakes import FakeClock, PlainCipher


@pytest.mark.parametrize("name", ["has-dash", "has;semicolon", "has'quote", "Upper", "a" * 64, "pg_x"])
def test_an_engine_for_an_invalid_schema_name_is_refused_before_any_connection(name: str) -> None:
    # the name rule itself is the domain's (test_rules_labels); here: the adapter applies it
    with pytest.raises(ValidationError) as info:
        make_engine("postgresql://u@localhost/db", schema=name)
    assert info.value.code == "invalid_schema_name"


def test_two_tenants_never_see_each_others_rows(postgres_server: PostgresTestServer) -> None:
    url = postgres_server.create_database(migrated=False)
    clock = FakeClock()
    engines = {name: make_engine(url, schema=name, pool_size=3) for name in ("tenant_a", "user")}
    try:
        factories = {name: SqlUnitOfWorkFactory(engine, PlainCipher()) for name, engine in engines.items()}
        for engine in engines.values():
            migrate(engine)  # creates the schema on first use
        agents = {
            name: b.agent(clock.now(), name="same-name", cluster_name="same-cluster") for name in engines
        }
        for name, factory in factories.items():
            with factory() as uow:
                uow.agents.add(agents[name])  # same name in both: no conflict across tenants
                uow.commit()
        for name, factory in factories.items():
            other = next(n for n in engines if n != name)
            # Several checkouts, so every pooled connection of the tenant is exercised.
            for _ in range(5):
                with factory() as uow:
                    assert [a.id for a in uow.agents.list()] == [agents[name].id]
                    assert uow.agents.get(agents[other].id) is None
        with engines["tenant_a"].connect() as conn:
            assert conn.execute(text("SELECT current_schema()")).scalar() == "tenant_a"
            public_tables = conn.execute(
                text("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
            ).scalar()
        assert public_tables == 0
    finally:
        for engine in engines.values():
            engine.dispose()


def test_no_schema_means_public(fresh_database_url: str) -> None:
    engine = make_engine(fresh_database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_schema()")).scalar() == "public"
            assert conn.execute(text("SELECT to_regclass('public.agents') IS NOT NULL")).scalar()
    finally:
        engine.dispose()


def test_unmigrated_tenant_does_not_fall_back_to_public(fresh_database_url: str) -> None:
    """The search path holds only the tenant schema: public's tables are invisible to it."""
    engine = make_engine(fresh_database_url, schema="not_migrated", pool_size=1)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT to_regclass('agents')")).scalar() is None
    finally:
        engine.dispose()
