"""Webhook rules: which subscription wants which event, what a valid subscription is, how requests look.

Signing scheme (both delivery paths, the broker's and the agents'): when a subscription has a signing
secret, each POST carries

    X-Brokkr-Timestamp: <unix seconds>
    X-Brokkr-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>

The timestamp is inside the signed bytes, so a captured request cannot be replayed later with a fresh
timestamp; receivers recompute the HMAC over the raw body exactly as received, compare in constant time
and reject timestamps too far from their clock (:func:`verify_signature` does all three). Deduplication
of legitimate retries uses the event ``id`` in the payload, which is stable across attempts.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import NoReturn
from urllib.parse import urlsplit
from uuid import UUID

import attrs

from brokkr_domain.errors import ValidationError
from brokkr_domain.labels import validate_label
from brokkr_domain.model import EventType, WebhookFilters, WebhookSubscription

EVENT_TYPES: tuple[str, ...] = tuple(event.value for event in EventType)

MAX_NAME_LENGTH = 255
MAX_URL_LENGTH = 2048
MAX_PATTERN_LENGTH = 100  # deliveries store the event type in VARCHAR(100)
DEFAULT_MAX_RETRIES = 5
DEFAULT_TIMEOUT_SECONDS = 30
MAX_MAX_RETRIES = 100
MAX_TIMEOUT_SECONDS = 300
SIGNATURE_TOLERANCE_SECONDS = 300

SIGNATURE_HEADER = "X-Brokkr-Signature"
TIMESTAMP_HEADER = "X-Brokkr-Timestamp"
EVENT_TYPE_HEADER = "X-Brokkr-Event-Type"
DELIVERY_ID_HEADER = "X-Brokkr-Delivery-Id"

# "*", a dotted name ("workorder.completed"), or a dotted prefix with a final wildcard ("workorder.*").
_PATTERN = re.compile(r"\*|[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(\.\*)?")
_WHITESPACE = re.compile(r"\s")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def event_type_matches(pattern: str, event_type: str) -> bool:
    """``*`` matches everything, ``prefix.*`` every event under ``prefix.``, anything else only itself."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def _invalid(message: str, field: str, code: str = "invalid_webhook") -> NoReturn:
    raise ValidationError(message, code=code, details={"field": field})


def validate_event_type_pattern(pattern: str) -> None:
    """A pattern is ``*``, an event name or ``prefix.*``; a name need not be one of today's 12 types.

    Unknown names are allowed so that subscriptions can be made before a broker emits a new type; malformed
    ones (``deployment*``, ``*.failed``, blanks) are rejected because they could never match anything.
    """
    if len(pattern) > MAX_PATTERN_LENGTH or not _PATTERN.fullmatch(pattern):
        _invalid(f"event type {pattern!r} is not '*', an event name or a 'prefix.*' pattern", "event_types")


@attrs.frozen(kw_only=True)
class EventContext:
    """What an event is about, for filters: the agent or stack concerned and its labels and annotations."""

    agent_id: UUID | None = None
    stack_id: UUID | None = None
    labels: frozenset[str] = frozenset()
    annotations: Mapping[str, str] = attrs.field(factory=dict)


def _label_filter_holds(key: str, value: str, ctx: EventContext) -> bool:
    """``{k: v}`` holds as annotation ``k=v``, as label ``"k=v"``, or as label ``"k"`` when v is empty."""
    if ctx.annotations.get(key) == value:
        return True
    if f"{key}={value}" in ctx.labels:
        return True
    return value == "" and key in ctx.labels


def filters_hold(filters: WebhookFilters | None, ctx: EventContext) -> bool:
    """Every given filter must hold; an event that does not name the filtered agent or stack fails it."""
    if filters is None:
        return True
    if filters.agent_id is not None and filters.agent_id != ctx.agent_id:
        return False
    if filters.stack_id is not None and filters.stack_id != ctx.stack_id:
        return False
    return all(_label_filter_holds(k, v, ctx) for k, v in (filters.labels or {}).items())


def subscription_wants(sub: WebhookSubscription, event_type: str, ctx: EventContext) -> bool:
    """Whether an event becomes a delivery for ``sub``: enabled, some pattern matches, all filters hold."""
    return (
        sub.enabled
        and any(event_type_matches(pattern, event_type) for pattern in sub.event_types)
        and filters_hold(sub.filters, ctx)
    )


def _validate_url(url: str) -> None:
    if not url.strip():
        _invalid("url is required", "url", code="url_required")
    if not url.lower().startswith(("http://", "https://")):
        _invalid("url must start with http:// or https://", "url", code="invalid_url_scheme")
    if len(url) > MAX_URL_LENGTH or _WHITESPACE.search(url) or _CONTROL.search(url):
        _invalid(f"url must be at most {MAX_URL_LENGTH} characters without spaces", "url")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a malformed port
    except ValueError as exc:
        _invalid(f"url is malformed: {exc}", "url")
    if not parts.hostname:
        _invalid("url must name a host", "url")


def _check_range(value: int | None, low: int, high: int, field: str) -> None:
    if value is not None and (isinstance(value, bool) or not low <= value <= high):
        _invalid(f"{field} must be between {low} and {high}, got {value!r}", field)


def validate_subscription(
    name: str,
    url: str,
    event_types: Iterable[str],
    *,
    max_retries: int | None = None,
    timeout_seconds: int | None = None,
    target_labels: Iterable[str] | None = None,
    filters: WebhookFilters | None = None,
    auth_header: str | None = None,
) -> None:
    """Check a subscription as created or fully updated; ``None`` tunables mean "default" or "unchanged".

    Codes: ``url_required``, ``invalid_url_scheme``, ``invalid_label`` (a target label or a filter's label
    key), else ``invalid_webhook`` with ``details.field``. The auth header must not contain line breaks (it
    is sent verbatim as a header value).
    """
    if not name.strip() or len(name) > MAX_NAME_LENGTH:
        _invalid(f"name must be non-blank and at most {MAX_NAME_LENGTH} characters", "name")
    _validate_url(url)
    patterns = list(event_types)
    if not patterns:
        _invalid("at least one event type is required", "event_types")
    for pattern in patterns:
        validate_event_type_pattern(pattern)
    _check_range(max_retries, 0, MAX_MAX_RETRIES, "max_retries")
    _check_range(timeout_seconds, 1, MAX_TIMEOUT_SECONDS, "timeout_seconds")
    for label in target_labels or ():
        validate_label(label)
    for key in (filters.labels or {}) if filters is not None else {}:
        validate_label(key)  # a filter key must be usable as a bare label or annotation key
    if auth_header is not None and _CONTROL.search(auth_header):
        _invalid("auth_header must not contain control characters or line breaks", "auth_header")


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def _unix_seconds(timestamp: datetime | int) -> int:
    """Unix seconds of an aware datetime (the clocks give UTC), or the integer itself."""
    return int(timestamp.timestamp()) if isinstance(timestamp, datetime) else timestamp


def sign_payload(secret: str | bytes, payload: str | bytes, timestamp: datetime | int) -> str:
    """Hex HMAC-SHA256 of ``"<unix seconds>." + body`` (a str body is signed as its UTF-8 bytes)."""
    message = f"{_unix_seconds(timestamp)}.".encode() + _as_bytes(payload)
    return hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()


def signature_headers(secret: str | bytes, payload: str | bytes, timestamp: datetime | int) -> dict[str, str]:
    """The two signature headers for one request."""
    seconds = _unix_seconds(timestamp)
    return {
        SIGNATURE_HEADER: f"sha256={sign_payload(secret, payload, seconds)}",
        TIMESTAMP_HEADER: str(seconds),
    }


def delivery_headers(
    *,
    event_type: str,
    delivery_id: UUID,
    auth_header: str | None,
    signing_secret: str | None,
    payload: str | bytes,
    timestamp: datetime | int,
) -> dict[str, str]:
    """Exactly the headers both delivery paths send (contract decision 8).

    The body must be sent as ``payload`` (UTF-8 encoded when a str), byte for byte, or the signature
    will not verify.
    """
    headers = {
        "Content-Type": "application/json",
        EVENT_TYPE_HEADER: event_type,
        DELIVERY_ID_HEADER: str(delivery_id),
    }
    if auth_header:
        headers["Authorization"] = auth_header
    if signing_secret:
        headers.update(signature_headers(signing_secret, payload, timestamp))
    return headers


def verify_signature(
    secret: str | bytes,
    payload: str | bytes,
    timestamp_header: str | None,
    signature_header: str | None,
    *,
    now: datetime | int,
    tolerance_seconds: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does: the timestamp is recent (±tolerance) and the signature matches, compared in
    constant time. Missing or malformed headers are simply a failed verification."""
    if not timestamp_header or not signature_header or not signature_header.startswith("sha256="):
        return False
    try:
        sent = int(timestamp_header)
    except ValueError:
        return False
    if abs(_unix_seconds(now) - sent) > tolerance_seconds:
        return False
    provided = signature_header.removeprefix("sha256=")
    if not provided.isascii():
        return False
    return hmac.compare_digest(sign_payload(secret, payload, sent), provided)


__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT_SECONDS",
    "DELIVERY_ID_HEADER",
    "EVENT_TYPES",
    "EVENT_TYPE_HEADER",
    "MAX_MAX_RETRIES",
    "MAX_TIMEOUT_SECONDS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "EventContext",
    "delivery_headers",
    "event_type_matches",
    "filters_hold",
    "sign_payload",
    "signature_headers",
    "subscription_wants",
    "validate_event_type_pattern",
    "validate_subscription",
    "verify_signature",
]
