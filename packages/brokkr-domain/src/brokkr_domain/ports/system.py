"""Small system ports: time, identifiers, secret encryption and the audit sink."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Protocol

from brokkr_domain.model import AuditEntry


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class IdGenerator(Protocol):
    def new_id(self) -> uuid.UUID: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class RandomIds:
    def new_id(self) -> uuid.UUID:
        return uuid.uuid4()


class SecretCipher(Protocol):
    """Encrypts secrets at rest (webhook URLs, auth headers, signing secrets)."""

    def encrypt(self, plaintext: str) -> bytes: ...
    def decrypt(self, ciphertext: bytes) -> str: ...


class AuditSink(Protocol):
    """Where use cases record audit entries; the broker batches them into the audit log."""

    def record(self, entry: AuditEntry) -> None: ...
