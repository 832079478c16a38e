"""Initial schema: the whole Brokkr data model, plus the triggers that guard immutable rows.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Deployment objects are immutable: an UPDATE may only soft-delete (set deleted_at once, change nothing
# else); hard DELETEs (cascades) stay allowed. SQLSTATE BRK01 becomes ConflictError(code="immutable").
_IMMUTABLE_DEPLOYMENT_OBJECTS = """
CREATE FUNCTION brokkr_guard_deployment_object() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL
       AND (NEW.id, NEW.stack_id, NEW.sequence_id, NEW.yaml_content, NEW.yaml_checksum,
            NEW.submitted_at, NEW.is_deletion_marker, NEW.created_at)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.stack_id, OLD.sequence_id, OLD.yaml_content, OLD.yaml_checksum,
            OLD.submitted_at, OLD.is_deletion_marker, OLD.created_at)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'deployment objects are immutable: only a soft delete is allowed'
        USING ERRCODE = 'BRK01';
END
$$;
CREATE TRIGGER deployment_objects_immutable BEFORE UPDATE ON deployment_objects
    FOR EACH ROW EXECUTE FUNCTION brokkr_guard_deployment_object();
"""

# The admin role row is never deleted (SQLSTATE BRK02).
_UNDELETABLE_ADMIN = """
CREATE FUNCTION brokkr_guard_admin_role() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the admin role cannot be deleted' USING ERRCODE = 'BRK02';
END
$$;
CREATE TRIGGER admin_role_undeletable BEFORE DELETE ON admin_role
    FOR EACH ROW EXECUTE FUNCTION brokkr_guard_admin_role();
"""


def _create_triggers() -> None:
    op.execute(_IMMUTABLE_DEPLOYMENT_OBJECTS)
    op.execute(_UNDELETABLE_ADMIN)


def upgrade() -> None:
    op.create_table(
        "admin_role",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("pak_hash", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("admin_role_pkey")),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("cluster_name", sa.String(length=255), nullable=False),
        sa.Column("last_heartbeat", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=50), server_default="INACTIVE", nullable=False),
        sa.Column("pak_hash", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("agents_pkey")),
    )
    op.create_index(
        "ix_agents_pak_hash_live",
        "agents",
        ["pak_hash"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL AND pak_hash <> ''"),
    )
    op.create_index(
        "unique_agent_cluster",
        "agents",
        ["name", "cluster_name"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "app_initialization",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "initialized_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("app_initialization_pkey")),
    )
    op.create_table(
        "audit_logs",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor_type", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("resource_type", sa.String(length=50), nullable=False),
        sa.Column("resource_id", sa.UUID(), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("ip_address", sa.Text(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "actor_type IN ('admin', 'agent', 'generator', 'system')",
            name=op.f("audit_logs_actor_type_check"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("audit_logs_pkey")),
    )
    op.create_index("ix_audit_logs_action", "audit_logs", ["action", "timestamp"], unique=False)
    op.create_index(
        "ix_audit_logs_actor", "audit_logs", ["actor_type", "actor_id", "timestamp"], unique=False
    )
    op.create_index("ix_audit_logs_created_at", "audit_logs", ["created_at"], unique=False)
    op.create_index(
        "ix_audit_logs_resource", "audit_logs", ["resource_type", "resource_id", "timestamp"], unique=False
    )
    op.create_index("ix_audit_logs_timestamp", "audit_logs", ["timestamp"], unique=False)
    op.create_table(
        "generators",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("pak_hash", sa.Text(), nullable=True),
        sa.Column("last_active_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("generators_pkey")),
    )
    op.create_index(
        "ix_generators_pak_hash_live",
        "generators",
        ["pak_hash"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL AND pak_hash IS NOT NULL"),
    )
    op.create_index(
        "unique_generator_name",
        "generators",
        ["name"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("url_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("auth_header_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("signing_secret_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("event_types", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("filters", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("target_labels", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("max_retries", sa.Integer(), server_default=sa.text("5"), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), server_default=sa.text("30"), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("webhook_subscriptions_pkey")),
    )
    op.create_index(
        "ix_webhook_subscriptions_enabled",
        "webhook_subscriptions",
        ["enabled"],
        unique=False,
        postgresql_where=sa.text("enabled"),
    )
    op.create_table(
        "agent_annotations",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("agent_annotations_agent_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("agent_annotations_pkey")),
        sa.UniqueConstraint("agent_id", "key", name=op.f("agent_annotations_agent_id_key_key")),
    )
    op.create_index("ix_agent_annotations_key_value", "agent_annotations", ["key", "value"], unique=False)
    op.create_table(
        "agent_labels",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("agent_labels_agent_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("agent_labels_pkey")),
        sa.UniqueConstraint("agent_id", "label", name=op.f("agent_labels_agent_id_label_key")),
    )
    op.create_index("ix_agent_labels_label", "agent_labels", ["label"], unique=False)
    op.create_table(
        "stack_templates",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("generator_id", sa.UUID(), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("template_content", sa.Text(), nullable=False),
        sa.Column("parameters_schema", sa.Text(), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("stack_templates_version_positive_check")),
        sa.ForeignKeyConstraint(
            ["generator_id"],
            ["generators.id"],
            name=op.f("stack_templates_generator_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("stack_templates_pkey")),
    )
    op.create_index(
        "ix_stack_templates_name",
        "stack_templates",
        ["name"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "unique_template_version",
        "stack_templates",
        ["generator_id", "name", "version"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
        postgresql_nulls_not_distinct=True,
    )
    op.create_table(
        "stacks",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("generator_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["generator_id"], ["generators.id"], name=op.f("stacks_generator_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("stacks_pkey")),
    )
    op.create_index("ix_stacks_generator_id", "stacks", ["generator_id"], unique=False)
    op.create_index(
        "unique_stack_name", "stacks", ["name"], unique=True, postgresql_where=sa.text("deleted_at IS NULL")
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("subscription_id", sa.UUID(), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("target_labels", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("acquired_by", sa.UUID(), nullable=True),
        sa.Column("acquired_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'acquired', 'success', 'failed', 'dead')",
            name=op.f("webhook_deliveries_status_check"),
        ),
        sa.ForeignKeyConstraint(
            ["acquired_by"],
            ["agents.id"],
            name=op.f("webhook_deliveries_acquired_by_fkey"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscriptions.id"],
            name=op.f("webhook_deliveries_subscription_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("webhook_deliveries_pkey")),
        sa.UniqueConstraint(
            "subscription_id", "event_id", name=op.f("webhook_deliveries_subscription_id_event_id_key")
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_acquired",
        "webhook_deliveries",
        ["acquired_until"],
        unique=False,
        postgresql_where=sa.text("status = 'acquired'"),
    )
    op.create_index(
        "ix_webhook_deliveries_failed",
        "webhook_deliveries",
        ["next_retry_at"],
        unique=False,
        postgresql_where=sa.text("status = 'failed'"),
    )
    op.create_index(
        "ix_webhook_deliveries_finished",
        "webhook_deliveries",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('success', 'dead')"),
    )
    op.create_index(
        "ix_webhook_deliveries_pending",
        "webhook_deliveries",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_webhook_deliveries_subscription_created",
        "webhook_deliveries",
        ["subscription_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "work_order_log",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("work_type", sa.String(length=50), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "completed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("claimed_by", sa.UUID(), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("retries_attempted", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("result_message", sa.Text(), nullable=True),
        sa.Column("yaml_content", sa.Text(), nullable=False),
        sa.CheckConstraint("retries_attempted >= 0", name=op.f("work_order_log_retries_attempted_check")),
        sa.ForeignKeyConstraint(
            ["claimed_by"], ["agents.id"], name=op.f("work_order_log_claimed_by_fkey"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("work_order_log_pkey")),
    )
    op.create_index(
        "ix_work_order_log_claimed_by",
        "work_order_log",
        ["claimed_by"],
        unique=False,
        postgresql_where=sa.text("claimed_by IS NOT NULL"),
    )
    op.create_index("ix_work_order_log_completed_at", "work_order_log", ["completed_at"], unique=False)
    op.create_index(
        "ix_work_order_log_work_type_completed", "work_order_log", ["work_type", "completed_at"], unique=False
    )
    op.create_table(
        "work_orders",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("work_type", sa.String(length=50), nullable=False),
        sa.Column("yaml_content", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="PENDING", nullable=False),
        sa.Column("claimed_by", sa.UUID(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim_timeout_seconds", sa.Integer(), server_default=sa.text("3600"), nullable=False),
        sa.Column("max_retries", sa.Integer(), server_default=sa.text("3"), nullable=False),
        sa.Column("retry_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("backoff_seconds", sa.Integer(), server_default=sa.text("60"), nullable=False),
        sa.Column("next_retry_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status <> 'CLAIMED' OR (claimed_by IS NOT NULL AND claimed_at IS NOT NULL)",
            name=op.f("work_orders_claimed_fields_check"),
        ),
        sa.CheckConstraint(
            "status IN ('PENDING', 'CLAIMED', 'RETRY_PENDING')", name=op.f("work_orders_status_check")
        ),
        sa.CheckConstraint("backoff_seconds > 0", name=op.f("work_orders_backoff_seconds_check")),
        sa.CheckConstraint("claim_timeout_seconds > 0", name=op.f("work_orders_claim_timeout_check")),
        sa.CheckConstraint("max_retries >= 0", name=op.f("work_orders_max_retries_check")),
        sa.CheckConstraint(
            "retry_count >= 0 AND retry_count <= max_retries", name=op.f("work_orders_retry_count_check")
        ),
        sa.ForeignKeyConstraint(
            ["claimed_by"], ["agents.id"], name=op.f("work_orders_claimed_by_fkey"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("work_orders_pkey")),
    )
    op.create_index(
        "ix_work_orders_claimed_by",
        "work_orders",
        ["claimed_by"],
        unique=False,
        postgresql_where=sa.text("claimed_by IS NOT NULL"),
    )
    op.create_index(
        "ix_work_orders_claims",
        "work_orders",
        ["claimed_at"],
        unique=False,
        postgresql_where=sa.text("status = 'CLAIMED'"),
    )
    op.create_index(
        "ix_work_orders_due_retries",
        "work_orders",
        ["next_retry_after"],
        unique=False,
        postgresql_where=sa.text("status = 'RETRY_PENDING'"),
    )
    op.create_index(
        "ix_work_orders_pending",
        "work_orders",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.create_table(
        "agent_targets",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("stack_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("agent_targets_agent_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["stack_id"], ["stacks.id"], name=op.f("agent_targets_stack_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("agent_targets_pkey")),
        sa.UniqueConstraint("agent_id", "stack_id", name=op.f("agent_targets_agent_id_stack_id_key")),
    )
    op.create_index("ix_agent_targets_stack_id", "agent_targets", ["stack_id"], unique=False)
    op.create_table(
        "deployment_objects",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sequence_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("stack_id", sa.UUID(), nullable=False),
        sa.Column("yaml_content", sa.Text(), nullable=False),
        sa.Column("yaml_checksum", sa.Text(), nullable=False),
        sa.Column(
            "submitted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("is_deletion_marker", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.ForeignKeyConstraint(
            ["stack_id"], ["stacks.id"], name=op.f("deployment_objects_stack_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("deployment_objects_pkey")),
        sa.UniqueConstraint("sequence_id", name=op.f("deployment_objects_sequence_id_key")),
    )
    op.create_index(
        "ix_deployment_objects_live_markers",
        "deployment_objects",
        ["stack_id"],
        unique=False,
        postgresql_where=sa.text("is_deletion_marker AND deleted_at IS NULL"),
    )
    op.create_index("ix_deployment_objects_stack_id", "deployment_objects", ["stack_id"], unique=False)
    op.create_index(
        "ix_deployment_objects_stack_live_seq",
        "deployment_objects",
        ["stack_id", "sequence_id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "stack_annotations",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("stack_id", sa.UUID(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["stack_id"], ["stacks.id"], name=op.f("stack_annotations_stack_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("stack_annotations_pkey")),
        sa.UniqueConstraint("stack_id", "key", name=op.f("stack_annotations_stack_id_key_key")),
    )
    op.create_index("ix_stack_annotations_key_value", "stack_annotations", ["key", "value"], unique=False)
    op.create_table(
        "stack_labels",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("stack_id", sa.UUID(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["stack_id"], ["stacks.id"], name=op.f("stack_labels_stack_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("stack_labels_pkey")),
        sa.UniqueConstraint("stack_id", "label", name=op.f("stack_labels_stack_id_label_key")),
    )
    op.create_index("ix_stack_labels_label", "stack_labels", ["label"], unique=False)
    op.create_table(
        "template_annotations",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("template_id", sa.UUID(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["stack_templates.id"],
            name=op.f("template_annotations_template_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("template_annotations_pkey")),
        sa.UniqueConstraint("template_id", "key", name=op.f("template_annotations_template_id_key_key")),
    )
    op.create_table(
        "template_labels",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("template_id", sa.UUID(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["stack_templates.id"],
            name=op.f("template_labels_template_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("template_labels_pkey")),
        sa.UniqueConstraint("template_id", "label", name=op.f("template_labels_template_id_label_key")),
    )
    op.create_table(
        "template_targets",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("template_id", sa.UUID(), nullable=False),
        sa.Column("stack_id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["stack_id"], ["stacks.id"], name=op.f("template_targets_stack_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["stack_templates.id"],
            name=op.f("template_targets_template_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("template_targets_pkey")),
        sa.UniqueConstraint(
            "template_id", "stack_id", name=op.f("template_targets_template_id_stack_id_key")
        ),
    )
    op.create_table(
        "work_order_annotations",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("work_order_id", sa.UUID(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("work_order_annotations_work_order_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("work_order_annotations_pkey")),
        sa.UniqueConstraint(
            "work_order_id", "key", "value", name=op.f("work_order_annotations_work_order_id_key_value_key")
        ),
    )
    op.create_index(
        "ix_work_order_annotations_key_value", "work_order_annotations", ["key", "value"], unique=False
    )
    op.create_table(
        "work_order_labels",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("work_order_id", sa.UUID(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("work_order_labels_work_order_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("work_order_labels_pkey")),
        sa.UniqueConstraint("work_order_id", "label", name=op.f("work_order_labels_work_order_id_label_key")),
    )
    op.create_index("ix_work_order_labels_label", "work_order_labels", ["label"], unique=False)
    op.create_table(
        "work_order_targets",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("work_order_id", sa.UUID(), nullable=False),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("work_order_targets_agent_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("work_order_targets_work_order_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("work_order_targets_pkey")),
        sa.UniqueConstraint(
            "work_order_id", "agent_id", name=op.f("work_order_targets_work_order_id_agent_id_key")
        ),
    )
    op.create_index("ix_work_order_targets_agent_id", "work_order_targets", ["agent_id"], unique=False)
    op.create_table(
        "agent_events",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("deployment_object_id", sa.UUID(), nullable=False),
        sa.Column("stack_id", sa.UUID(), nullable=True),
        sa.Column("event_type", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("agent_events_agent_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["deployment_object_id"],
            ["deployment_objects.id"],
            name=op.f("agent_events_deployment_object_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stack_id"], ["stacks.id"], name=op.f("agent_events_stack_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("agent_events_pkey")),
    )
    op.create_index("ix_agent_events_created_at", "agent_events", ["created_at"], unique=False)
    op.create_index(
        "ix_agent_events_deployment_object_id", "agent_events", ["deployment_object_id"], unique=False
    )
    op.create_index(
        "ix_agent_events_live_agent_stack",
        "agent_events",
        ["agent_id", "stack_id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_agent_events_live_object_agent",
        "agent_events",
        ["deployment_object_id", "agent_id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_agent_events_live_success",
        "agent_events",
        ["deployment_object_id", "agent_id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL AND upper(status) = 'SUCCESS'"),
    )
    op.create_table(
        "deployment_health",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("deployment_object_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('healthy', 'degraded', 'failing', 'unknown')",
            name=op.f("deployment_health_status_check"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("deployment_health_agent_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["deployment_object_id"],
            ["deployment_objects.id"],
            name=op.f("deployment_health_deployment_object_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("deployment_health_pkey")),
        sa.UniqueConstraint(
            "agent_id",
            "deployment_object_id",
            name=op.f("deployment_health_agent_id_deployment_object_id_key"),
        ),
    )
    op.create_index(
        "ix_deployment_health_deployment_object_id",
        "deployment_health",
        ["deployment_object_id"],
        unique=False,
    )
    op.create_table(
        "diagnostic_requests",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("deployment_object_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'claimed', 'completed', 'failed', 'expired')",
            name=op.f("diagnostic_requests_status_check"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("diagnostic_requests_agent_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["deployment_object_id"],
            ["deployment_objects.id"],
            name=op.f("diagnostic_requests_deployment_object_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("diagnostic_requests_pkey")),
    )
    op.create_index(
        "ix_diagnostic_requests_deployment_object_id",
        "diagnostic_requests",
        ["deployment_object_id"],
        unique=False,
    )
    op.create_index("ix_diagnostic_requests_expires_at", "diagnostic_requests", ["expires_at"], unique=False)
    op.create_index(
        "ix_diagnostic_requests_pending",
        "diagnostic_requests",
        ["agent_id"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "rendered_deployment_objects",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("deployment_object_id", sa.UUID(), nullable=False),
        sa.Column("template_id", sa.UUID(), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("template_parameters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_object_id"],
            ["deployment_objects.id"],
            name=op.f("rendered_deployment_objects_deployment_object_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["stack_templates.id"],
            name=op.f("rendered_deployment_objects_template_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("rendered_deployment_objects_pkey")),
        sa.UniqueConstraint(
            "deployment_object_id", name=op.f("rendered_deployment_objects_deployment_object_id_key")
        ),
    )
    op.create_index(
        "ix_rendered_deployment_objects_template",
        "rendered_deployment_objects",
        ["template_id", "template_version"],
        unique=False,
    )
    op.create_table(
        "diagnostic_results",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("request_id", sa.UUID(), nullable=False),
        sa.Column("pod_statuses", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("log_tails", sa.Text(), nullable=True),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["diagnostic_requests.id"],
            name=op.f("diagnostic_results_request_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("diagnostic_results_pkey")),
    )
    op.create_index("ix_diagnostic_results_request_id", "diagnostic_results", ["request_id"], unique=False)
    _create_triggers()


def downgrade() -> None:
    # Dropping a table drops its indexes and triggers; children before parents.
    for table in _TABLES_CHILDREN_FIRST:
        op.drop_table(table)
    op.execute("DROP FUNCTION brokkr_guard_deployment_object()")
    op.execute("DROP FUNCTION brokkr_guard_admin_role()")


_TABLES_CHILDREN_FIRST = [
    "diagnostic_results",
    "rendered_deployment_objects",
    "diagnostic_requests",
    "deployment_health",
    "agent_events",
    "work_order_targets",
    "work_order_labels",
    "work_order_annotations",
    "template_targets",
    "template_labels",
    "template_annotations",
    "stack_labels",
    "stack_annotations",
    "deployment_objects",
    "agent_targets",
    "work_orders",
    "work_order_log",
    "webhook_deliveries",
    "stacks",
    "stack_templates",
    "agent_labels",
    "agent_annotations",
    "webhook_subscriptions",
    "generators",
    "audit_logs",
    "app_initialization",
    "agents",
    "admin_role",
]
