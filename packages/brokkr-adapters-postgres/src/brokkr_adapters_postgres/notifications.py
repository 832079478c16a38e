"""A version number for "what agents' target states are computed from", kept by LISTENing to PostgreSQL.

Migration 0002 makes every write to those tables ``NOTIFY brokkr_target_state`` (delivered at commit, never for
rolled-back work). ``TargetStateVersion`` holds one dedicated connection that LISTENs on that channel and bumps
``version`` on every notification, so a broker can keep target-state answers until the version moves, in every
replica, without a query per poll.

The one rule that keeps it correct: read ``version`` *before* querying, and cache the answer under that version.
A change that commits after the version was read raises it when its notification arrives, so the answer is
dropped at the next poll; a change that committed before is already in the answer. While the connection is down
``version`` is ``None`` (nothing may be cached or served from a cache), and every (re)connect bumps it, because
notifications sent while nobody listened are lost.
"""

from __future__ import annotations

import logging
import threading
from typing import Self

import psycopg
from sqlalchemy import Engine

_log = logging.getLogger(__name__)

CHANNEL = "brokkr_target_state"
APPLICATION_NAME = "brokkr-target-state-listener"  # how operators spot it in pg_stat_activity
_KEEPALIVE_EVERY = 10  # wait cycles between liveness checks of an idle connection


class TargetStateVersion:
    """Counts commits that may have changed some agent's target state (``None`` while not listening)."""

    def __init__(self, engine: Engine, *, wait_seconds: float = 0.5, reconnect_seconds: float = 1.0) -> None:
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._wait = wait_seconds
        self._reconnect = reconnect_seconds
        self._counter = 0
        self._listening = False
        self._healthy = True
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-listen-target-state", daemon=True)

    @property
    def version(self) -> int | None:
        with self._lock:
            return self._counter if self._listening else None

    def start(self, *, wait_connected: float = 5.0) -> Self:
        """Start listening; wait up to ``wait_connected`` seconds for the first connection (not an error)."""
        self._thread.start()
        self._connected.wait(wait_connected)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._wait + 5.0)

    def _bump(self, *, listening: bool | None = None) -> None:
        with self._lock:
            self._counter += 1
            if listening is not None:
                self._listening = listening

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except psycopg.Error as exc:
                if self._healthy:  # once per outage, not once per reconnect attempt
                    _log.warning("target-state notifications interrupted (%s); caching paused", exc)
                self._healthy = False
            finally:
                self._bump(listening=False)
            self._stop.wait(self._reconnect)

    def _listen(self) -> None:
        with psycopg.connect(
            self._conninfo, autocommit=True, connect_timeout=5, application_name=APPLICATION_NAME
        ) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self._bump(listening=True)
            self._connected.set()
            self._healthy = True
            _log.info("listening for target-state changes; answers are cached until one is notified")
            cycles = 0
            while not self._stop.is_set():
                for _notification in conn.notifies(timeout=self._wait):
                    self._bump()
                cycles += 1
                if cycles % _KEEPALIVE_EVERY == 0:
                    conn.execute("SELECT 1")  # an idle connection that died only shows when used


__all__ = ["APPLICATION_NAME", "CHANNEL", "TargetStateVersion"]
