"""Notify listeners when anything an agent's target state is computed from changes.

Every statement that writes to a table the target-state query reads sends ``NOTIFY brokkr_target_state``.
PostgreSQL delivers notifications at commit (never for rolled-back work) and folds repeats within one
transaction, so a broker that LISTENs can keep answers cached until the next notification instead of querying on
every poll. Heartbeats write only the agents table and never notify: the agents table notifies only when an
agent is deleted (an admin asking about a deleted agent must get 404 again).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

CHANNEL = "brokkr_target_state"

# The tables of ASSOCIATED_STACK_IDS and of the target-state query.
_SOURCES = (
    "stacks",
    "deployment_objects",
    "agent_events",
    "agent_targets",
    "agent_labels",
    "agent_annotations",
    "stack_labels",
    "stack_annotations",
)

_FUNCTION = f"""
CREATE FUNCTION brokkr_notify_target_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', '');
    RETURN NULL;
END
$$;
"""


def upgrade() -> None:
    op.execute(_FUNCTION)
    for table in _SOURCES:
        op.execute(
            f"CREATE TRIGGER {table}_notify_target_state AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION brokkr_notify_target_state()"
        )
    op.execute(
        "CREATE TRIGGER agents_notify_target_state AFTER UPDATE OF deleted_at ON agents "
        "FOR EACH ROW WHEN (OLD.deleted_at IS DISTINCT FROM NEW.deleted_at) "
        "EXECUTE FUNCTION brokkr_notify_target_state()"
    )
    op.execute(
        "CREATE TRIGGER agents_removed_notify_target_state AFTER DELETE OR TRUNCATE ON agents "
        "FOR EACH STATEMENT EXECUTE FUNCTION brokkr_notify_target_state()"
    )


def downgrade() -> None:
    for table in _SOURCES:
        op.execute(f"DROP TRIGGER {table}_notify_target_state ON {table}")
    op.execute("DROP TRIGGER agents_notify_target_state ON agents")
    op.execute("DROP TRIGGER agents_removed_notify_target_state ON agents")
    op.execute("DROP FUNCTION brokkr_notify_target_state()")
