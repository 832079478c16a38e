"""Webhook use cases: subscriptions (admin), the agents' delivery side, and the domain half of the broker
worker.

Subscriptions hold their URL, auth header and signing secret in plaintext in the entity; the repository
encrypts them at rest (contract decision 12), so what this module hands to a deliverer is already decrypted.
The broker app renders ``has_url``/``has_auth_header`` instead of the secrets.

Delivery bookkeeping (attempts, errors, the schedule) lives on the delivery rows and is readable through the
deliveries list; it is not duplicated in the audit log, which gets subscription changes, test sends and
deliveries that died (``webhook.delivery_failed``).

The HTTP POST itself is the broker app's job: it calls :func:`claim_broker_batch`, sends each delivery with
``webhook_posting.post_delivery`` (as agents do) and reports with :func:`record_broker_outcome`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import attrs

from brokkr_domain.errors import ForbiddenError, NotFoundError, ValidationError
from brokkr_domain.model import (
    Caller,
    DeliveryOutcome,
    DeliveryStatus,
    PendingWebhookDelivery,
    WebhookDelivery,
    WebhookEvent,
    WebhookFilters,
    WebhookSubscription,
)
from brokkr_domain.ports import UnitOfWork
from brokkr_domain.rules import deliveries
from brokkr_domain.rules.webhooks import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT_SECONDS,
    EVENT_TYPES,
    delivery_headers,
    validate_subscription,
)
from brokkr_domain.usecases._authz import KEEP, Keep, require_admin, require_admin_or_agent
from brokkr_domain.usecases._authz_ops import agent_facts, check_limit, check_offset
from brokkr_domain.usecases.context import Services
from brokkr_domain.usecases.events import event_payload

RESOURCE = "webhook_subscription"
TEST_EVENT_TYPE = "webhook.test"
AGENT_BATCH = 10
AGENT_LEASE = timedelta(seconds=60)
DEFAULT_DELIVERIES_LIMIT = 50
MAX_DELIVERIES_LIMIT = 1000
MAX_SECRET_LENGTH = 1024
_FINISHED = frozenset({DeliveryStatus.SUCCESS, DeliveryStatus.DEAD})
_STATUSES = frozenset(status.value for status in DeliveryStatus)


# --- subscriptions ----------------------------------------------------------------------------------------


def _load(uow: UnitOfWork, subscription_id: UUID) -> WebhookSubscription:
    sub = uow.webhooks.get(subscription_id)
    if sub is None:
        raise NotFoundError(
            f"webhook subscription {subscription_id} not found",
            code="webhook_not_found",
            details={"id": str(subscription_id)},
        )
    return sub


def _dedupe(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _check_secret(secret: str | None) -> None:
    if secret is not None and (not secret.strip() or len(secret) > MAX_SECRET_LENGTH):
        raise ValidationError(
            f"signing_secret must be non-blank and at most {MAX_SECRET_LENGTH} characters",
            code="invalid_webhook",
            details={"field": "signing_secret"},
        )


def _validate(sub: WebhookSubscription) -> None:
    validate_subscription(
        sub.name,
        sub.url,
        sub.event_types,
        max_retries=sub.max_retries,
        timeout_seconds=sub.timeout_seconds,
        target_labels=sub.target_labels,
        filters=sub.filters,
        auth_header=sub.auth_header,
    )
    _check_secret(sub.signing_secret)


def list_webhooks(s: Services, caller: Caller) -> list[WebhookSubscription]:
    """Every subscription, newest first."""
    require_admin(caller)
    with s.uow() as uow:
        return uow.webhooks.list()


def get_webhook(s: Services, caller: Caller, subscription_id: UUID) -> WebhookSubscription:
    require_admin(caller)
    with s.uow() as uow:
        return _load(uow, subscription_id)


def create_webhook(
    s: Services,
    caller: Caller,
    *,
    name: str,
    url: str,
    event_types: Sequence[str],
    auth_header: str | None = None,
    signing_secret: str | None = None,
    filters: WebhookFilters | None = None,
    target_labels: Sequence[str] | None = None,
    max_retries: int | None = None,
    timeout_seconds: int | None = None,
    enabled: bool = True,
) -> WebhookSubscription:
    """Subscribe a URL to event types (``*``, ``prefix.*`` or exact names). ``target_labels`` hands delivery
    to agents carrying all of them (for receivers only reachable from inside a cluster); without them the
    broker delivers. ``signing_secret`` (an extension) makes every POST carry an HMAC-SHA256 signature."""
    require_admin(caller)
    now = s.clock.now()
    sub = WebhookSubscription(
        id=s.ids.new_id(),
        name=name,
        url=url,
        auth_header=auth_header,
        signing_secret=signing_secret,
        event_types=_dedupe(event_types),
        filters=filters,
        target_labels=None if target_labels is None else _dedupe(target_labels),
        enabled=enabled,
        max_retries=DEFAULT_MAX_RETRIES if max_retries is None else max_retries,
        timeout_seconds=DEFAULT_TIMEOUT_SECONDS if timeout_seconds is None else timeout_seconds,
        created_by="admin",
        created_at=now,
        updated_at=now,
    )
    _validate(sub)
    with s.uow() as uow:
        sub = uow.webhooks.add(sub)
        uow.commit()
    s.audit_entry(
        caller, "webhook.created", RESOURCE, sub.id, {"name": sub.name, "event_types": list(sub.event_types)}
    )
    return sub


def update_webhook(
    s: Services,
    caller: Caller,
    subscription_id: UUID,
    *,
    name: str | Keep = KEEP,
    url: str | Keep = KEEP,
    event_types: Sequence[str] | Keep = KEEP,
    auth_header: str | Keep | None = KEEP,
    signing_secret: str | Keep | None = KEEP,
    filters: WebhookFilters | Keep | None = KEEP,
    target_labels: Sequence[str] | Keep | None = KEEP,
    enabled: bool | Keep = KEEP,
    max_retries: int | Keep = KEEP,
    timeout_seconds: int | Keep = KEEP,
) -> WebhookSubscription:
    """Change some fields: ``KEEP`` leaves a field alone, ``None`` clears the clearable ones (auth header,
    signing secret, filters, target labels). The result is validated as a whole."""
    require_admin(caller)
    given: dict[str, Any] = {
        "name": name,
        "url": url,
        "auth_header": auth_header,
        "signing_secret": signing_secret,
        "filters": filters,
        "enabled": enabled,
        "max_retries": max_retries,
        "timeout_seconds": timeout_seconds,
    }
    changes = {field: value for field, value in given.items() if not isinstance(value, Keep)}
    if not isinstance(event_types, Keep):
        changes["event_types"] = _dedupe(event_types)
    if not isinstance(target_labels, Keep):
        changes["target_labels"] = None if target_labels is None else _dedupe(target_labels)
    with s.uow() as uow:
        sub = attrs.evolve(_load(uow, subscription_id), **changes, updated_at=s.clock.now())
        _validate(sub)
        sub = uow.webhooks.update(sub)
        uow.commit()
    s.audit_entry(
        caller,
        "webhook.updated",
        RESOURCE,
        sub.id,
        {"name": sub.name, "enabled": sub.enabled, "changed": sorted(changes)},
    )
    return sub


def delete_webhook(s: Services, caller: Caller, subscription_id: UUID) -> None:
    """Delete the subscription and its deliveries (pending ones are never sent)."""
    require_admin(caller)
    with s.uow() as uow:
        sub = _load(uow, subscription_id)
        uow.webhooks.delete(subscription_id)
        uow.commit()
    s.audit_entry(caller, "webhook.deleted", RESOURCE, subscription_id, {"name": sub.name})


def list_event_types(s: Services, caller: Caller) -> list[str]:
    """The event types the broker emits (subscriptions may also name patterns and future types)."""
    del s
    require_admin(caller)
    return list(EVENT_TYPES)


def list_deliveries(
    s: Services,
    caller: Caller,
    subscription_id: UUID,
    *,
    status: str | None = None,
    limit: int = DEFAULT_DELIVERIES_LIMIT,
    offset: int = 0,
) -> list[WebhookDelivery]:
    """A page of the subscription's deliveries, newest first; ``limit`` is clamped to 1000."""
    require_admin(caller)
    limit = check_limit(limit, maximum=MAX_DELIVERIES_LIMIT, clamp=True)
    offset = check_offset(offset)
    if status is not None and status not in _STATUSES:
        raise ValidationError(
            f"status must be one of {sorted(_STATUSES)}, got {status!r}",
            code="invalid_query",
            details={"field": "status"},
        )
    with s.uow() as uow:
        _load(uow, subscription_id)
        return uow.deliveries.list_for_subscription(
            subscription_id, status=status, limit=limit, offset=offset
        )


# --- the test endpoint ------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TestDelivery:
    """Everything the broker needs to POST a synthetic ``webhook.test`` event; no delivery row is stored."""

    subscription: WebhookSubscription
    event: WebhookEvent
    payload: str
    headers: dict[str, str]

    __test__ = False  # not a pytest test class, despite the name


def test_webhook_payload(s: Services, caller: Caller, subscription_id: UUID) -> TestDelivery:
    """Build the test event for a subscription, signed and headed exactly like a real delivery."""
    require_admin(caller)
    with s.uow() as uow:
        sub = _load(uow, subscription_id)
    now = s.clock.now()
    event = WebhookEvent(
        id=s.ids.new_id(),
        event_type=TEST_EVENT_TYPE,
        timestamp=now,
        data={
            "message": f"Test delivery for webhook subscription {sub.name!r}",
            "subscription_id": str(sub.id),
        },
    )
    payload = event_payload(event)
    headers = delivery_headers(
        event_type=TEST_EVENT_TYPE,
        delivery_id=s.ids.new_id(),
        auth_header=sub.auth_header,
        signing_secret=sub.signing_secret,
        payload=payload,
        timestamp=now,
    )
    s.audit_entry(caller, "webhook.tested", RESOURCE, sub.id, {"name": sub.name})
    return TestDelivery(subscription=sub, event=event, payload=payload, headers=headers)


test_webhook_payload.__test__ = False  # type: ignore[attr-defined]


# --- agents delivering ------------------------------------------------------------------------------------


def pending_delivery(delivery: WebhookDelivery, sub: WebhookSubscription) -> PendingWebhookDelivery:
    """A delivery with its subscription's (decrypted) target: what a deliverer POSTs."""
    return PendingWebhookDelivery(
        id=delivery.id,
        subscription_id=sub.id,
        event_type=delivery.event_type,
        payload=delivery.payload,
        url=sub.url,
        auth_header=sub.auth_header,
        signing_secret=sub.signing_secret,
        timeout_seconds=sub.timeout_seconds,
        max_retries=sub.max_retries,
        attempts=delivery.attempts,
    )


def pending_deliveries_for_agent(s: Services, caller: Caller, agent_id: UUID) -> list[PendingWebhookDelivery]:
    """Claim up to 10 deliveries routed to the agent (it carries all their target labels) and return them with
    the subscription's decrypted target. Each is held for its subscription's timeout plus a margin, 60 s at
    least (the agent sends them side by side); a claim the agent does not report on returns to the queue when
    its lease runs out."""
    require_admin_or_agent(caller, agent_id)
    now = s.clock.now()
    with s.uow() as uow:
        facts = agent_facts(uow, agent_id)
        claimed = uow.deliveries.claim_for_agent(facts, now, AGENT_BATCH, now + AGENT_LEASE)
        pending = [
            pending_delivery(delivery, sub)
            for delivery, sub in _held_per_timeout(uow, claimed, now, AGENT_LEASE)
        ]
        uow.commit()
    return pending


def _held_per_timeout(
    uow: UnitOfWork, claimed: list[WebhookDelivery], now: datetime, minimum: timedelta = timedelta(0)
) -> list[tuple[WebhookDelivery, WebhookSubscription]]:
    """The claimed deliveries with their subscriptions, each lease moved to fit its subscription's timeout."""
    batch = []
    for delivery in claimed:
        sub = _subscription_of(uow, delivery)
        until = now + deliveries.attempt_lease(sub.timeout_seconds, minimum)
        held = delivery
        if delivery.acquired_until != until:  # the claim used one lease for the whole batch
            held = uow.deliveries.update(deliveries.renew_lease(delivery, until))
        batch.append((held, sub))
    return batch


def _subscription_of(uow: UnitOfWork, delivery: WebhookDelivery) -> WebhookSubscription:
    sub = uow.webhooks.get(delivery.subscription_id)
    if sub is None:  # deliveries cascade with their subscription, so only a broken store gets here
        raise NotFoundError(
            f"webhook delivery {delivery.id} has no subscription",
            code="webhook_not_found",
            details={"id": str(delivery.subscription_id)},
        )
    return sub


def _apply(
    uow: UnitOfWork, s: Services, delivery: WebhookDelivery, outcome: DeliveryOutcome
) -> WebhookDelivery:
    now = s.clock.now()
    if outcome.success:
        updated = deliveries.mark_success(delivery, now)
    else:
        sub = _subscription_of(uow, delivery)
        updated = deliveries.mark_failure(
            delivery,
            error=outcome.error,
            status_code=outcome.status_code,
            max_retries=sub.max_retries,
            now=now,
        )
    return uow.deliveries.update(updated)


def _audit_if_dead(s: Services, caller: Caller, delivery: WebhookDelivery) -> None:
    if delivery.status == DeliveryStatus.DEAD:
        s.audit_entry(
            caller,
            "webhook.delivery_failed",
            RESOURCE,
            delivery.subscription_id,
            {
                "delivery_id": str(delivery.id),
                "event_type": delivery.event_type,
                "attempts": delivery.attempts,
                "error": delivery.last_error,
            },
        )


def report_delivery_result(
    s: Services, caller: Caller, delivery_id: UUID, outcome: DeliveryOutcome
) -> WebhookDelivery:
    """An agent reports what happened to a delivery it acquired; returns the delivery as now stored (success,
    failed with ``next_retry_at``, or dead). 403 ``agent_pak_required`` for non-agents and
    ``delivery_not_acquired_by_agent`` for another agent's delivery; 404 ``delivery_not_found``; 409
    ``delivery_already_finished`` for a repeated report."""
    actor = caller.actor
    if not actor.is_agent():
        raise ForbiddenError("only agents report webhook delivery results", code="agent_pak_required")
    with s.uow() as uow:
        delivery = uow.deliveries.get(delivery_id)
        if delivery is None:
            raise NotFoundError(
                f"webhook delivery {delivery_id} not found",
                code="delivery_not_found",
                details={"id": str(delivery_id)},
            )
        if delivery.acquired_by is None or not actor.is_agent(delivery.acquired_by):
            raise ForbiddenError(
                f"webhook delivery {delivery_id} is not acquired by this agent",
                code="delivery_not_acquired_by_agent",
                details={"id": str(delivery_id)},
            )
        updated = _apply(uow, s, delivery, outcome)
        uow.commit()
    _audit_if_dead(s, caller, updated)
    return updated


# --- the broker delivering --------------------------------------------------------------------------------


def claim_broker_batch(
    s: Services,
    limit: int,
    ttl: timedelta | None = None,
    *,
    per_subscription: int | None = None,
    skip_subscriptions: frozenset[UUID] = frozenset(),
) -> list[tuple[WebhookDelivery, WebhookSubscription]]:
    """One tick of the broker worker, domain side: put expired leases and due retries back in the queue, then
    lease up to ``limit`` of the oldest broker-routed deliveries, each with its subscription. Replicas never
    get the same delivery (the repository's claim is skip-locked).

    Each lease lasts ``ttl`` when given, else its subscription's timeout plus a margin
    (``rules.deliveries.attempt_lease``): the delivery cannot be taken again while its POST may be in flight, and
    comes back soon after a broker that died holding it. ``per_subscription`` and ``skip_subscriptions`` let the
    sender keep a slow receiver from taking all of its slots."""
    now = s.clock.now()
    usual = deliveries.attempt_lease(DEFAULT_TIMEOUT_SECONDS)
    with s.uow() as uow:
        uow.deliveries.release_expired(now)
        uow.deliveries.requeue_due(now)
        claimed = uow.deliveries.claim_for_broker(
            now,
            limit,
            now + (usual if ttl is None else ttl),
            per_subscription=per_subscription,
            skip_subscriptions=skip_subscriptions,
        )
        if ttl is None:
            batch = _held_per_timeout(uow, claimed, now)
        else:
            batch = [(delivery, _subscription_of(uow, delivery)) for delivery in claimed]
        uow.commit()
    return batch


def record_broker_outcome(s: Services, delivery_id: UUID, outcome: DeliveryOutcome) -> WebhookDelivery | None:
    """Record the broker's attempt. ``None`` when the delivery is gone (its subscription was deleted
    meanwhile); a delivery that already finished (another replica reported after a lease expiry) is returned
    unchanged."""
    with s.uow() as uow:
        delivery = uow.deliveries.get(delivery_id)
        if delivery is None:
            return None
        if delivery.status in _FINISHED:
            return delivery
        updated = _apply(uow, s, delivery, outcome)
        uow.commit()
    _audit_if_dead(s, Caller.system(), updated)
    return updated


def run_webhook_retention(s: Services, retention_days: int) -> int:
    """Delete successful and dead deliveries created more than ``retention_days`` ago; pending and failed ones
    (still to be sent) are kept whatever their age."""
    if isinstance(retention_days, bool) or retention_days < 1:
        raise ValidationError(
            f"retention_days must be at least 1, got {retention_days!r}",
            code="invalid_retention",
            details={"field": "retention_days"},
        )
    with s.uow() as uow:
        deleted = uow.deliveries.delete_finished_before(s.clock.now() - timedelta(days=retention_days))
        uow.commit()
    return deleted


__all__ = [
    "AGENT_BATCH",
    "AGENT_LEASE",
    "TEST_EVENT_TYPE",
    "TestDelivery",
    "claim_broker_batch",
    "create_webhook",
    "delete_webhook",
    "get_webhook",
    "list_deliveries",
    "list_event_types",
    "list_webhooks",
    "pending_deliveries_for_agent",
    "pending_delivery",
    "record_broker_outcome",
    "report_delivery_result",
    "run_webhook_retention",
    "test_webhook_payload",
    "update_webhook",
]
