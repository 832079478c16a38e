"""Encryption of webhook secrets at rest (contract decision 12).

Format v1: ``0x01 | nonce (12 random bytes) | AES-256-GCM ciphertext + 16-byte tag`` (no associated data).
The legacy format of the reference stays readable: ``0x00 | blob`` or a bare blob of at least 16 bytes, where
``nonce = blob[:16]``, ``mask = SHA-256(key || nonce)`` and ``plaintext[i] = blob[16 + i] ^ mask[i % 32]``.
The key comes from configuration (64 hex chars) or is generated once and persisted in the data directory, never
silently regenerated: a key file that exists but cannot be read stops startup.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from brokkr_domain.errors import BrokkrError, ValidationError

VERSION_AES_GCM = 0x01
VERSION_LEGACY = 0x00
NONCE_LEN = 12
LEGACY_NONCE_LEN = 16
KEY_FILE_NAME = "webhook-encryption.key"


class DecryptionError(BrokkrError):
    code = "decryption_failed"


class AesGcmCipher:
    """The broker's ``SecretCipher``."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValidationError("the webhook encryption key must be 32 bytes (64 hex characters)")
        self._key = key
        self._aead = AESGCM(key)

    @property
    def fingerprint(self) -> str:
        """First 8 bytes of SHA-256(key) in hex: safe to log, identifies the key."""
        return hashlib.sha256(self._key).hexdigest()[:16]

    def encrypt(self, plaintext: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_LEN)
        return bytes([VERSION_AES_GCM]) + nonce + self._aead.encrypt(nonce, plaintext.encode("utf-8"), None)

    def decrypt(self, ciphertext: bytes) -> str:
        if ciphertext[:1] == bytes([VERSION_AES_GCM]):
            body = ciphertext[1:]
            if len(body) < NONCE_LEN + 16:
                raise DecryptionError("encrypted value is too short")
            try:
                raw = self._aead.decrypt(body[:NONCE_LEN], body[NONCE_LEN:], None)
            except InvalidTag as exc:
                raise DecryptionError("encrypted value does not match the configured key") from exc
        elif ciphertext[:1] == bytes([VERSION_LEGACY]):
            raw = self._legacy(ciphertext[1:])
        elif len(ciphertext) >= LEGACY_NONCE_LEN:
            raw = self._legacy(ciphertext)
        else:
            raise DecryptionError("encrypted value is too short")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecryptionError("decrypted value is not UTF-8 text") from exc

    def _legacy(self, blob: bytes) -> bytes:
        if len(blob) < LEGACY_NONCE_LEN:
            raise DecryptionError("encrypted value is too short")
        nonce, body = blob[:LEGACY_NONCE_LEN], blob[LEGACY_NONCE_LEN:]
        mask = hashlib.sha256(self._key + nonce).digest()
        return bytes(b ^ mask[i % 32] for i, b in enumerate(body))


def legacy_encrypt(key: bytes, plaintext: str, nonce: bytes) -> bytes:
    """Produce the reference's legacy format (only used to build test vectors)."""
    mask = hashlib.sha256(key + nonce).digest()
    return nonce + bytes(b ^ mask[i % 32] for i, b in enumerate(plaintext.encode("utf-8")))


def load_or_create_key(configured_hex: str | None, data_dir: Path) -> bytes:
    """The configured key, else the persisted one, else a new key written once with owner-only permissions."""
    if configured_hex:
        return bytes.fromhex(configured_hex)
    path = data_dir / KEY_FILE_NAME
    if path.exists():
        text = path.read_text(encoding="ascii").strip()
        try:
            key = bytes.fromhex(text)
        except ValueError as exc:
            raise ValidationError(f"{path} does not hold a hex key; restore it or set a key") from exc
        if len(key) != 32:
            raise ValidationError(f"{path} does not hold a 32-byte key; restore it or set a key")
        return key
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.hex() + "\n")
    return key
