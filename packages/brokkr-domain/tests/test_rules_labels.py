"""Input rules for labels, annotations, names and schema names; content checksums."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokkr_domain.checksum import template_checksum, yaml_checksum
from brokkr_domain.errors import ValidationError
from brokkr_domain.labels import (
    validate_annotation,
    validate_label,
    validate_name,
    validate_schema_name,
)


@pytest.mark.parametrize("label", ["prod", "env=prod", "env:prod", "a", "x" * 64, "é" * 32, "k8s.io/app=web"])
def test_valid_labels(label: str) -> None:
    assert validate_label(label) == label


@pytest.mark.parametrize(
    ("label", "fragment"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("has space", "must not contain whitespace"),
        (" lead", "must not contain whitespace"),
        ("tab\there", "must not contain whitespace"),
        ("nbsp\u00a0x", "must not contain whitespace"),
        ("x" * 65, "at most 64 bytes, got 65"),
        ("é" * 33, "at most 64 bytes, got 66"),
        ("nul\0", "NUL"),
    ],
)
def test_invalid_labels_name_the_value(label: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_label(label)
    assert caught.value.code == "invalid_label"
    assert fragment in caught.value.message
    if label.strip():
        assert repr(label[:20])[:-1] in caught.value.message


def test_long_values_are_shortened_in_messages() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_label("y" * 5000)
    assert len(caught.value.message) < 200


def test_non_strings_are_refused() -> None:
    with pytest.raises(ValidationError, match="must be a string"):
        validate_label(5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="invalid name"):
        validate_name(None)  # type: ignore[arg-type]


@given(st.text(max_size=80))
def test_label_rule_is_exactly_the_reference_rule(label: str) -> None:
    expected = (
        bool(label.strip())
        and not any(c.isspace() for c in label)
        and "\0" not in label
        and len(label.encode("utf-8", "surrogatepass")) <= 64
    )
    try:
        validate_label(label)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted is expected


def test_annotations_check_key_and_value() -> None:
    assert validate_annotation("tier", "gold") == ("tier", "gold")
    assert validate_annotation("a=b", "c:d") == ("a=b", "c:d")
    for key, value, part in [
        ("", "v", "key"),
        ("k", "", "value"),
        ("k", "a b", "value"),
        ("k" * 65, "v", "key"),
    ]:
        with pytest.raises(ValidationError) as caught:
            validate_annotation(key, value)
        assert caught.value.code == "invalid_annotation"
        assert caught.value.message.startswith(f"invalid annotation {part}")
        assert caught.value.details == {"field": part}


def test_names() -> None:
    assert validate_name("my stack") == "my stack"
    assert validate_name("x" * 255) == "x" * 255
    for bad in ["", "   ", "x" * 256, "a\0b"]:
        with pytest.raises(ValidationError) as caught:
            validate_name(bad)
        assert caught.value.code == "invalid_name"
    assert validate_name("x" * 10, max_len=10) == "x" * 10
    with pytest.raises(ValidationError, match="at most 5 characters"):
        validate_name("x" * 6, max_len=5)


@pytest.mark.parametrize("name", ["valid_schema", "schema123", "_private", "tenant_a", "a" * 63])
def test_valid_schema_names(name: str) -> None:
    assert validate_schema_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "1invalid",
        "has-dash",
        "has space",
        "has.dot",
        "has;semicolon",
        "has'quote",
        "Upper",
        "a" * 64,
        "pg_catalog",
    ],
)
def test_invalid_schema_names(name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_schema_name(name)
    assert caught.value.code == "invalid_schema_name"


@given(st.text(max_size=70))
def test_accepted_schema_names_are_safe_sql_identifiers(name: str) -> None:
    try:
        validate_schema_name(name)
    except ValidationError:
        return
    assert name.isascii() and (name.replace("_", "").isalnum() or set(name) == {"_"})
    assert name == name.lower() and not name[0].isdigit() and len(name) <= 63


def test_checksums_are_sha256_hex_of_utf8() -> None:
    assert yaml_checksum("") == hashlib.sha256(b"").hexdigest()
    assert template_checksum("é") == hashlib.sha256("é".encode()).hexdigest()
    assert yaml_checksum("a\r\n") != yaml_checksum("a\n"), "no normalisation"


@given(st.text())
def test_checksums_are_deterministic_and_never_fail(text: str) -> None:
    assert yaml_checksum(text) == yaml_checksum(text) == template_checksum(text)
    assert len(yaml_checksum(text)) == 64


def test_checksum_of_lone_surrogate_does_not_raise() -> None:
    assert len(yaml_checksum("\ud800")) == 64
