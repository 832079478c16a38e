"""PostgreSQL notifications for every broker process on one database: one LISTENing connection per process.

Two uses:

- **The target-state version.** Migration 0002 makes every write to the tables agents' target states are
  computed from ``NOTIFY brokkr_target_state`` (delivered at commit, never for rolled-back work). ``version``
  moves on every such notification, so a broker can keep target-state answers until it moves, in every replica,
  without a query per poll. The rule that keeps it correct: read ``version`` *before* querying and cache the
  answer under that version; a change that commits after the version was read raises it when its notification
  arrives, so the answer is dropped at the next poll, and a change that committed before is already in the answer.
  While the connection is down ``version`` is ``None`` (nothing may be cached or served from a cache), and every
  (re)connect moves it, because notifications sent while nobody listened are lost.
- **Messages between broker processes** (``subscribe`` / ``publish`` on other channels), e.g. "reload your
  configuration". Delivery is best effort: a process whose connection is down misses them.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Self

import psycopg
from psycopg import sql
from sqlalchemy import Engine, text

from brokkr_adapters_postgres.errors import translated

_log = logging.getLogger(__name__)

CHANNEL = "brokkr_target_state"
APPLICATION_NAME = "brokkr-listener"  # how operators spot it in pg_stat_activity
_KEEPALIVE_EVERY = 10  # wait cycles between liveness checks of an idle connection
_CHANNEL_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

Callback = Callable[[str], None]


class Notifications:
    """The target-state ``version`` (``None`` while not listening) and named channels between processes."""

    def __init__(self, engine: Engine, *, wait_seconds: float = 0.5, reconnect_seconds: float = 1.0) -> None:
        self._engine = engine
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._wait = wait_seconds
        self._reconnect = reconnect_seconds
        self._counter = 0
        self._listening = False
        self._healthy = True
        self._subscribers: dict[str, list[Callback]] = {}
        self._listened: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-listen", daemon=True)

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

    def subscribe(self, channel: str, callback: Callback) -> Callable[[], None]:
        """Call ``callback(payload)`` (on the listener's thread: keep it short) for every message on
        ``channel``, from the next wait cycle on; returns the function that unsubscribes."""
        _check_channel(channel)
        with self._lock:
            self._subscribers.setdefault(channel, []).append(callback)

        def unsubscribe() -> None:
            with self._lock:
                callbacks = self._subscribers.get(channel, [])
                if callback in callbacks:
                    callbacks.remove(callback)

        return unsubscribe

    def publish(self, channel: str, payload: str = "") -> None:
        """Send ``payload`` to every process subscribed to ``channel`` (this one included)."""
        _check_channel(channel)
        with translated(), self._engine.connect() as conn:
            conn.execute(
                text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload}
            )
            conn.commit()

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
                    _log.warning("database notifications interrupted (%s); target-state caching paused", exc)
                self._healthy = False
            finally:
                self._listened = set()
                self._bump(listening=False)
            self._stop.wait(self._reconnect)

    def _listen(self) -> None:
        with psycopg.connect(
            self._conninfo, autocommit=True, connect_timeout=5, application_name=APPLICATION_NAME
        ) as conn:
            self._listen_to_new_channels(conn)
            self._bump(listening=True)
            self._connected.set()
            self._healthy = True
            _log.info(
                "listening for database notifications; target-state answers are cached until one arrives"
            )
            cycles = 0
            while not self._stop.is_set():
                for notification in conn.notifies(timeout=self._wait):
                    self._dispatch(notification.channel, notification.payload)
                self._listen_to_new_channels(conn)
                cycles += 1
                if cycles % _KEEPALIVE_EVERY == 0:
                    conn.execute("SELECT 1")  # an idle connection that died only shows when used

    def _listen_to_new_channels(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        with self._lock:
            wanted = {CHANNEL, *self._subscribers}
        for channel in sorted(wanted - self._listened):
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            self._listened.add(channel)

    def _dispatch(self, channel: str, payload: str) -> None:
        if channel == CHANNEL:
            self._bump()
            return
        with self._lock:
            callbacks = list(self._subscribers.get(channel, []))
        for callback in callbacks:
            try:
                callback(payload)
            except Exception:  # one subscriber's failure never stops the listener
                _log.warning("a subscriber of %s failed", channel, exc_info=True)


def _check_channel(channel: str) -> None:
    if not _CHANNEL_NAME.fullmatch(channel):
        raise ValueError(f"invalid notification channel name {channel!r}")


__all__ = ["APPLICATION_NAME", "CHANNEL", "Notifications"]
