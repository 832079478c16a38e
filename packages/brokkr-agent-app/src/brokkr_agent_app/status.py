"""What the health server reports: the agent's live view of its two dependencies."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import attrs


@attrs.define
class AgentStatus:
    """Mutable, lock-protected status shared by the loops and the health server."""

    started: float = attrs.field(factory=time.monotonic)
    kubernetes_connected: bool = False
    kubernetes_error: str | None = None
    broker_connected: bool = False
    last_heartbeat: datetime | None = None
    last_poll: float | None = None
    agent_status: str | None = None
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def broker_ok(self) -> None:
        with self._lock:
            self.broker_connected = True
            self.last_heartbeat = datetime.now(UTC)

    def broker_failed(self) -> None:
        with self._lock:
            self.broker_connected = False

    def polled(self) -> None:
        with self._lock:
            self.last_poll = time.monotonic()

    def kubernetes(self, ok: bool, error: str | None = None) -> None:
        with self._lock:
            self.kubernetes_connected = ok
            self.kubernetes_error = error

    def broker_recent(self, within_seconds: float) -> bool:
        with self._lock:
            if self.last_heartbeat is None:
                return False
            return (datetime.now(UTC) - self.last_heartbeat).total_seconds() <= within_seconds

    @property
    def uptime(self) -> float:
        return time.monotonic() - self.started
