"""What every SQL repository shares: the unit of work's connection and error translation at the port."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, CursorResult, Executable, Table
from sqlalchemy import exc as sa_exc

from brokkr_adapters_postgres.errors import translate
from brokkr_domain.errors import NotFoundError

Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None


class SqlRepository:
    """Runs statements on the unit of work's connection; never begins, commits or rolls back."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _run(self, statement: Executable, params: Params = None) -> CursorResult[Any]:
        try:
            return self._conn.execute(statement, params)
        except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
            raise translate(exc) from exc


def missing(kind: str, ident: object) -> NotFoundError:
    """The error for an update of a row that does not exist (same shape as the in-memory adapter's)."""
    return NotFoundError(
        f"{kind} {ident} does not exist", code=f"{kind}_not_found", details={"id": str(ident)}
    )


def columns(table: Table) -> list[Any]:
    """All columns of ``table`` (for ``RETURNING``)."""
    return list(table.c)


__all__ = ["Params", "SqlRepository", "columns", "missing"]
