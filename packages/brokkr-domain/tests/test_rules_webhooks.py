"""Webhook rules: pattern matching, filters, subscription validation, headers and signatures."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokkr_domain.errors import ValidationError
from brokkr_domain.model import EventType, WebhookFilters, WebhookSubscription
from brokkr_domain.rules import webhooks as wh

T0 = datetime(2024, 1, 1, tzinfo=UTC)
AGENT = uuid.UUID(int=1)
STACK = uuid.UUID(int=2)


def subscription(*patterns: str, **overrides: Any) -> WebhookSubscription:
    fields: dict[str, Any] = {
        "id": uuid.UUID(int=10),
        "name": "ops",
        "url": "https://hooks.example.com/brokkr",
        "event_types": patterns or ("*",),
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(overrides)
    return WebhookSubscription(**fields)


def test_the_twelve_event_types() -> None:
    assert len(wh.EVENT_TYPES) == 12
    assert wh.EVENT_TYPES[0] == "agent.registered"
    assert set(wh.EVENT_TYPES) == {e.value for e in EventType}


@pytest.mark.parametrize(
    ("pattern", "event_type", "matches"),
    [
        ("*", "stack.created", True),
        ("workorder.*", "workorder.failed", True),
        ("workorder.*", "workorders.failed", False),
        ("workorder.*", "workorder", False),
        ("deployment.applied", "deployment.applied", True),
        ("deployment.applied", "deployment.failed", False),
        ("deployment", "deployment.applied", False),
    ],
)
def test_pattern_matching(pattern: str, event_type: str, matches: bool) -> None:
    assert wh.event_type_matches(pattern, event_type) is matches


@given(st.sampled_from(wh.EVENT_TYPES))
def test_every_event_matches_star_its_prefix_and_itself(event_type: str) -> None:
    prefix = event_type.split(".", maxsplit=1)[0]
    for pattern in ("*", f"{prefix}.*", event_type):
        wh.validate_event_type_pattern(pattern)
        assert wh.event_type_matches(pattern, event_type)
    others = [e for e in wh.EVENT_TYPES if not e.startswith(prefix + ".")]
    assert not any(wh.event_type_matches(f"{prefix}.*", other) for other in others)


@pytest.mark.parametrize(
    "pattern", ["", " ", "deployment*", "*.failed", "a..b", "stack.created ", "**", "x" * 101]
)
def test_malformed_patterns_are_rejected(pattern: str) -> None:
    with pytest.raises(ValidationError) as caught:
        wh.validate_event_type_pattern(pattern)
    assert caught.value.code == "invalid_webhook"


def test_subscription_wants_needs_enabled_and_a_matching_pattern() -> None:
    ctx = wh.EventContext()
    assert wh.subscription_wants(subscription("stack.*"), "stack.created", ctx)
    assert not wh.subscription_wants(subscription("stack.*"), "agent.registered", ctx)
    assert not wh.subscription_wants(subscription("*", enabled=False), "stack.created", ctx)


def test_agent_and_stack_filters_must_name_the_same_thing() -> None:
    by_agent = subscription(filters=WebhookFilters(agent_id=AGENT))
    assert wh.subscription_wants(by_agent, "deployment.applied", wh.EventContext(agent_id=AGENT))
    assert not wh.subscription_wants(by_agent, "deployment.applied", wh.EventContext(agent_id=uuid.uuid4()))
    assert not wh.subscription_wants(by_agent, "stack.created", wh.EventContext(stack_id=STACK))
    by_both = subscription(filters=WebhookFilters(agent_id=AGENT, stack_id=STACK))
    assert wh.subscription_wants(
        by_both, "deployment.failed", wh.EventContext(agent_id=AGENT, stack_id=STACK)
    )
    assert not wh.subscription_wants(by_both, "deployment.failed", wh.EventContext(agent_id=AGENT))


@pytest.mark.parametrize(
    ("labels", "annotations", "wanted"),
    [
        (frozenset(), {"env": "prod"}, True),  # annotation env=prod
        (frozenset({"env=prod"}), {}, True),  # label "env=prod"
        (frozenset({"env"}), {}, False),  # a bare label only satisfies an empty value
        (frozenset(), {"env": "dev"}, False),
        (frozenset({"env=dev", "prod"}), {"tier": "prod"}, False),
    ],
)
def test_label_filters(labels: frozenset[str], annotations: dict[str, str], wanted: bool) -> None:
    sub = subscription(filters=WebhookFilters(labels={"env": "prod"}))
    ctx = wh.EventContext(labels=labels, annotations=annotations)
    assert wh.subscription_wants(sub, "stack.created", ctx) is wanted


def test_a_label_filter_with_an_empty_value_means_the_bare_label() -> None:
    sub = subscription(filters=WebhookFilters(labels={"gpu": ""}))
    assert wh.subscription_wants(sub, "agent.registered", wh.EventContext(labels=frozenset({"gpu"})))
    assert not wh.subscription_wants(sub, "agent.registered", wh.EventContext())


def test_empty_filters_hold_for_everything() -> None:
    assert wh.subscription_wants(
        subscription(filters=WebhookFilters(labels={})), "stack.created", wh.EventContext()
    )


tokens = st.text("abcxyz", min_size=1, max_size=3)


@given(
    wanted=st.dictionaries(tokens, tokens, max_size=3),
    labels=st.frozensets(tokens, max_size=5),
    annotations=st.dictionaries(tokens, tokens, max_size=5),
)
def test_label_filters_are_a_conjunction(
    wanted: dict[str, str], labels: frozenset[str], annotations: dict[str, str]
) -> None:
    ctx = wh.EventContext(labels=labels, annotations=annotations)
    all_of = wh.filters_hold(WebhookFilters(labels=wanted), ctx)
    each = [wh.filters_hold(WebhookFilters(labels={k: v}), ctx) for k, v in wanted.items()]
    assert all_of == all(each)
    # Giving the context exactly what is asked for always satisfies the filter.
    assert wh.filters_hold(WebhookFilters(labels=wanted), wh.EventContext(annotations=wanted))


# --------------------------------------------------------------------------------------- validation


def validate(**overrides: Any) -> None:
    fields: dict[str, Any] = {"name": "ops", "url": "https://hooks.example.com/x", "event_types": ["*"]}
    fields.update(overrides)
    wh.validate_subscription(**fields)


def test_a_good_subscription_passes() -> None:
    validate(
        url="http://10.0.0.1:8080/hook?x=1",
        event_types=["workorder.*", "stack.created"],
        max_retries=0,
        timeout_seconds=300,
        target_labels=["env=prod"],
        filters=WebhookFilters(labels={"env": "prod"}),
        auth_header="Bearer abc",
    )


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"url": ""}, "url_required"),
        ({"url": "  "}, "url_required"),
        ({"url": "ftp://example.com"}, "invalid_url_scheme"),
        ({"url": "example.com/hook"}, "invalid_url_scheme"),
        ({"url": "https://"}, "invalid_webhook"),
        ({"url": "https://exa mple.com"}, "invalid_webhook"),
        ({"url": "https://example.com:99999/"}, "invalid_webhook"),
        ({"url": "https://example.com/" + "x" * 2048}, "invalid_webhook"),
        ({"name": " "}, "invalid_webhook"),
        ({"name": "n" * 256}, "invalid_webhook"),
        ({"event_types": []}, "invalid_webhook"),
        ({"event_types": ["stack.*", "nope*"]}, "invalid_webhook"),
        ({"max_retries": -1}, "invalid_webhook"),
        ({"max_retries": 101}, "invalid_webhook"),
        ({"timeout_seconds": 0}, "invalid_webhook"),
        ({"timeout_seconds": 301}, "invalid_webhook"),
        ({"target_labels": ["has space"]}, "invalid_label"),
        ({"filters": WebhookFilters(labels={"": "x"})}, "invalid_label"),
        ({"auth_header": "Bearer x\r\nX-Evil: 1"}, "invalid_webhook"),
    ],
)
def test_bad_subscriptions_are_refused(overrides: dict[str, Any], code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate(**overrides)
    assert caught.value.code == code


# ------------------------------------------------------------------------------------ headers, HMAC


def test_delivery_headers_without_secrets() -> None:
    delivery_id = uuid.UUID(int=5)
    headers = wh.delivery_headers(
        event_type="stack.created",
        delivery_id=delivery_id,
        auth_header=None,
        signing_secret=None,
        payload="{}",
        timestamp=T0,
    )
    assert headers == {
        "Content-Type": "application/json",
        "X-Brokkr-Event-Type": "stack.created",
        "X-Brokkr-Delivery-Id": str(delivery_id),
    }


def test_delivery_headers_with_auth_and_signature() -> None:
    body = '{"id":"e","event_type":"stack.created"}'
    headers = wh.delivery_headers(
        event_type="stack.created",
        delivery_id=uuid.UUID(int=5),
        auth_header="Bearer token",
        signing_secret="s3cret",
        payload=body,
        timestamp=T0,
    )
    seconds = int(T0.timestamp())
    expected = hmac.new(b"s3cret", f"{seconds}.{body}".encode(), hashlib.sha256).hexdigest()
    assert headers["Authorization"] == "Bearer token"
    assert headers["X-Brokkr-Timestamp"] == str(seconds)
    assert headers["X-Brokkr-Signature"] == f"sha256={expected}"


def test_signing_accepts_datetimes_ints_strings_and_bytes_alike() -> None:
    seconds = int(T0.timestamp())
    assert wh.sign_payload("k", "é", T0) == wh.sign_payload(b"k", "é".encode(), seconds)


payloads = st.one_of(st.text(max_size=200), st.binary(max_size=200))
secrets = st.text(min_size=1, max_size=40)


@given(secret=secrets, payload=payloads, sent=st.integers(min_value=0, max_value=2**33))
def test_signed_payloads_verify(secret: str, payload: str | bytes, sent: int) -> None:
    headers = wh.signature_headers(secret, payload, sent)
    assert wh.verify_signature(
        secret, payload, headers[wh.TIMESTAMP_HEADER], headers[wh.SIGNATURE_HEADER], now=sent + 10
    )


@given(
    secret=secrets,
    payload=st.binary(min_size=1, max_size=100),
    flip=st.integers(min_value=0, max_value=99),
    sent=st.integers(min_value=1_000_000, max_value=2**33),
)
def test_tampering_or_replaying_breaks_verification(
    secret: str, payload: bytes, flip: int, sent: int
) -> None:
    headers = wh.signature_headers(secret, payload, sent)
    stamp, signature = headers[wh.TIMESTAMP_HEADER], headers[wh.SIGNATURE_HEADER]
    index = flip % len(payload)
    tampered = payload[:index] + bytes([payload[index] ^ 1]) + payload[index + 1 :]
    assert not wh.verify_signature(secret, tampered, stamp, signature, now=sent)
    assert not wh.verify_signature(secret + "x", payload, stamp, signature, now=sent)
    # A replay with a fresh timestamp header does not match the signature...
    assert not wh.verify_signature(secret, payload, str(sent + 3600), signature, now=sent + 3600)
    # ...and the original request is too old an hour later.
    assert not wh.verify_signature(secret, payload, stamp, signature, now=sent + 3600)


@pytest.mark.parametrize(
    ("stamp", "signature"),
    [(None, "sha256=00"), ("1", None), ("soon", "sha256=00"), ("1", "md5=00"), ("1", "sha256=ünïcode")],
)
def test_malformed_signature_headers_fail_verification(stamp: str | None, signature: str | None) -> None:
    assert not wh.verify_signature("k", b"{}", stamp, signature, now=1)


def test_event_context_is_a_frozen_value() -> None:
    ctx = wh.EventContext(agent_id=AGENT, labels=frozenset({"a"}), annotations={"k": "v"})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        ctx.agent_id = None  # type: ignore[misc]
    assert wh.EventContext().annotations == {}
