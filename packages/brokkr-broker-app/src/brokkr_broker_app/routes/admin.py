"""Admin: the audit log and configuration reload."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from brokkr_broker_app.routes._http import call, caller_of, json
from brokkr_broker_app.wire import dump, query_int, query_timestamp, query_uuid
from brokkr_domain.ports import AuditQuery
from brokkr_domain.usecases import audit
from brokkr_domain.usecases._authz import require_admin


async def audit_logs(request: Request) -> Response:
    q = request.query_params
    query = AuditQuery(
        actor_type=q.get("actor_type") or None,
        actor_id=query_uuid(request, "actor_id"),
        action=q.get("action") or None,
        resource_type=q.get("resource_type") or None,
        resource_id=query_uuid(request, "resource_id"),
        since=query_timestamp(request, "from"),
        until=query_timestamp(request, "to"),
        limit=query_int(request, "limit", 100, low=1, high=1000),
        offset=query_int(request, "offset", 0, low=0, high=100_000_000),
    )
    page = await call(request, audit.query_audit_logs, query)
    logs = []
    for entry in page.logs:
        data = dump(entry)
        for optional in ("ip_address", "user_agent"):
            if data.get(optional) is None:
                data.pop(optional, None)
        logs.append(data)
    return json(
        {"logs": logs, "total": page.total, "count": page.count, "limit": page.limit, "offset": page.offset}
    )


async def reload_config(request: Request) -> Response:
    caller = caller_of(request)
    require_admin(caller)
    result = await run_in_threadpool(request.app.state.reload_config, caller)
    await run_in_threadpool(request.app.state.reload_broadcast.publish)  # the other workers and replicas
    return json(
        {
            "reloaded_at": result.reloaded_at,
            "changes": [
                {"key": c.key, "old_value": c.old_value, "new_value": c.new_value, "applied": c.applied}
                for c in result.changes
            ],
            "success": True,
            "message": result.message,
        }
    )


routes = [
    Route("/admin/audit-logs", audit_logs, methods=["GET"]),
    Route("/admin/config/reload", reload_config, methods=["POST"]),
]
