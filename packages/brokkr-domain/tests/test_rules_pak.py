"""PAK rules: the reference format and vector, base58, generation/verification and hostile input."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokkr_domain.errors import UnauthorizedError, ValidationError
from brokkr_domain.pak import (
    BASE58_ALPHABET,
    MAX_PAK_LENGTH,
    PakSettings,
    b58decode,
    b58encode,
    generate_pak,
    hash_pak,
    is_valid_pak_hash,
    parse_pak,
    verify_pak,
)

KNOWN_KEY = "brokkr_BR3rVsDa_GK3QN7CDUzYc6iKgMkJ98M2WSimM5t6U8"
KNOWN_HASH = "4c697273df3d764cba950bb5c04368097685f09259f5bd880d892cf1ff9f4cdd"

base58_text = st.text(alphabet=BASE58_ALPHABET, min_size=1, max_size=60)


def test_known_vector_of_the_reference() -> None:
    assert hash_pak(KNOWN_KEY) == KNOWN_HASH
    assert verify_pak(KNOWN_KEY, KNOWN_HASH)
    parsed = parse_pak(KNOWN_KEY)
    assert (parsed.prefix, parsed.short_token, parsed.long_token) == (
        "brokkr",
        "BR3rVsDa",
        "GK3QN7CDUzYc6iKgMkJ98M2WSimM5t6U8",
    )


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {KNOWN_KEY}",
        f"bearer {KNOWN_KEY}",
        f"BEARER\t{KNOWN_KEY}",
        f"  Bearer   {KNOWN_KEY}  ",
        f"\n{KNOWN_KEY}\n",
    ],
)
def test_bearer_scheme_and_bare_key_are_accepted(header: str) -> None:
    assert hash_pak(header) == KNOWN_HASH
    assert verify_pak(header, KNOWN_HASH)


def test_stored_hash_comparison_ignores_hex_case() -> None:
    assert verify_pak(KNOWN_KEY, KNOWN_HASH.upper())


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "missing API key"),
        ("   ", "missing API key"),
        ("Bearer", "missing API key"),
        ("Bearer    ", "missing API key"),
        ("brokkr_BR3rVsDa", "expected 3 parts"),
        ("a_b_c_d", "expected 3 parts"),
        ("brokkr__GK3QN7", "short token is empty"),
        ("_BR3rVsDa_GK3QN7", "prefix is empty"),
        ("brokkr_BR3rVsDa_", "long token is empty"),
        ("brokkr_BR0_GK3QN7", "short token contains characters outside base58"),
        ("brokkr_BR3_GK3QNl", "long token contains characters outside base58"),
        ("bro.kkr_BR3_GK3", "prefix must be"),
        ("Basic dXNlcjpwYXNz", "unsupported authorization scheme"),
        ("brokkr_BR_" + "a" * 600, "longer than"),
        ("x" * 5000, "longer than"),
    ],
)
def test_malformed_keys_are_unauthorized_with_a_clear_message(text: str, fragment: str) -> None:
    with pytest.raises(UnauthorizedError) as caught:
        parse_pak(text)
    assert fragment in caught.value.message
    assert caught.value.code == "unauthorized"
    assert not verify_pak(text, KNOWN_HASH)


def test_error_messages_never_echo_the_secret() -> None:
    secret = "GK3QN7CDUzYc6iKgMkJ98M2WSimM5t6U8"
    for text in (f"brokkr_BR3rVsDa_{secret}_extra", f"Token {secret}", f"brokkr_BR0_{secret}"):
        with pytest.raises(UnauthorizedError) as caught:
            parse_pak(text)
        assert secret not in caught.value.message


@given(st.binary(max_size=64))
def test_base58_round_trip(data: bytes) -> None:
    encoded = b58encode(data)
    assert set(encoded) <= set(BASE58_ALPHABET)
    assert b58decode(encoded) == data


@given(base58_text)
def test_base58_decode_then_encode_is_identity(text: str) -> None:
    assert b58encode(b58decode(text)) == text


def test_base58_known_values() -> None:
    assert b58encode(b"") == ""
    assert b58encode(b"\0\0\x01") == "112"
    assert b58encode(b"hello world") == "StV1DL6CwTryKyV"
    with pytest.raises(ValueError, match="not a base58 character"):
        b58decode("0OIl")


@given(st.randoms(use_true_random=False))
def test_generated_keys_verify_and_hash_the_long_token(rnd: random.Random) -> None:
    generated = generate_pak(rng=rnd.randbytes)
    parsed = parse_pak(generated.key)
    assert generated.hash == hashlib.sha256(parsed.long_token.encode()).hexdigest()
    assert is_valid_pak_hash(generated.hash)
    assert verify_pak(generated.key, generated.hash)
    assert verify_pak(f"Bearer {generated.key}", generated.hash)
    assert parsed.prefix == "brokkr"
    assert parsed.short_token.startswith("BR")
    assert len(parsed.short_token) == 8
    assert 24 <= len(parsed.long_token) <= 33


@given(st.randoms(use_true_random=False), st.data())
def test_changing_any_character_of_the_long_token_breaks_verification(
    rnd: random.Random, data: st.DataObject
) -> None:
    generated = generate_pak(rng=rnd.randbytes)
    long_start = generated.key.rindex("_") + 1
    position = data.draw(st.integers(min_value=long_start, max_value=len(generated.key) - 1))
    replacement = data.draw(st.sampled_from(BASE58_ALPHABET).filter(lambda c: c != generated.key[position]))
    tampered = generated.key[:position] + replacement + generated.key[position + 1 :]
    assert not verify_pak(tampered, generated.hash)


@given(
    st.text(alphabet="abcXYZ019-", min_size=1, max_size=10),
    st.text(alphabet=BASE58_ALPHABET, max_size=4),
    st.integers(min_value=1, max_value=20),
    st.integers(min_value=1, max_value=64),
    st.randoms(use_true_random=False),
)
def test_every_valid_setting_generates_parsable_keys(
    prefix: str, short_prefix: str, short_length: int, long_length: int, rnd: random.Random
) -> None:
    settings = PakSettings(
        prefix=prefix,
        short_token_prefix=short_prefix,
        short_token_length=short_length,
        long_token_length=long_length,
    )
    generated = generate_pak(settings, rng=rnd.randbytes)
    parsed = parse_pak(generated.key)
    assert parsed.prefix == prefix
    assert len(parsed.short_token) == short_length
    assert parsed.short_token.startswith(short_prefix[:short_length])
    assert verify_pak(generated.key, generated.hash)


def test_short_token_is_prefix_plus_base58_truncated() -> None:
    generated = generate_pak(rng=lambda n: bytes(range(1, n + 1)))
    short = parse_pak(generated.key).short_token
    assert short == ("BR" + b58encode(bytes(range(1, 9))))[:8]
    assert parse_pak(generated.key).long_token == b58encode(bytes(range(1, 25)))


@pytest.mark.parametrize(
    "overrides",
    [
        {"prefix": "has_underscore"},
        {"prefix": ""},
        {"prefix": "x" * 65},
        {"short_token_prefix": "B_"},
        {"short_token_prefix": "0"},
        {"short_token_length": 0},
        {"long_token_length": 0},
        {"long_token_length": 257},
    ],
)
def test_settings_that_would_break_parsing_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PakSettings(**overrides)  # type: ignore[arg-type]


@given(st.text(max_size=700))
def test_random_text_parses_or_is_unauthorized(text: str) -> None:
    try:
        parsed = parse_pak(text)
    except UnauthorizedError:
        assert not verify_pak(text, KNOWN_HASH)
        return
    assert parsed.prefix and parsed.short_token and parsed.long_token
    assert is_valid_pak_hash(hash_pak(text))


@given(base58_text, base58_text, st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20))
def test_three_well_formed_parts_always_parse(short: str, long: str, prefix: str) -> None:
    parsed = parse_pak(f"{prefix}_{short}_{long}")
    assert (parsed.prefix, parsed.short_token, parsed.long_token) == (prefix, short, long)
    assert hash_pak(f"{prefix}_{short}_{long}") == hashlib.sha256(long.encode()).hexdigest()


def test_length_limit_boundary() -> None:
    key = "p_s_" + "a" * (MAX_PAK_LENGTH - 4)
    assert len(key) == MAX_PAK_LENGTH
    assert parse_pak(key).long_token == "a" * (MAX_PAK_LENGTH - 4)
    with pytest.raises(UnauthorizedError):
        parse_pak(key + "a")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (KNOWN_HASH, True),
        ("0" * 64, True),
        (KNOWN_HASH.upper(), False),
        (KNOWN_HASH[:-1], False),
        (KNOWN_HASH + "0", False),
        (KNOWN_HASH + "\n", False),
        ("g" * 64, False),
        (None, False),
        (42, False),
    ],
)
def test_is_valid_pak_hash(value: object, expected: bool) -> None:
    assert is_valid_pak_hash(value) is expected


def test_verify_with_garbage_stored_hash_is_false() -> None:
    assert not verify_pak(KNOWN_KEY, "")
    assert not verify_pak(KNOWN_KEY, "é" * 64)
    assert not verify_pak(KNOWN_KEY, "\ud800")
