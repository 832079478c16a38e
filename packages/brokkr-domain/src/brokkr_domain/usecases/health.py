"""Deployment health: agents report per object, the admin reads the roll-up of a stack.

A report is all or nothing. v0.4.0 silently dropped entries with an unknown status and failed with a 500 on an
unknown object id after writing part of the batch; here the whole batch is validated first (400 naming the
entry) and every object id is checked (404 listing the unknown ones) before a single row is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import attrs

from brokkr_domain.errors import NotFoundError, ValidationError
from brokkr_domain.model import Caller, DeploymentHealth, HealthStatus, HealthSummary
from brokkr_domain.rules.health import ObjectHealth, stack_rollup
from brokkr_domain.usecases._authz import load_agent, load_stack, require_admin, require_admin_or_agent
from brokkr_domain.usecases.context import Services

#: Most entries accepted in one report; an agent reports the objects it applied, far fewer than this.
MAX_UPDATES = 1000


@attrs.frozen(kw_only=True)
class HealthUpdate:
    """One entry of ``PATCH /agents/{id}/health-status`` as received (status still unvalidated text)."""

    deployment_object_id: UUID
    status: str
    checked_at: datetime
    summary: HealthSummary | None = None


@attrs.frozen(kw_only=True)
class StackHealthReport:
    """``GET /stacks/{id}/health``: the worst status per live object and overall."""

    stack_id: UUID
    overall_status: HealthStatus
    deployment_objects: tuple[ObjectHealth, ...]


def report_health(s: Services, caller: Caller, agent_id: UUID, updates: Sequence[HealthUpdate]) -> int:
    """Upsert one row per (agent, object); returns how many were written.

    Objects may be soft-deleted (a stack deleted between the agent's check and its report) but must exist.
    Not audited: agents report every minute, and each row already names the agent.
    """
    require_admin_or_agent(caller, agent_id)
    parsed = [_parse(index, update) for index, update in enumerate(_bounded(updates))]
    now = s.clock.now()
    with s.uow() as uow:
        load_agent(uow, agent_id)
        wanted = {update.deployment_object_id for update in parsed}
        unknown = sorted(
            str(object_id)
            for object_id in wanted
            if uow.deployment_objects.get(object_id, include_deleted=True) is None
        )
        if unknown:
            raise NotFoundError(
                f"unknown deployment object(s): {', '.join(unknown)}",
                code="deployment_object_not_found",
                details={"field": "deployment_objects", "ids": unknown},
            )
        for update in parsed:
            uow.health.upsert(
                DeploymentHealth(
                    id=s.ids.new_id(),
                    agent_id=agent_id,
                    deployment_object_id=update.deployment_object_id,
                    status=HealthStatus(update.status),
                    summary=update.summary,
                    checked_at=update.checked_at,
                    created_at=now,
                    updated_at=now,
                )
            )
        uow.commit()
    return len(parsed)


def stack_health(s: Services, caller: Caller, stack_id: UUID) -> StackHealthReport:
    """Admin only. Per live object (newest first) the worst agent report; unknown id ⇒ 404 (v0.4.0: 200)."""
    require_admin(caller)
    with s.uow() as uow:
        load_stack(uow, stack_id, include_deleted=True)
        objects = [obj.id for obj in uow.deployment_objects.list_for_stack(stack_id)]
        rows = uow.health.list_for_stack(stack_id)
    rollup = stack_rollup(objects, rows)
    return StackHealthReport(
        stack_id=stack_id, overall_status=rollup.overall_status, deployment_objects=rollup.deployment_objects
    )


def _bounded(updates: Sequence[HealthUpdate]) -> Sequence[HealthUpdate]:
    if len(updates) > MAX_UPDATES:
        raise ValidationError(
            f"at most {MAX_UPDATES} health entries per report (got {len(updates)})",
            code="invalid_health_report",
            details={"field": "deployment_objects", "max_items": MAX_UPDATES},
        )
    return updates


def _parse(index: int, update: HealthUpdate) -> HealthUpdate:
    """Normalise and check one entry: a known status (any case), an aware timestamp, sane pod counts."""
    field = f"deployment_objects[{index}]"
    status = update.status.strip().lower()
    if status not in {member.value for member in HealthStatus}:
        raise ValidationError(
            f"{field}.status must be one of healthy, degraded, failing, unknown (got {update.status!r})",
            code="invalid_health_status",
            details={"field": f"{field}.status", "allowed": [member.value for member in HealthStatus]},
        )
    if update.checked_at.tzinfo is None:
        raise ValidationError(
            f"{field}.checked_at must carry a timezone",
            code="invalid_health_report",
            details={"field": f"{field}.checked_at"},
        )
    summary = update.summary
    if summary is not None and (summary.pods_ready < 0 or summary.pods_total < 0):
        raise ValidationError(
            f"{field}.summary pod counts must not be negative",
            code="invalid_health_report",
            details={"field": f"{field}.summary"},
        )
    return attrs.evolve(update, status=status)


__all__ = ["MAX_UPDATES", "HealthUpdate", "StackHealthReport", "report_health", "stack_health"]
