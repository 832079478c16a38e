"""Deterministic stand-ins for the small system ports: clock, ids, secret cipher and audit sink."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

from brokkr_domain.errors import ValidationError
from brokkr_domain.model import AuditEntry

DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)


class FakeClock:
    """A clock that only moves when told to; always timezone-aware UTC like the real one."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        self._now = _aware(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, at: datetime) -> None:
        with self._lock:
            self._now = _aware(at)

    def advance(self, delta: timedelta | float = 1.0) -> datetime:
        """Move forward by a ``timedelta`` or a number of seconds; returns the new time."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        with self._lock:
            self._now = self._now + step
            return self._now


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("FakeClock needs a timezone-aware datetime")
    return at.astimezone(UTC)


class SequentialIds:
    """UUIDs 1, 2, 3 ... (offset by ``seed`` in the high 64 bits), so tests can predict and read ids."""

    def __init__(self, seed: int = 0) -> None:
        if not 0 <= seed < 2**64:
            raise ValueError("seed must fit in 64 bits")
        self._base = seed << 64
        self._next = 1
        self._lock = threading.Lock()

    def new_id(self) -> uuid.UUID:
        with self._lock:
            value = self._next
            self._next += 1
        return uuid.UUID(int=self._base | value)


class PlainCipher:
    """A reversible cipher that is visibly *not* the identity, so tests catch a missing encrypt or decrypt."""

    PREFIX = b"plain:"

    def encrypt(self, plaintext: str) -> bytes:
        return self.PREFIX + plaintext.encode("utf-8")

    def decrypt(self, ciphertext: bytes) -> str:
        if not ciphertext.startswith(self.PREFIX):
            raise ValidationError("not a PlainCipher ciphertext", code="decryption_failed")
        return ciphertext[len(self.PREFIX) :].decode("utf-8")


class RecordingAuditSink:
    """Keeps every recorded audit entry in ``entries``, in order."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []
        self._lock = threading.Lock()

    def record(self, entry: AuditEntry) -> None:
        with self._lock:
            self.entries.append(entry)

    def actions(self) -> list[str]:
        """The recorded actions in order (what most assertions need)."""
        with self._lock:
            return [entry.action for entry in self.entries]


__all__ = ["DEFAULT_START", "FakeClock", "PlainCipher", "RecordingAuditSink", "SequentialIds"]
