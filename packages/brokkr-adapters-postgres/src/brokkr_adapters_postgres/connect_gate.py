"""One connection attempt at a time while the database cannot be reached; every other attempt fails at once.

When PostgreSQL is down, each new connection normally makes its own attempt. A refused connection fails in a
millisecond, but a host that drops packets (a network partition, a stopped VM) makes every attempt wait the full
``connect_timeout``: a busy broker would hold every request for seconds before answering 503. The gate lets
attempts through freely while connecting works. After a failure, attempts in the next ``cooldown`` seconds fail
immediately, and after that exactly one attempt (the trial) goes to the server while the others keep failing
fast; the first success opens the gate for everyone again. So while the database is unreachable, requests get
503 in milliseconds, and when it is back, the next trial (at most ``cooldown`` later) restores service.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Engine, event

T = TypeVar("T")


class DatabaseUnreachable(psycopg.OperationalError):
    """Raised instead of a connection attempt while the gate is closed (a DB-API error, so callers treat it
    like any failed connection: 503 ``database_unavailable``)."""


class ConnectGate:
    def __init__(self, cooldown: float = 0.1, clock: Callable[[], float] = time.monotonic) -> None:
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._failed_at: float | None = None  # the last failed attempt; None while connecting works
        self._trial = False  # an attempt is on its way after a failure

    @property
    def closed(self) -> bool:
        """Whether the last attempt failed (the database is not known to be reachable)."""
        with self._lock:
            return self._failed_at is not None

    def attempt(self, connect: Callable[[], T]) -> T:
        with self._lock:
            if self._failed_at is not None:
                waited = self._clock() - self._failed_at
                if self._trial or waited < self.cooldown:
                    raise DatabaseUnreachable(
                        f"database unreachable: a connection attempt failed {waited:.1f} s ago"
                        + ("; another attempt is in progress" if self._trial else "")
                    )
                self._trial = True
        try:
            connection = connect()
        except BaseException:
            with self._lock:
                self._failed_at = self._clock()
                self._trial = False
            raise
        with self._lock:
            self._failed_at = None
            self._trial = False
        return connection


def gate_connections(engine: Engine, gate: ConnectGate) -> None:
    """Route every new connection of ``engine`` through ``gate``."""

    @event.listens_for(engine, "do_connect")
    def connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        return gate.attempt(lambda: dialect.connect(*cargs, **cparams))


__all__ = ["ConnectGate", "DatabaseUnreachable", "gate_connections"]
