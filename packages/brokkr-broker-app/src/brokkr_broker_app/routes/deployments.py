"""Deployment objects, agent health reports and roll-ups, and diagnostics."""

from __future__ import annotations

import json as jsonlib
from datetime import datetime
from typing import Any
from uuid import UUID

import attrs
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from brokkr_broker_app.routes._http import call, frozen, json
from brokkr_broker_app.wire import dump, parse_body, path_uuid
from brokkr_domain.model import DeploymentHealth, HealthSummary, ResourceHealth
from brokkr_domain.usecases import deployment_objects, diagnostics, health


@frozen
class ResourceBody:
    kind: str
    name: str
    namespace: str
    ready: bool
    message: str | None = None


@frozen
class SummaryBody:
    pods_ready: int = 0
    pods_total: int = 0
    conditions: list[str] = attrs.field(factory=list)
    resources: list[ResourceBody] | None = None


@frozen
class HealthEntry:
    id: UUID
    status: str
    checked_at: datetime
    summary: SummaryBody | None = None


@frozen
class HealthStatusUpdate:
    deployment_objects: list[HealthEntry]


@frozen
class NewDiagnostic:
    agent_id: UUID
    requested_by: str | None = None
    retention_minutes: int | None = None


@frozen
class DiagnosticResultBody:
    pod_statuses: str
    events: str
    collected_at: datetime
    log_tails: str | None = None


def health_record(row: DeploymentHealth) -> dict[str, Any]:
    """The contract carries the summary as JSON text."""
    data: dict[str, Any] = dump(row)
    data["summary"] = jsonlib.dumps(data["summary"]) if row.summary is not None else None
    return data


async def get_object(request: Request) -> Response:
    return json(await call(request, deployment_objects.get_deployment_object, path_uuid(request)))


async def object_health(request: Request) -> Response:
    report = await call(request, deployment_objects.deployment_object_health, path_uuid(request))
    return json(
        {
            "deployment_object_id": report.deployment_object_id,
            "health_records": [health_record(r) for r in report.health_records],
            "overall_status": report.overall_status,
        }
    )


async def update_health_status(request: Request) -> Response:
    body = await parse_body(request, HealthStatusUpdate)
    updates = [
        health.HealthUpdate(
            deployment_object_id=e.id,
            status=e.status,
            checked_at=e.checked_at,
            summary=None
            if e.summary is None
            else HealthSummary(
                pods_ready=e.summary.pods_ready,
                pods_total=e.summary.pods_total,
                conditions=tuple(e.summary.conditions),
                resources=tuple(
                    ResourceHealth(
                        kind=r.kind, name=r.name, namespace=r.namespace, ready=r.ready, message=r.message
                    )
                    for r in e.summary.resources or ()
                ),
            ),
        )
        for e in body.deployment_objects
    ]
    await call(request, health.report_health, path_uuid(request), updates)
    return Response(status_code=200)


async def create_diagnostic(request: Request) -> Response:
    body = await parse_body(request, NewDiagnostic)
    created = await call(
        request,
        diagnostics.request_diagnostic,
        path_uuid(request),
        agent_id=body.agent_id,
        requested_by=body.requested_by,
        retention_minutes=body.retention_minutes,
    )
    return json(created, status=201)


async def pending_diagnostics(request: Request) -> Response:
    return json(await call(request, diagnostics.pending_diagnostics, path_uuid(request)))


async def get_diagnostic(request: Request) -> Response:
    view = await call(request, diagnostics.get_diagnostic, path_uuid(request))
    return json({"request": view.request, "result": view.result})


async def claim_diagnostic(request: Request) -> Response:
    return json(await call(request, diagnostics.claim_diagnostic, path_uuid(request)))


async def submit_result(request: Request) -> Response:
    body = await parse_body(request, DiagnosticResultBody)
    result = await call(
        request,
        diagnostics.submit_diagnostic_result,
        path_uuid(request),
        pod_statuses=body.pod_statuses,
        events=body.events,
        collected_at=body.collected_at,
        log_tails=body.log_tails,
    )
    return json(result, status=201)


routes = [
    Route("/deployment-objects/{id}", get_object, methods=["GET"]),
    Route("/deployment-objects/{id}/health", object_health, methods=["GET"]),
    Route("/deployment-objects/{id}/diagnostics", create_diagnostic, methods=["POST"]),
    Route("/agents/{id}/health-status", update_health_status, methods=["PATCH"]),
    Route("/agents/{id}/diagnostics/pending", pending_diagnostics, methods=["GET"]),
    Route("/diagnostics/{id}", get_diagnostic, methods=["GET"]),
    Route("/diagnostics/{id}/claim", claim_diagnostic, methods=["POST"]),
    Route("/diagnostics/{id}/result", submit_result, methods=["POST"]),
]
