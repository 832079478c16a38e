"""Feature tables: templates, provenance, work orders, webhooks, diagnostics, deployment health, audit log."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from brokkr_adapters_postgres.tables._base import LIVE, fk, id_column, metadata, soft_timestamps, timestamp

# --- templates ----------------------------------------------------------------------------------------------
stack_templates = Table(
    "stack_templates",
    metadata,
    id_column(),
    *soft_timestamps(),
    # NULL owner = a system template created by the admin.
    fk("generator_id", "generators.id", nullable=True),
    Column("name", String(255), nullable=False),
    Column("description", Text),
    Column("version", Integer, nullable=False, server_default=text("1")),
    Column("template_content", Text, nullable=False),
    Column("parameters_schema", Text, nullable=False),
    Column("checksum", String(64), nullable=False),
    CheckConstraint("version >= 1", name="version_positive"),
    # NULLS NOT DISTINCT: two system templates (owner NULL) with the same name and version collide too.
    Index(
        "unique_template_version",
        "generator_id",
        "name",
        "version",
        unique=True,
        postgresql_where=LIVE,
        postgresql_nulls_not_distinct=True,
    ),
    Index("ix_stack_templates_name", "name", postgresql_where=LIVE),
)

template_labels = Table(
    "template_labels",
    metadata,
    id_column(),
    fk("template_id", "stack_templates.id"),
    Column("label", String(64), nullable=False),
    timestamp("created_at"),
    UniqueConstraint("template_id", "label"),
)

template_annotations = Table(
    "template_annotations",
    metadata,
    id_column(),
    fk("template_id", "stack_templates.id"),
    Column("key", String(64), nullable=False),
    Column("value", String(64), nullable=False),
    timestamp("created_at"),
    UniqueConstraint("template_id", "key"),
)

template_targets = Table(
    "template_targets",
    metadata,
    id_column(),
    fk("template_id", "stack_templates.id"),
    fk("stack_id", "stacks.id"),
    timestamp("created_at"),
    UniqueConstraint("template_id", "stack_id"),
)

rendered_deployment_objects = Table(
    "rendered_deployment_objects",
    metadata,
    id_column(),
    fk("deployment_object_id", "deployment_objects.id"),
    fk("template_id", "stack_templates.id"),
    Column("template_version", Integer, nullable=False),
    Column("template_parameters", JSONB, nullable=False),
    timestamp("created_at"),
    UniqueConstraint("deployment_object_id"),
    Index("ix_rendered_deployment_objects_template", "template_id", "template_version"),
)

# --- work orders --------------------------------------------------------------------------------------------
work_orders = Table(
    "work_orders",
    metadata,
    id_column(),
    timestamp("created_at"),
    timestamp("updated_at"),
    Column("work_type", String(50), nullable=False),
    Column("yaml_content", Text, nullable=False),
    Column("status", String(20), nullable=False, server_default="PENDING"),
    fk("claimed_by", "agents.id", nullable=True, ondelete="SET NULL"),
    timestamp("claimed_at", nullable=True, default_now=False),
    Column("claim_timeout_seconds", Integer, nullable=False, server_default=text("3600")),
    Column("max_retries", Integer, nullable=False, server_default=text("3")),
    Column("retry_count", Integer, nullable=False, server_default=text("0")),
    Column("backoff_seconds", Integer, nullable=False, server_default=text("60")),
    timestamp("next_retry_after", nullable=True, default_now=False),
    Column("last_error", Text),
    timestamp("last_error_at", nullable=True, default_now=False),
    CheckConstraint("status IN ('PENDING', 'CLAIMED', 'RETRY_PENDING')", name="status"),
    CheckConstraint("retry_count >= 0 AND retry_count <= max_retries", name="retry_count"),
    CheckConstraint("max_retries >= 0", name="max_retries"),
    CheckConstraint("backoff_seconds > 0", name="backoff_seconds"),
    CheckConstraint("claim_timeout_seconds > 0", name="claim_timeout"),
    CheckConstraint(
        "status <> 'CLAIMED' OR (claimed_by IS NOT NULL AND claimed_at IS NOT NULL)", name="claimed_fields"
    ),
    Index("ix_work_orders_pending", "created_at", postgresql_where=text("status = 'PENDING'")),
    Index(
        "ix_work_orders_due_retries", "next_retry_after", postgresql_where=text("status = 'RETRY_PENDING'")
    ),
    Index("ix_work_orders_claims", "claimed_at", postgresql_where=text("status = 'CLAIMED'")),
    Index("ix_work_orders_claimed_by", "claimed_by", postgresql_where=text("claimed_by IS NOT NULL")),
)

work_order_targets = Table(
    "work_order_targets",
    metadata,
    id_column(),
    fk("work_order_id", "work_orders.id"),
    fk("agent_id", "agents.id"),
    timestamp("created_at"),
    UniqueConstraint("work_order_id", "agent_id"),
    Index("ix_work_order_targets_agent_id", "agent_id"),
)

work_order_labels = Table(
    "work_order_labels",
    metadata,
    id_column(),
    fk("work_order_id", "work_orders.id"),
    Column("label", String(64), nullable=False),
    timestamp("created_at"),
    UniqueConstraint("work_order_id", "label"),
    Index("ix_work_order_labels_label", "label"),
)

work_order_annotations = Table(
    "work_order_annotations",
    metadata,
    id_column(),
    fk("work_order_id", "work_orders.id"),
    Column("key", String(64), nullable=False),
    Column("value", String(64), nullable=False),
    timestamp("created_at"),
    UniqueConstraint("work_order_id", "key", "value"),
    Index("ix_work_order_annotations_key_value", "key", "value"),
)

work_order_log = Table(
    "work_order_log",
    metadata,
    # The original work order's id: no default.
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("work_type", String(50), nullable=False),
    timestamp("created_at", default_now=False),
    timestamp("claimed_at", nullable=True, default_now=False),
    timestamp("completed_at"),
    fk("claimed_by", "agents.id", nullable=True, ondelete="SET NULL"),
    Column("success", Boolean, nullable=False),
    Column("retries_attempted", Integer, nullable=False, server_default=text("0")),
    Column("result_message", Text),
    Column("yaml_content", Text, nullable=False),
    CheckConstraint("retries_attempted >= 0", name="retries_attempted"),
    Index("ix_work_order_log_completed_at", "completed_at"),
    Index("ix_work_order_log_work_type_completed", "work_type", "completed_at"),
    Index("ix_work_order_log_claimed_by", "claimed_by", postgresql_where=text("claimed_by IS NOT NULL")),
)

# --- webhooks -----------------------------------------------------------------------------------------------
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    id_column(),
    Column("name", String(255), nullable=False),
    # Secrets are stored only encrypted (through the injected SecretCipher).
    Column("url_encrypted", LargeBinary, nullable=False),
    Column("auth_header_encrypted", LargeBinary),
    Column("signing_secret_encrypted", LargeBinary),
    Column("event_types", ARRAY(Text), nullable=False),
    Column("filters", JSONB),
    Column("target_labels", ARRAY(Text)),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("max_retries", Integer, nullable=False, server_default=text("5")),
    Column("timeout_seconds", Integer, nullable=False, server_default=text("30")),
    Column("created_by", String(255)),
    timestamp("created_at"),
    timestamp("updated_at"),
    Index("ix_webhook_subscriptions_enabled", "enabled", postgresql_where=text("enabled")),
)

DELIVERY_STATUSES = "('pending', 'acquired', 'success', 'failed', 'dead')"

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    id_column(),
    fk("subscription_id", "webhook_subscriptions.id"),
    Column("event_type", String(100), nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("payload", Text, nullable=False),
    Column("target_labels", ARRAY(Text)),
    Column("status", String(20), nullable=False, server_default="pending"),
    # NULL while acquired = the broker holds it; otherwise the agent that does.
    fk("acquired_by", "agents.id", nullable=True, ondelete="SET NULL"),
    timestamp("acquired_until", nullable=True, default_now=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    timestamp("last_attempt_at", nullable=True, default_now=False),
    timestamp("next_retry_at", nullable=True, default_now=False),
    Column("last_error", Text),
    timestamp("created_at"),
    timestamp("completed_at", nullable=True, default_now=False),
    CheckConstraint(f"status IN {DELIVERY_STATUSES}", name="status"),
    # One delivery per (subscription, event): the event id is the receivers' idempotency key.
    UniqueConstraint("subscription_id", "event_id"),
    Index("ix_webhook_deliveries_pending", "created_at", postgresql_where=text("status = 'pending'")),
    Index("ix_webhook_deliveries_acquired", "acquired_until", postgresql_where=text("status = 'acquired'")),
    Index("ix_webhook_deliveries_failed", "next_retry_at", postgresql_where=text("status = 'failed'")),
    Index("ix_webhook_deliveries_subscription_created", "subscription_id", "created_at"),
    Index(
        "ix_webhook_deliveries_finished", "created_at", postgresql_where=text("status IN ('success', 'dead')")
    ),
)

# --- diagnostics and health ---------------------------------------------------------------------------------
diagnostic_requests = Table(
    "diagnostic_requests",
    metadata,
    id_column(),
    fk("agent_id", "agents.id"),
    fk("deployment_object_id", "deployment_objects.id"),
    Column("status", String(20), nullable=False, server_default="pending"),
    Column("requested_by", String(255)),
    timestamp("created_at"),
    timestamp("claimed_at", nullable=True, default_now=False),
    timestamp("completed_at", nullable=True, default_now=False),
    timestamp("expires_at", default_now=False),
    CheckConstraint("status IN ('pending', 'claimed', 'completed', 'failed', 'expired')", name="status"),
    Index("ix_diagnostic_requests_pending", "agent_id", postgresql_where=text("status = 'pending'")),
    Index("ix_diagnostic_requests_expires_at", "expires_at"),
    Index("ix_diagnostic_requests_deployment_object_id", "deployment_object_id"),
)

diagnostic_results = Table(
    "diagnostic_results",
    metadata,
    id_column(),
    fk("request_id", "diagnostic_requests.id"),
    Column("pod_statuses", Text, nullable=False),
    Column("events", Text, nullable=False),
    Column("log_tails", Text),
    timestamp("collected_at", default_now=False),
    timestamp("created_at"),
    Index("ix_diagnostic_results_request_id", "request_id"),
)

deployment_health = Table(
    "deployment_health",
    metadata,
    id_column(),
    fk("agent_id", "agents.id"),
    fk("deployment_object_id", "deployment_objects.id"),
    Column("status", String(20), nullable=False),
    Column("summary", JSONB),
    timestamp("checked_at", default_now=False),
    timestamp("created_at"),
    timestamp("updated_at"),
    CheckConstraint("status IN ('healthy', 'degraded', 'failing', 'unknown')", name="status"),
    UniqueConstraint("agent_id", "deployment_object_id"),
    Index("ix_deployment_health_deployment_object_id", "deployment_object_id"),
)

# --- audit --------------------------------------------------------------------------------------------------
audit_logs = Table(
    "audit_logs",
    metadata,
    id_column(),
    timestamp("timestamp"),
    Column("actor_type", String(20), nullable=False),
    Column("actor_id", UUID(as_uuid=True)),
    Column("action", String(100), nullable=False),
    Column("resource_type", String(50), nullable=False),
    Column("resource_id", UUID(as_uuid=True)),
    Column("details", JSONB),
    Column("ip_address", Text),
    Column("user_agent", Text),
    timestamp("created_at"),
    CheckConstraint("actor_type IN ('admin', 'agent', 'generator', 'system')", name="actor_type"),
    Index("ix_audit_logs_timestamp", "timestamp"),
    Index("ix_audit_logs_actor", "actor_type", "actor_id", "timestamp"),
    Index("ix_audit_logs_resource", "resource_type", "resource_id", "timestamp"),
    Index("ix_audit_logs_action", "action", "timestamp"),
    Index("ix_audit_logs_created_at", "created_at"),
)

__all__ = [
    "audit_logs",
    "deployment_health",
    "diagnostic_requests",
    "diagnostic_results",
    "rendered_deployment_objects",
    "stack_templates",
    "template_annotations",
    "template_labels",
    "template_targets",
    "webhook_deliveries",
    "webhook_subscriptions",
    "work_order_annotations",
    "work_order_labels",
    "work_order_log",
    "work_order_targets",
    "work_orders",
]
