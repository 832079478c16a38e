"""Diagnostics use cases: the admin asks one agent for a snapshot of a deployment object's pods, events and
logs.

Flow: the admin requests (pending, with an expiry) → the agent lists its pending requests, claims one,
collects and submits the result (completed) → the admin reads request and result together. Who may call:
requesting is admin-only; the pending list is the agent itself or the admin; claiming is the agent the request
is for or the admin; submitting is that agent only (a result is evidence from the cluster, which the admin
does not have); reading is the admin or that agent. Other identities get 403 before any lookup where the
answer cannot depend on the resource.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import attrs

from brokkr_domain.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from brokkr_domain.model import Caller, DiagnosticRequest, DiagnosticResult
from brokkr_domain.ports import UnitOfWork
from brokkr_domain.rules import diagnostics as rules
from brokkr_domain.usecases._authz import (
    load_agent,
    load_deployment_object,
    require_admin,
    require_admin_or_agent,
)
from brokkr_domain.usecases._authz_ops import require_admin_or_some_agent
from brokkr_domain.usecases.context import Services

RESOURCE = "diagnostic_request"
_NOT_OWNED = "only the admin or the agent this diagnostic request is for may do this"


@attrs.frozen(kw_only=True)
class DiagnosticView:
    """A request with its result, once there is one."""

    request: DiagnosticRequest
    result: DiagnosticResult | None = None


def _load(uow: UnitOfWork, request_id: UUID) -> DiagnosticRequest:
    request = uow.diagnostics.get(request_id)
    if request is None:
        raise NotFoundError(
            f"diagnostic request {request_id} not found",
            code="diagnostic_not_found",
            details={"id": str(request_id)},
        )
    return request


def _require_owner(caller: Caller, request: DiagnosticRequest, *, admin_allowed: bool = True) -> None:
    actor = caller.actor
    if (admin_allowed and actor.is_admin) or actor.is_agent(request.agent_id):
        return
    raise ForbiddenError(_NOT_OWNED, code="diagnostic_not_owned", details={"id": str(request.id)})


def request_diagnostic(
    s: Services,
    caller: Caller,
    deployment_object_id: UUID,
    *,
    agent_id: UUID,
    requested_by: str | None = None,
    retention_minutes: int | None = None,
) -> DiagnosticRequest:
    """Ask ``agent_id`` for diagnostics about a live deployment object; expires after ``retention_minutes``
    (default 60, 1..1440: 400 ``invalid_diagnostic_request``). 404 ``deployment_object_not_found`` /
    ``agent_not_found``."""
    require_admin(caller)
    now = s.clock.now()
    request = rules.new_diagnostic_request(
        id=s.ids.new_id(),
        agent_id=agent_id,
        deployment_object_id=deployment_object_id,
        now=now,
        requested_by=requested_by,
        retention_minutes=retention_minutes,
    )
    with s.uow() as uow:
        load_deployment_object(uow, deployment_object_id)
        load_agent(uow, agent_id)
        request = uow.diagnostics.add(request)
        uow.commit()
    s.audit_entry(
        caller,
        "diagnostic.requested",
        RESOURCE,
        request.id,
        {
            "agent_id": str(agent_id),
            "deployment_object_id": str(deployment_object_id),
            "expires_at": request.expires_at.isoformat(),
        },
    )
    return request


def pending_diagnostics(s: Services, caller: Caller, agent_id: UUID) -> list[DiagnosticRequest]:
    """The agent's pending, unexpired requests, oldest first."""
    require_admin_or_agent(caller, agent_id)
    with s.uow() as uow:
        load_agent(uow, agent_id)
        return uow.diagnostics.pending_for_agent(agent_id, s.clock.now())


def claim_diagnostic(s: Services, caller: Caller, request_id: UUID) -> DiagnosticRequest:
    """pending → claimed; 409 ``diagnostic_already_claimed`` when it is not pending (or has expired)."""
    require_admin_or_some_agent(caller, code="diagnostic_not_owned", message=_NOT_OWNED)
    now = s.clock.now()
    with s.uow() as uow:
        request = _load(uow, request_id)
        _require_owner(caller, request)
        rules.claim(request, now)  # the state checks and their messages
        claimed = uow.diagnostics.claim(request_id, now)
        if claimed is None:  # somebody else got there first
            raise ConflictError(
                f"diagnostic request {request_id} was claimed concurrently",
                code="diagnostic_already_claimed",
                details={"id": str(request_id)},
            )
        uow.commit()
    s.audit_entry(caller, "diagnostic.claimed", RESOURCE, request_id, {"agent_id": str(request.agent_id)})
    return claimed


def submit_diagnostic_result(
    s: Services,
    caller: Caller,
    request_id: UUID,
    *,
    pod_statuses: str,
    events: str,
    collected_at: datetime,
    log_tails: str | None = None,
) -> DiagnosticResult:
    """Store the collected result and complete the request. Only the agent the request is for may submit (403
    ``diagnostic_not_owned``); the request must be claimed (409 ``diagnostic_not_claimed``); each part must be
    JSON text (400 ``invalid_diagnostic_result``)."""
    if not caller.actor.is_agent():
        raise ForbiddenError(
            "only the agent this diagnostic request is for may submit its result", code="diagnostic_not_owned"
        )
    if collected_at.tzinfo is None:
        raise ValidationError(
            "collected_at must carry a time zone",
            code="invalid_diagnostic_result",
            details={"field": "collected_at"},
        )
    now = s.clock.now()
    with s.uow() as uow:
        request = _load(uow, request_id)
        _require_owner(caller, request, admin_allowed=False)
        completed = rules.complete(request, now)
        rules.validate_result(pod_statuses, events, log_tails)
        uow.diagnostics.update(completed)
        result = uow.diagnostics.add_result(
            DiagnosticResult(
                id=s.ids.new_id(),
                request_id=request_id,
                pod_statuses=pod_statuses,
                events=events,
                log_tails=log_tails,
                collected_at=collected_at,
                created_at=now,
            )
        )
        uow.commit()
    s.audit_entry(caller, "diagnostic.completed", RESOURCE, request_id, {"result_id": str(result.id)})
    return result


def get_diagnostic(s: Services, caller: Caller, request_id: UUID) -> DiagnosticView:
    """The request and its result (``None`` until submitted)."""
    require_admin_or_some_agent(caller, code="diagnostic_not_owned", message=_NOT_OWNED)
    with s.uow() as uow:
        request = _load(uow, request_id)
        _require_owner(caller, request)
        return DiagnosticView(request=request, result=uow.diagnostics.get_result(request_id))


def run_diagnostic_maintenance(s: Services, max_age: timedelta) -> tuple[int, int]:
    """Expire pending requests past their ``expires_at`` and delete finished ones created more than
    ``max_age`` ago (their results go with them); returns ``(expired, deleted)``. Claimed requests are left
    alone."""
    if max_age <= timedelta(0):
        raise ValidationError(
            "max_age must be positive", code="invalid_retention", details={"field": "max_age"}
        )
    now = s.clock.now()
    with s.uow() as uow:
        expired = uow.diagnostics.expire_pending(now)
        deleted = uow.diagnostics.delete_finished_before(now - max_age)
        uow.commit()
    return expired, deleted


__all__ = [
    "DiagnosticView",
    "claim_diagnostic",
    "get_diagnostic",
    "pending_diagnostics",
    "request_diagnostic",
    "run_diagnostic_maintenance",
    "submit_diagnostic_result",
]
