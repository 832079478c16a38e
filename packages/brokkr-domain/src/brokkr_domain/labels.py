"""Input rules for labels, annotations, names and tenant schema names.

Labels and annotations are matched byte for byte between agents, stacks, templates and work orders, so the
reference's rules apply everywhere (it enforced them only on some endpoints): non-blank, at most 64 bytes of
UTF-8, no whitespace; ``=`` and ``:`` are fine (``env=prod``). NUL characters are refused too, because
PostgreSQL cannot store them in text and would otherwise turn the request into a 500.

Error messages name the offending value (shortened) so that a caller sees which of its inputs is wrong.
"""

from __future__ import annotations

import re

from brokkr_domain.errors import ValidationError

MAX_LABEL_BYTES = 64
MAX_ANNOTATION_BYTES = 64
DEFAULT_MAX_NAME_LENGTH = 255
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SHOWN = 80


def _shown(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "...")


def _message(what: str, value: object, problem: str) -> str:
    shown = f" {_shown(value)}" if isinstance(value, str) else ""
    return f"invalid {what}{shown}: {problem}"


def _problem(value: object, max_bytes: int) -> str | None:
    """Why ``value`` is not a valid label-like token, or ``None`` if it is."""
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if not value.strip():
        return "must not be empty"
    if any(char.isspace() for char in value):
        return "must not contain whitespace"
    if "\0" in value:
        return "must not contain NUL characters"
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        return f"must be at most {max_bytes} bytes, got {size}"
    return None


def validate_label(label: str) -> str:
    """Return ``label`` unchanged if valid; otherwise ``ValidationError(code="invalid_label")``."""
    problem = _problem(label, MAX_LABEL_BYTES)
    if problem is not None:
        raise ValidationError(
            _message("label", label, problem),
            code="invalid_label",
            details={"label": label if isinstance(label, str) else None},
        )
    return label


def validate_annotation(key: str, value: str) -> tuple[str, str]:
    """Return ``(key, value)`` if both are valid; otherwise ``ValidationError(code="invalid_annotation")``."""
    for part, text in (("key", key), ("value", value)):
        problem = _problem(text, MAX_ANNOTATION_BYTES)
        if problem is not None:
            raise ValidationError(
                _message(f"annotation {part}", text, problem),
                code="invalid_annotation",
                details={"field": part},
            )
    return key, value


def validate_name(name: str, max_len: int = DEFAULT_MAX_NAME_LENGTH) -> str:
    """Return ``name`` if it is a usable name (non-blank, at most ``max_len`` characters, no NUL)."""
    if not isinstance(name, str):
        raise ValidationError(
            f"invalid name: must be a string, got {type(name).__name__}", code="invalid_name"
        )
    if not name.strip():
        raise ValidationError("invalid name: must not be blank", code="invalid_name")
    if "\0" in name:
        raise ValidationError(
            f"invalid name {_shown(name)}: must not contain NUL characters", code="invalid_name"
        )
    if len(name) > max_len:
        raise ValidationError(
            f"invalid name {_shown(name)}: must be at most {max_len} characters, got {len(name)}",
            code="invalid_name",
        )
    return name


def validate_schema_name(name: str) -> str:
    """Return ``name`` if it can name a tenant's PostgreSQL schema; else ``invalid_schema_name``.

    The name is spliced into ``CREATE SCHEMA``/``SET search_path`` (identifiers cannot be bound parameters),
    so the rule is strict: a lowercase letter or ``_``, then lowercase letters, digits or ``_``, 63 characters
    at most (PostgreSQL's identifier length), and not ``pg_``-prefixed (reserved for system schemas).
    """
    if not isinstance(name, str) or not _SCHEMA_NAME.fullmatch(name):
        shown = _shown(name) if isinstance(name, str) else type(name).__name__
        raise ValidationError(
            f"invalid schema name {shown}: "
            "use 1-63 lowercase letters, digits or '_', not starting with a digit",
            code="invalid_schema_name",
        )
    if name.startswith("pg_"):
        raise ValidationError(
            f"invalid schema name {_shown(name)}: the prefix 'pg_' is reserved for system schemas",
            code="invalid_schema_name",
        )
    return name


__all__ = [
    "DEFAULT_MAX_NAME_LENGTH",
    "MAX_ANNOTATION_BYTES",
    "MAX_LABEL_BYTES",
    "validate_annotation",
    "validate_label",
    "validate_name",
    "validate_schema_name",
]
