"""Prefixed API Keys (PAKs): how Brokkr's callers authenticate.

A key reads ``{prefix}_{short_token}_{long_token}``, for example
``brokkr_BR3rVsDa_GK3QN7CDUzYc6iKgMkJ98M2WSimM5t6U8``. The format is the reference's (Seam-style keys of the
``prefixed-api-key`` crate), so keys issued by the Rust broker keep working and its test vectors hold:

* the short token is ``short_token_prefix`` followed by base58 of random bytes, cut to ``short_token_length``
  characters (``BR`` + 6 characters by default);
* the long token is base58 (Bitcoin alphabet) of ``long_token_length`` random *bytes*, so its length varies
  (about 31-33 characters for 24 bytes);
* only the SHA-256 of the long token is stored (lowercase hex); prefix and short token are not hashed.

Unlike the reference, parsing never panics: anything that is not a well-formed key raises
``UnauthorizedError`` (so the broker answers 401 and nothing else), and error messages never echo the key,
which is a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable

import attrs

from brokkr_domain.errors import UnauthorizedError, ValidationError

BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {char: index for index, char in enumerate(BASE58_ALPHABET)}
_BASE58_CHARS = frozenset(BASE58_ALPHABET)

#: Longest key accepted by ``parse_pak``; real keys are about 50 characters.
MAX_PAK_LENGTH = 512
#: Longest ``Authorization`` value looked at; anything longer is rejected before any work is done on it.
_MAX_HEADER_LENGTH = 2 * MAX_PAK_LENGTH
_PREFIX_PATTERN = re.compile(r"[A-Za-z0-9-]{1,64}")
_PAK_HASH_PATTERN = re.compile(r"[0-9a-f]{64}")
_WHITESPACE = re.compile(r"\s")
_BEARER = re.compile(r"bearer(?:\s+(.*))?", re.IGNORECASE | re.DOTALL)


def b58encode(data: bytes) -> str:
    """Base58 (Bitcoin alphabet) of ``data``; every leading zero byte becomes a leading ``1``."""
    zeros = len(data) - len(data.lstrip(b"\0"))
    number = int.from_bytes(data, "big")
    digits: list[str] = []
    while number:
        number, remainder = divmod(number, 58)
        digits.append(BASE58_ALPHABET[remainder])
    return "1" * zeros + "".join(reversed(digits))


def b58decode(text: str) -> bytes:
    """Inverse of ``b58encode``; ``ValueError`` for a character outside the alphabet."""
    number = 0
    for char in text:
        index = _BASE58_INDEX.get(char)
        if index is None:
            raise ValueError(f"not a base58 character: {char!r}")
        number = number * 58 + index
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body


def _check_prefix(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    if not _PREFIX_PATTERN.fullmatch(value):
        raise ValidationError(
            f"pak.prefix must be 1-64 ASCII letters, digits or '-', got {value!r}",
            code="invalid_configuration",
        )


def _check_short_prefix(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    if not _BASE58_CHARS.issuperset(value):
        raise ValidationError(
            f"pak.short_token_prefix must use base58 characters only, got {value!r}",
            code="invalid_configuration",
        )


def _check_length(limit: int) -> Callable[[object, attrs.Attribute[int], int], None]:
    def check(_inst: object, attr: attrs.Attribute[int], value: int) -> None:
        if not 1 <= value <= limit:
            raise ValidationError(
                f"pak.{attr.name} must be between 1 and {limit}, got {value}", code="invalid_configuration"
            )

    return check


@attrs.frozen(kw_only=True)
class PakSettings:
    """How new keys look. The validators guarantee that every generated key parses (no ``_`` in any part)."""

    prefix: str = attrs.field(default="brokkr", validator=_check_prefix)
    short_token_prefix: str = attrs.field(default="BR", validator=_check_short_prefix)
    short_token_length: int = attrs.field(default=8, validator=_check_length(64))
    long_token_length: int = attrs.field(default=24, validator=_check_length(256))


@attrs.frozen
class GeneratedPak:
    """A fresh key (shown to its owner once) and the hash to store."""

    key: str = attrs.field(repr=False)
    hash: str


@attrs.frozen
class ParsedPak:
    """The three parts of a well-formed key."""

    prefix: str
    short_token: str
    long_token: str = attrs.field(repr=False)


def generate_pak(
    settings: PakSettings | None = None, rng: Callable[[int], bytes] = secrets.token_bytes
) -> GeneratedPak:
    """Create a new key from the OS CSPRNG (``rng`` is injectable so tests can be deterministic)."""
    settings = settings or PakSettings()
    short_random = b58encode(rng(settings.short_token_length))
    short_token = (settings.short_token_prefix + short_random)[: settings.short_token_length]
    long_token = b58encode(rng(settings.long_token_length))
    key = f"{settings.prefix}_{short_token}_{long_token}"
    return GeneratedPak(key=key, hash=_sha256_hex(long_token))


def _strip_scheme(text: str) -> str:
    """The key from an ``Authorization`` value: ``Bearer <key>`` (any case) or the bare key."""
    stripped = text.strip()
    bearer = _BEARER.fullmatch(stripped)
    if bearer is None:
        return stripped
    return (bearer.group(1) or "").strip()


def parse_pak(text: str) -> ParsedPak:
    """Split a key (or ``Authorization`` value) into its parts; ``UnauthorizedError`` if it is not a PAK."""
    if not isinstance(text, str):
        raise UnauthorizedError("malformed API key: expected text")
    if len(text) > _MAX_HEADER_LENGTH:
        raise UnauthorizedError(f"malformed API key: longer than {MAX_PAK_LENGTH} characters")
    key = _strip_scheme(text)
    if not key:
        raise UnauthorizedError("missing API key (expected: Bearer <PAK>)")
    if len(key) > MAX_PAK_LENGTH:
        raise UnauthorizedError(f"malformed API key: longer than {MAX_PAK_LENGTH} characters")
    if _WHITESPACE.search(key):
        raise UnauthorizedError(
            "malformed API key: unsupported authorization scheme (expected: Bearer <PAK>)"
        )
    parts = key.split("_")
    if len(parts) != 3:
        raise UnauthorizedError(
            f"malformed API key: expected 3 parts separated by '_' (prefix_short_long), got {len(parts)}"
        )
    prefix, short_token, long_token = parts
    for name, part in (("prefix", prefix), ("short token", short_token), ("long token", long_token)):
        if not part:
            raise UnauthorizedError(f"malformed API key: the {name} is empty")
    if not _PREFIX_PATTERN.fullmatch(prefix):
        raise UnauthorizedError("malformed API key: the prefix must be 1-64 ASCII letters, digits or '-'")
    for name, part in (("short token", short_token), ("long token", long_token)):
        if not _BASE58_CHARS.issuperset(part):
            raise UnauthorizedError(f"malformed API key: the {name} contains characters outside base58")
    return ParsedPak(prefix=prefix, short_token=short_token, long_token=long_token)


def _sha256_hex(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def hash_pak(text: str) -> str:
    """The stored form of a key: hex SHA-256 of its long token (``UnauthorizedError`` if malformed)."""
    return _sha256_hex(parse_pak(text).long_token)


def verify_pak(text: str, stored_hash: str) -> bool:
    """Whether ``text`` is the key whose hash is ``stored_hash``, compared in constant time.

    A malformed key is simply not the key: ``False``, never an exception.
    """
    try:
        candidate = hash_pak(text)
    except UnauthorizedError:
        return False
    expected = stored_hash.lower().encode("utf-8", "surrogatepass") if isinstance(stored_hash, str) else b""
    return hmac.compare_digest(candidate.encode("ascii"), expected)


def is_valid_pak_hash(value: object) -> bool:
    """Whether ``value`` looks like a stored PAK hash: exactly 64 lowercase hex digits."""
    return isinstance(value, str) and _PAK_HASH_PATTERN.fullmatch(value) is not None


__all__ = [
    "BASE58_ALPHABET",
    "MAX_PAK_LENGTH",
    "GeneratedPak",
    "PakSettings",
    "ParsedPak",
    "b58decode",
    "b58encode",
    "generate_pak",
    "hash_pak",
    "is_valid_pak_hash",
    "parse_pak",
    "verify_pak",
]
