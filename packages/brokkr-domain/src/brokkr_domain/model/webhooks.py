"""Webhook subscriptions, the event envelope and deliveries.

Secrets (URL, auth header, signing secret) are held here in plaintext only transiently: repositories store them
encrypted through the ``SecretBox`` port, so the domain never sees ciphertext formats.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any
from uuid import UUID

import attrs


class EventType(enum.StrEnum):
    AGENT_REGISTERED = "agent.registered"
    AGENT_DEREGISTERED = "agent.deregistered"
    STACK_CREATED = "stack.created"
    STACK_DELETED = "stack.deleted"
    DEPLOYMENT_CREATED = "deployment.created"
    DEPLOYMENT_APPLIED = "deployment.applied"
    DEPLOYMENT_FAILED = "deployment.failed"
    DEPLOYMENT_DELETED = "deployment.deleted"
    WORKORDER_CREATED = "workorder.created"
    WORKORDER_CLAIMED = "workorder.claimed"
    WORKORDER_COMPLETED = "workorder.completed"
    WORKORDER_FAILED = "workorder.failed"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    ACQUIRED = "acquired"
    SUCCESS = "success"
    FAILED = "failed"
    DEAD = "dead"


@attrs.frozen(kw_only=True)
class WebhookFilters:
    """Optional narrowing of a subscription: all given filters must hold for an event to be delivered."""

    agent_id: UUID | None = None
    stack_id: UUID | None = None
    labels: dict[str, str] | None = None


@attrs.frozen(kw_only=True)
class WebhookSubscription:
    id: UUID
    name: str
    url: str
    auth_header: str | None = None
    signing_secret: str | None = None
    event_types: tuple[str, ...]
    filters: WebhookFilters | None = None
    target_labels: tuple[str, ...] | None = None
    enabled: bool = True
    max_retries: int = 5
    timeout_seconds: int = 30
    created_by: str | None = None
    created_at: datetime
    updated_at: datetime


@attrs.frozen(kw_only=True)
class WebhookEvent:
    """The envelope POSTed to receivers; ``id`` is stable across retries (the idempotency key)."""

    id: UUID
    event_type: str
    timestamp: datetime
    data: dict[str, Any]


@attrs.frozen(kw_only=True)
class WebhookDelivery:
    id: UUID
    subscription_id: UUID
    event_type: str
    event_id: UUID
    payload: str
    target_labels: tuple[str, ...] | None = None
    status: DeliveryStatus = DeliveryStatus.PENDING
    acquired_by: UUID | None = None
    acquired_until: datetime | None = None
    attempts: int = 0
    last_attempt_at: datetime | None = None
    next_retry_at: datetime | None = None
    last_error: str | None = None
    created_at: datetime
    completed_at: datetime | None = None


@attrs.frozen(kw_only=True)
class PendingWebhookDelivery:
    """A delivery handed to an agent, with the subscription's decrypted target."""

    id: UUID
    subscription_id: UUID
    event_type: str
    payload: str
    url: str
    auth_header: str | None = None
    signing_secret: str | None = None
    timeout_seconds: int = 30
    max_retries: int = 5
    attempts: int = 0


@attrs.frozen(kw_only=True)
class DeliveryOutcome:
    """What happened when a delivery was attempted (by the broker or by an agent)."""

    success: bool
    status_code: int | None = None
    error: str | None = None
    duration_ms: int | None = None
