"""The ``Database`` facade: everything the broker needs from PostgreSQL, opened and closed in one place.

``Database.open(None, ...)`` starts (or reuses) the embedded server in the data directory, so a bare machine
works; ``Database.open(url, ...)`` uses that server and the database named in the URL. Either way the result
holds the engine, the unit-of-work factory, a readiness ``ping()`` and ``close()``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType
from typing import Self

from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from brokkr_adapters_postgres import migrate as migrations
from brokkr_adapters_postgres.embedded import EmbeddedPostgres, default_data_dir
from brokkr_adapters_postgres.engine import display_url, make_engine
from brokkr_adapters_postgres.notifications import Notifications
from brokkr_adapters_postgres.uow import SqlUnitOfWorkFactory
from brokkr_domain.errors import BrokkrError, TransientError
from brokkr_domain.ports import SecretCipher

_log = logging.getLogger(__name__)

MIGRATE_COMMAND = "brokkr-broker migrate"


class Database:
    """An open database: ``engine``, ``uow`` (the unit-of-work factory), the embedded ``server`` if any."""

    def __init__(
        self,
        engine: Engine,
        uow: SqlUnitOfWorkFactory,
        *,
        schema: str | None = None,
        server: EmbeddedPostgres | None = None,
    ) -> None:
        self.engine = engine
        self.uow = uow
        self.schema = schema
        self.server = server
        self._notifications: Notifications | None = None

    @classmethod
    def open(
        cls,
        url: str | URL | None = None,
        *,
        cipher: SecretCipher,
        data_dir: Path | str | None = None,
        schema: str | None = None,
        pool_size: int = 10,
        max_overflow: int = 10,
        auto_migrate: bool = False,
        require_current_schema: bool = True,
        embedded_port: int | None = None,
    ) -> Database:
        """Connect (starting the embedded server when ``url`` is None) and check the schema.

        ``auto_migrate`` upgrades the schema to the newest revision; otherwise ``require_current_schema``
        refuses a schema that is behind, with the command that fixes it.
        """
        server: EmbeddedPostgres | None = None
        if url is None:
            directory = Path(data_dir) / "postgres" if data_dir is not None else default_data_dir()
            server = EmbeddedPostgres(directory, port=embedded_port).start()
            url = server.url()
            _log.info("using the embedded PostgreSQL in %s (port %s)", directory, server.port)
        engine = make_engine(url, schema=schema, pool_size=pool_size, max_overflow=max_overflow)
        database = cls(engine, SqlUnitOfWorkFactory(engine, cipher), schema=schema, server=server)
        try:
            database.check_reachable()
            if auto_migrate:
                migrations.migrate(engine)
            elif require_current_schema:
                database.check_schema()
        except BaseException:
            database.close()
            raise
        return database

    def check_reachable(self) -> None:
        """Raise ``TransientError`` with an actionable message when the server cannot be reached."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise TransientError(
                f"cannot reach PostgreSQL at {display_url(self.engine.url)}: {reason}. Check that the server "
                "is running and that the database URL (BROKKR__DATABASE__URL) is right.",
                code="database_unavailable",
            ) from exc

    def check_schema(self) -> None:
        """Raise ``BrokkrError`` when the schema is not at the revision this code needs."""
        current = migrations.current_revision(self.engine)
        head = migrations.head_revision()
        if current != head:
            where = f"schema {self.schema!r}" if self.schema else "the database"
            state = "empty" if current is None else f"at revision {current}"
            raise BrokkrError(
                f"{where} is {state} but this version needs revision {head}: run `{MIGRATE_COMMAND}`"
                + (f" with the same schema ({self.schema})" if self.schema else ""),
                code="schema_outdated",
                details={"current": current, "required": head},
            )

    def ping(self) -> bool:
        """Readiness: True when a trivial query succeeds right now."""
        try:
            self.check_reachable()
        except TransientError:
            return False
        return True

    def notifications(self) -> Notifications:
        """This process's LISTENing connection (started on first use, stopped by ``close``)."""
        if self._notifications is None:
            self._notifications = Notifications(self.engine).start()
        return self._notifications

    def close(self) -> None:
        """Close every pooled connection and stop the embedded server if this object started it."""
        if self._notifications is not None:
            self._notifications.stop()
            self._notifications = None
        self.engine.dispose()
        if self.server is not None:
            self.server.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


__all__ = ["MIGRATE_COMMAND", "Database"]
