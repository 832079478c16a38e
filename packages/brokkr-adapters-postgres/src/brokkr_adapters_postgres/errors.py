"""Translation of database exceptions into the domain's error tree, at the port.

No SQLAlchemy or psycopg exception may cross a repository: use cases and the broker only know
``brokkr_domain.errors``. The SQLSTATE decides: integrity violations become 4xx-class domain errors naming the
constraint; lost connections, restarts, deadlocks and serialization failures become ``TransientError`` (the
caller may retry; the broker answers 503).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from sqlalchemy import exc as sa_exc

from brokkr_domain.errors import (
    BrokkrError,
    ConflictError,
    NotFoundError,
    TransientError,
    UnprocessableError,
    ValidationError,
)

# SQLSTATEs raised by our own triggers (see the migrations).
IMMUTABLE_OBJECT = "BRK01"
UNDELETABLE_ROW = "BRK02"

_TRANSIENT_STATES = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "57014"}
_TRANSIENT_CLASSES = ("08", "53", "58")

P = ParamSpec("P")
T = TypeVar("T")


def _sqlstate(exc: sa_exc.DBAPIError) -> str:
    return str(getattr(exc.orig, "sqlstate", None) or "")


def _diag(exc: sa_exc.DBAPIError, attribute: str) -> str | None:
    diag = getattr(exc.orig, "diag", None)
    value = getattr(diag, attribute, None) if diag is not None else None
    return str(value) if value is not None else None


def _primary_message(exc: sa_exc.DBAPIError) -> str:
    return _diag(exc, "message_primary") or str(exc.orig).splitlines()[0]


# Referenced table -> the kind in NotFoundError codes (``agent_not_found``...), as in the in-memory adapter.
_KINDS = {
    "agents": "agent",
    "generators": "generator",
    "stacks": "stack",
    "deployment_objects": "deployment_object",
    "stack_templates": "template",
    "work_orders": "work_order",
    "webhook_subscriptions": "webhook_subscription",
    "diagnostic_requests": "diagnostic_request",
}
_KEY_DETAIL = re.compile(r"Key \((?P<column>[^)]*)\)=\((?P<value>[^)]*)\)")


@functools.cache
def _referenced_tables() -> dict[str, str]:
    from brokkr_adapters_postgres.tables import metadata

    return {
        str(fk.name): fk.referred_table.name
        for table in metadata.tables.values()
        for fk in table.foreign_key_constraints
    }


def _missing_reference(exc: sa_exc.DBAPIError, constraint: str | None) -> NotFoundError:
    """A foreign-key violation on insert/update: the referenced row does not exist."""
    table = _referenced_tables().get(constraint or "", "")
    kind = _KINDS.get(table, "referenced_row")
    details: dict[str, object] = {"constraint": constraint}
    match = _KEY_DETAIL.search(_diag(exc, "message_detail") or "")
    if match:
        details["id"] = match.group("value")
    ident = details.get("id", "")
    return NotFoundError(
        f"{kind} {ident} does not exist".replace("  ", " "), code=f"{kind}_not_found", details=details
    )


def translate(exc: BaseException) -> BrokkrError:
    """The domain error for a database exception (unknown ones become a generic ``BrokkrError``)."""
    if isinstance(exc, BrokkrError):
        return exc
    if isinstance(exc, sa_exc.TimeoutError):
        return TransientError("no database connection available (pool exhausted)", code="database_busy")
    if not isinstance(exc, sa_exc.DBAPIError):
        return BrokkrError(f"database error: {exc}", code="database_error")
    state = _sqlstate(exc)
    constraint = _diag(exc, "constraint_name")
    details: dict[str, object] = {"constraint": constraint} if constraint else {}
    message = _primary_message(exc)
    if state == "23505":
        return ConflictError(
            f"duplicate value violates {constraint or 'a unique constraint'}",
            code="unique_violation",
            details=details,
        )
    if state == "23503":
        return _missing_reference(exc, constraint)
    if state == "23514":
        return UnprocessableError(f"value rejected by {constraint}", code="check_violation", details=details)
    if state == "23502":
        return ValidationError(
            message, code="not_null_violation", details={"column": _diag(exc, "column_name")}
        )
    if state == "22001":
        return ValidationError(message, code="value_too_long")
    if state == "25P02":
        return BrokkrError(
            "a previous statement of this unit of work failed: roll it back before going on",
            code="transaction_aborted",
        )
    if state == IMMUTABLE_OBJECT:
        return ConflictError(message, code="immutable")
    if state == UNDELETABLE_ROW:
        return ConflictError(message, code="undeletable")
    if (
        exc.connection_invalidated
        or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)
        or state in _TRANSIENT_STATES
        or state.startswith(_TRANSIENT_CLASSES)
    ):
        return TransientError(f"database unavailable: {message}", code="database_unavailable")
    return BrokkrError(f"database error: {message}", code="database_error", details={"sqlstate": state})


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise database exceptions of the block as domain errors (``raise … from`` keeps the cause)."""
    try:
        yield
    except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
        raise translate(exc) from exc


def translating(func: Callable[P, T]) -> Callable[P, T]:
    """Decorator form of ``translated``."""

    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with translated():
            return func(*args, **kwargs)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


__all__ = ["IMMUTABLE_OBJECT", "UNDELETABLE_ROW", "translate", "translated", "translating"]
