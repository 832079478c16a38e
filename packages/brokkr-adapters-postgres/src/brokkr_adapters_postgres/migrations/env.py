"""Alembic environment: always driven from code (``brokkr_adapters_postgres.migrate``), never from an ini.

The caller hands over an open connection (whose search path is the tenant schema) and the schema name; the
version table lives in that schema, so every tenant has its own migration state.
"""

from __future__ import annotations

from alembic import context

from brokkr_adapters_postgres.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through brokkr_adapters_postgres.migrate (e.g. `brokkr-broker migrate`)"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table_schema=config.attributes.get("schema"),
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
