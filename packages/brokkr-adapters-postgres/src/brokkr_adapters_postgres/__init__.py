"""PostgreSQL persistence for Brokkr: tables, repositories, unit of work, migrations, tenancy, embedded server.

Typical use (the broker does this once per process)::

    from brokkr_adapters_postgres import Database

    db = Database.open(url_or_none, cipher=cipher, data_dir=data_dir, schema=schema)
    with db.uow() as uow:
        uow.agents.list()
    db.close()

Nothing here does I/O at import time.
"""

from brokkr_adapters_postgres.database import MIGRATE_COMMAND, Database
from brokkr_adapters_postgres.embedded import EmbeddedPostgres, default_data_dir
from brokkr_adapters_postgres.engine import display_url, engine_schema, make_engine, validate_schema_name
from brokkr_adapters_postgres.migrate import (
    current_revision,
    downgrade_to_base,
    head_revision,
    is_up_to_date,
    migrate,
)
from brokkr_adapters_postgres.uow import SqlUnitOfWork, SqlUnitOfWorkFactory

__all__ = [
    "MIGRATE_COMMAND",
    "Database",
    "EmbeddedPostgres",
    "SqlUnitOfWork",
    "SqlUnitOfWorkFactory",
    "current_revision",
    "default_data_dir",
    "display_url",
    "downgrade_to_base",
    "engine_schema",
    "head_revision",
    "is_up_to_date",
    "make_engine",
    "migrate",
    "validate_schema_name",
]
