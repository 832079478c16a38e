"""Engines: psycopg 3, a pool that tests idle connections, UTC sessions and the tenant schema.

Multi-tenancy is schema-per-tenant. The tenant schema goes into every connection's startup packet
(``options=-c search_path=<schema>``), so it is in force from the first statement of every pooled connection
and cannot leak into another engine's pool; a broker process serves one tenant and owns one engine. The
search path holds *only* the tenant schema: an unmigrated tenant fails loudly instead of silently reading
another schema's tables.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

from brokkr_adapters_postgres.connect_gate import ConnectGate, gate_connections
from brokkr_domain.errors import ValidationError
from brokkr_domain.labels import validate_schema_name

SCHEMA_OPTION = "brokkr_schema"
_CHECKED_IN = "brokkr_checked_in"
DEAD_PEER_DETECTION = {  # libpq: probe an idle connection after 5 s, give up after 3 probes 2 s apart;
    "keepalives": 1,  # unacknowledged data for 15 s fails the connection
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 15_000,
}


def quote_schema(name: str) -> str:
    """The schema as a quoted identifier (names like ``user`` are reserved words)."""
    return f'"{validate_schema_name(name)}"'


def normalize_url(url: str | URL) -> URL:
    """Accept ``postgres://``, ``postgresql://`` and ``postgresql+psycopg://`` URLs; always use psycopg 3."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in {"postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg"}:
        return parsed.set(drivername="postgresql+psycopg")
    raise ValidationError(
        f"unsupported database URL scheme {parsed.drivername!r}: use postgresql://user:password@host:port/db",
        code="invalid_database_url",
    )


def connect_options(schema: str | None) -> str:
    """The libpq ``options`` string: UTC sessions (timestamps come back in UTC) and the tenant search path."""
    options = "-c TimeZone=UTC"
    if schema is not None:
        options += f" -c search_path={quote_schema(schema)}"
    return options


def connect_arguments(url: URL, schema: str | None, connect_timeout: int) -> tuple[URL, dict[str, Any]]:
    """libpq settings for every connection: the URL's own query settings win, except ``options``, which is
    merged (the URL's first, then UTC and the tenant search path)."""
    connect_args: dict[str, Any] = {
        "options": connect_options(schema),
        "connect_timeout": connect_timeout,
        **DEAD_PEER_DETECTION,
    }
    if "options" in url.query:
        connect_args["options"] = f"{url.query['options']} {connect_args['options']}"
        url = url.difference_update_query(["options"])
    for name in [name for name in connect_args if name in url.query]:
        connect_args.pop(name)
    return url, connect_args


def make_engine(
    url: str | URL,
    *,
    schema: str | None = None,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = 10.0,
    connect_timeout: int = 10,
    ping_after_idle: float = 0.25,
    connect_cooldown: float = 0.1,
    echo: bool = False,
    **kwargs: Any,
) -> Engine:
    """A synchronous engine for ``url`` bound to the tenant ``schema`` (None: the server's default, public).

    A connection that rested in the pool for ``ping_after_idle`` seconds is tested before it is handed out
    (see ``ping_idle_connections``), so a database restart costs a quiet process nothing but reconnects;
    ``pool_recycle`` retires connections that a proxy may have dropped silently. After a failed connection
    attempt only one attempt at a time is made, every ``connect_cooldown`` seconds at most, and the others fail
    at once (``ConnectGate``). TCP keepalives and ``tcp_user_timeout`` turn a peer that vanished without a
    word (dropped packets) into an error within about 15 s instead of the kernel's retransmission minutes.
    """
    if schema is not None:
        validate_schema_name(schema)
    parsed, connect_args = connect_arguments(normalize_url(url), schema, connect_timeout)
    engine = create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_recycle=1800,
        echo=echo,
        connect_args=connect_args,
        execution_options={SCHEMA_OPTION: schema},
        **kwargs,
    )
    ping_idle_connections(engine, ping_after_idle)
    gate_connections(engine, ConnectGate(connect_cooldown))
    return engine


def ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Test a pooled connection with ``SELECT 1`` at checkout only when it rested ``idle_seconds`` or more.

    SQLAlchemy's ``pool_pre_ping`` pings on *every* checkout: a round trip that costs a busy broker a third of
    a heartbeat's time. A connection that was in use a moment ago is alive as far as anyone can tell; if the
    server went away since, the statement fails, the request gets 503 ``database_unavailable``, and SQLAlchemy
    invalidates the whole pool, so the requests after it reconnect. A connection that rested longer (a quiet
    process, the first request after an outage) is pinged and silently replaced when dead.
    """

    @event.listens_for(engine, "checkin")
    def rested_since(dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_rested(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get(_CHECKED_IN)
        if since is None or time.monotonic() - since < idle_seconds:
            return  # brand new, or busy a moment ago
        try:  # the dialect's ping leaves no transaction open on the connection
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool discards it and checks out another (or a new) connection
            raise sa_exc.DisconnectionError(f"a pooled connection failed its ping: {exc}") from exc
        if not alive:
            raise sa_exc.DisconnectionError("a pooled connection failed its ping")


def engine_schema(engine: Engine) -> str | None:
    """The tenant schema an engine from ``make_engine`` is bound to."""
    value = engine.get_execution_options().get(SCHEMA_OPTION)
    return str(value) if value is not None else None


def display_url(url: str | URL) -> str:
    """The URL without its password, for messages and logs."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)


__all__ = [
    "DEAD_PEER_DETECTION",
    "connect_arguments",
    "connect_options",
    "display_url",
    "engine_schema",
    "make_engine",
    "normalize_url",
    "quote_schema",
    "validate_schema_name",
]
