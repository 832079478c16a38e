"""Work orders, their claims and completions, and the log of finished orders."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from brokkr_broker_app.routes._http import call, frozen, json, no_content
from brokkr_broker_app.wire import dump, parse_body, path_uuid, query_int, query_uuid
from brokkr_domain.errors import ValidationError
from brokkr_domain.model import WorkOrder
from brokkr_domain.ports import RetryScheduled
from brokkr_domain.usecases import work_orders


@frozen
class Targeting:
    agent_ids: list[UUID] | None = None
    labels: list[str] | None = None
    annotations: dict[str, str] | None = None


@frozen
class NewWorkOrder:
    work_type: str
    yaml_content: str
    max_retries: int | None = None
    backoff_seconds: int | None = None
    claim_timeout_seconds: int | None = None
    targeting: Targeting | None = None
    target_agent_ids: list[UUID] | None = None


@frozen
class Claim:
    agent_id: UUID


@frozen
class Completion:
    success: bool
    message: str | None = None
    retryable: bool = True


def work_order_json(order: WorkOrder) -> dict[str, Any]:
    """The contract's WorkOrder plus its targeting in the request's shape (an extension clients may ignore)."""
    data: dict[str, Any] = dump(order)
    data["targeting"] = {
        "agent_ids": sorted(str(a) for a in order.targeting.agent_ids),
        "labels": sorted(order.targeting.labels),
        "annotations": dict(sorted(order.targeting.annotations)),
    }
    return data


def _bool_query(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise ValidationError(f"query parameter {name} must be true or false", details={"field": name})


async def list_orders(request: Request) -> Response:
    q = request.query_params
    orders = await call(
        request, work_orders.list_work_orders, status=q.get("status"), work_type=q.get("work_type")
    )
    return json([work_order_json(o) for o in orders])


async def create_order(request: Request) -> Response:
    body = await parse_body(request, NewWorkOrder)
    targeting = body.targeting or Targeting()
    order = await call(
        request,
        work_orders.create_work_order,
        work_type=body.work_type,
        yaml_content=body.yaml_content,
        agent_ids=targeting.agent_ids or (),
        labels=targeting.labels or (),
        annotations=targeting.annotations,
        target_agent_ids=body.target_agent_ids or (),
        max_retries=body.max_retries,
        backoff_seconds=body.backoff_seconds,
        claim_timeout_seconds=body.claim_timeout_seconds,
    )
    return json(work_order_json(order), status=201)


async def get_order(request: Request) -> Response:
    return json(work_order_json(await call(request, work_orders.get_work_order, path_uuid(request))))


async def delete_order(request: Request) -> Response:
    await call(request, work_orders.delete_work_order, path_uuid(request))
    return no_content()


async def pending_for_agent(request: Request) -> Response:
    orders = await call(
        request,
        work_orders.pending_for_agent,
        path_uuid(request, "agent_id"),
        work_type=request.query_params.get("work_type"),
    )
    return json([work_order_json(o) for o in orders])


async def claim(request: Request) -> Response:
    body = await parse_body(request, Claim)
    order = await call(request, work_orders.claim_work_order, path_uuid(request), agent_id=body.agent_id)
    return json(work_order_json(order))


async def complete(request: Request) -> Response:
    body = await parse_body(request, Completion)
    outcome = await call(
        request,
        work_orders.complete_work_order,
        path_uuid(request),
        success=body.success,
        message=body.message,
        retryable=body.retryable,
    )
    if isinstance(outcome, RetryScheduled):
        return JSONResponse({"status": "retry_scheduled"}, status_code=202)
    return json(outcome)


async def list_log(request: Request) -> Response:
    limit = query_int(request, "limit", 0, low=0, high=10_000) or None
    return json(
        await call(
            request,
            work_orders.list_work_order_log,
            work_type=request.query_params.get("work_type"),
            success=_bool_query(request, "success"),
            agent_id=query_uuid(request, "agent_id"),
            limit=limit,
        )
    )


async def get_log(request: Request) -> Response:
    return json(await call(request, work_orders.get_work_order_log_entry, path_uuid(request)))


routes = [
    Route("/work-orders", list_orders, methods=["GET"]),
    Route("/work-orders", create_order, methods=["POST"]),
    Route("/work-orders/{id}", get_order, methods=["GET"]),
    Route("/work-orders/{id}", delete_order, methods=["DELETE"]),
    Route("/work-orders/{id}/claim", claim, methods=["POST"]),
    Route("/work-orders/{id}/complete", complete, methods=["POST"]),
    Route("/agents/{agent_id}/work-orders/pending", pending_for_agent, methods=["GET"]),
    Route("/work-order-log", list_log, methods=["GET"]),
    Route("/work-order-log/{id}", get_log, methods=["GET"]),
]

__all__ = ["routes"]
