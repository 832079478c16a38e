"""Webhook secrets at rest (contract decision 12): AES-256-GCM v1, the legacy format, key handling."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from brokerapp_support import Broker
from brokkr_broker_app.bootstrap import write_admin_pak
from brokkr_broker_app.crypto import (
    KEY_FILE_NAME,
    AesGcmCipher,
    DecryptionError,
    legacy_encrypt,
    load_or_create_key,
)
from brokkr_domain.errors import ValidationError

KEY = bytes(range(32))
CIPHER = AesGcmCipher(KEY)


@given(st.text(max_size=300))
def test_round_trip(plaintext: str) -> None:
    assert CIPHER.decrypt(CIPHER.encrypt(plaintext)) == plaintext


def test_the_v1_format_and_fresh_nonces() -> None:
    one, two = CIPHER.encrypt("https://hooks.example/x"), CIPHER.encrypt("https://hooks.example/x")
    assert one[0] == 0x01 and len(one) == 1 + 12 + len("https://hooks.example/x") + 16
    assert one[1:13] != two[1:13] and one != two
    assert b"hooks.example" not in one


def test_tampering_and_the_wrong_key_are_clear_errors() -> None:
    blob = bytearray(CIPHER.encrypt("secret"))
    blob[-1] ^= 1
    with pytest.raises(DecryptionError):
        CIPHER.decrypt(bytes(blob))
    with pytest.raises(DecryptionError, match="does not match the configured key"):
        AesGcmCipher(bytes(32)).decrypt(CIPHER.encrypt("secret"))
    for short in (b"", b"\x01short", b"abc"):
        with pytest.raises(DecryptionError, match="too short"):
            CIPHER.decrypt(short)


def test_legacy_values_stay_readable() -> None:
    nonce = b"N" * 16
    mask = hashlib.sha256(KEY + nonce).digest()
    vector = nonce + bytes(b ^ mask[i % 32] for i, b in enumerate(b"hi there"))  # built by hand
    assert legacy_encrypt(KEY, "hi there", nonce) == vector
    assert CIPHER.decrypt(vector) == "hi there"  # bare legacy blob
    assert CIPHER.decrypt(b"\x00" + vector) == "hi there"  # version-0 prefix
    long_text = "Bearer " + "x" * 100  # longer than the 32-byte mask: it repeats
    assert CIPHER.decrypt(legacy_encrypt(KEY, long_text, b"\x42" + os.urandom(15))) == long_text


def test_a_legacy_value_that_is_not_text_is_a_clear_error() -> None:
    nonce = b"\x42" * 16
    mask = hashlib.sha256(KEY + nonce).digest()
    blob = nonce + bytes(b ^ mask[i] for i, b in enumerate(b"\xff\xfe"))
    with pytest.raises(DecryptionError, match="UTF-8"):
        CIPHER.decrypt(blob)


def test_a_key_must_be_32_bytes() -> None:
    with pytest.raises(ValidationError):
        AesGcmCipher(b"short")


def test_a_missing_key_is_generated_once_persisted_owner_only_and_reused(tmp_path: Path) -> None:
    key = load_or_create_key(None, tmp_path)
    path = tmp_path / KEY_FILE_NAME
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(None, tmp_path) == key
    assert load_or_create_key("", tmp_path) == key
    configured = "ab" * 32
    assert load_or_create_key(configured, tmp_path) == bytes.fromhex(configured)


@pytest.mark.parametrize("content", ["not hex at all", "abcd"])
def test_a_damaged_key_file_stops_startup_instead_of_replacing_the_key(tmp_path: Path, content: str) -> None:
    (tmp_path / KEY_FILE_NAME).write_text(content)
    with pytest.raises(ValidationError, match=KEY_FILE_NAME):
        load_or_create_key(None, tmp_path)
    assert (tmp_path / KEY_FILE_NAME).read_text() == content


def test_the_first_admin_key_file_is_owner_only(tmp_path: Path) -> None:
    path = write_admin_pak(tmp_path, "brokkr_BRabcdef_first")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == "brokkr_BRabcdef_first\n"
    write_admin_pak(tmp_path, "brokkr_BRabcdef_second")
    assert path.read_text() == "brokkr_BRabcdef_second\n" and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_only_ciphertext_reaches_the_table(broker: Broker) -> None:
    hook = broker.create_webhook(
        "https://hooks.example/very-secret-path", auth_header="Bearer t0ken", signing_secret="hmac"
    )
    with broker.database.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT url_encrypted, auth_header_encrypted, signing_secret_encrypted FROM webhook_subscriptions WHERE id = :id"
            ),
            {"id": hook["id"]},
        ).one()
    for value in row:
        assert bytes(value)[0] == 0x01
        assert (
            b"very-secret" not in bytes(value)
            and b"t0ken" not in bytes(value)
            and b"hmac" not in bytes(value)
        )
