"""Webhook subscriptions (admin), deliveries, the synchronous test, and the agents' delivery side."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from brokkr_broker_app.routes._http import body_as, call, frozen, json, no_content
from brokkr_broker_app.wire import dump, parse_body, path_uuid, query_int
from brokkr_domain.errors import ValidationError
from brokkr_domain.model import DeliveryOutcome, WebhookFilters, WebhookSubscription
from brokkr_domain.usecases import webhooks


@frozen
class Filters:
    agent_id: UUID | None = None
    stack_id: UUID | None = None
    labels: dict[str, str] | None = None


@frozen
class NewWebhook:
    name: str
    url: str
    event_types: list[str]
    auth_header: str | None = None
    signing_secret: str | None = None
    filters: Filters | None = None
    max_retries: int | None = None
    timeout_seconds: int | None = None
    validate: bool | None = None
    target_labels: list[str] | None = None
    enabled: bool = True


@frozen
class WebhookUpdate:
    name: str | None = None
    url: str | None = None
    event_types: list[str] | None = None
    auth_header: str | None = None
    signing_secret: str | None = None
    filters: Filters | None = None
    enabled: bool | None = None
    max_retries: int | None = None
    timeout_seconds: int | None = None
    target_labels: list[str] | None = None


@frozen
class DeliveryResult:
    success: bool
    status_code: int | None = None
    error: str | None = None
    duration_ms: int | None = None


NULL_CLEARS = ("auth_header", "signing_secret", "filters", "target_labels")
NOT_NULL = ("name", "url", "event_types", "enabled", "max_retries", "timeout_seconds")


def _filters(f: Filters | None) -> WebhookFilters | None:
    return None if f is None else WebhookFilters(agent_id=f.agent_id, stack_id=f.stack_id, labels=f.labels)


def webhook_json(sub: WebhookSubscription) -> dict[str, Any]:
    """``WebhookResponse``: secrets never leave the broker, only whether they are set."""
    return {
        "id": str(sub.id),
        "name": sub.name,
        "has_url": bool(sub.url),
        "has_auth_header": sub.auth_header is not None,
        "has_signing_secret": sub.signing_secret is not None,
        "event_types": list(sub.event_types),
        "filters": dump(sub.filters) if sub.filters is not None else None,
        "target_labels": list(sub.target_labels) if sub.target_labels is not None else None,
        "enabled": sub.enabled,
        "max_retries": sub.max_retries,
        "timeout_seconds": sub.timeout_seconds,
        "created_at": dump(sub.created_at),
        "updated_at": dump(sub.updated_at),
        "created_by": sub.created_by,
    }


async def list_webhooks(request: Request) -> Response:
    return json([webhook_json(s) for s in await call(request, webhooks.list_webhooks)])


async def create_webhook(request: Request) -> Response:
    body = await parse_body(request, NewWebhook)
    sub = await call(
        request,
        webhooks.create_webhook,
        name=body.name,
        url=body.url,
        event_types=body.event_types,
        auth_header=body.auth_header,
        signing_secret=body.signing_secret,
        filters=_filters(body.filters),
        target_labels=body.target_labels,
        max_retries=body.max_retries,
        timeout_seconds=body.timeout_seconds,
        enabled=body.enabled,
    )
    return json(webhook_json(sub), status=201)


async def event_types(request: Request) -> Response:
    return json(await call(request, webhooks.list_event_types))


async def get_webhook(request: Request) -> Response:
    return json(webhook_json(await call(request, webhooks.get_webhook, path_uuid(request))))


async def update_webhook(request: Request) -> Response:
    body, raw = await body_as(request, WebhookUpdate)
    changes: dict[str, Any] = {}
    for name in NOT_NULL:
        if raw.get(name) is not None:
            changes[name] = getattr(body, name)
    for name in NULL_CLEARS:
        if name in raw:
            changes[name] = _filters(body.filters) if name == "filters" else getattr(body, name)
    sub = await call(request, webhooks.update_webhook, path_uuid(request), **changes)
    return json(webhook_json(sub))


async def delete_webhook(request: Request) -> Response:
    await call(request, webhooks.delete_webhook, path_uuid(request))
    return no_content()


async def list_deliveries(request: Request) -> Response:
    return json(
        await call(
            request,
            webhooks.list_deliveries,
            path_uuid(request),
            status=request.query_params.get("status") or None,
            limit=query_int(request, "limit", 50, low=1, high=1000),
            offset=query_int(request, "offset", 0, low=0, high=10_000_000),
        )
    )


async def test_webhook(request: Request) -> Response:
    test = await call(request, webhooks.test_webhook_payload, path_uuid(request))
    sender = request.app.state.webhook_sender
    outcome: DeliveryOutcome = await run_in_threadpool(
        sender.post,
        test.subscription.url,
        test.payload.encode("utf-8"),
        test.headers,
        float(test.subscription.timeout_seconds),
    )
    if not outcome.success:
        details: dict[str, Any] = {"error": outcome.error}
        if outcome.status_code is not None:
            details["status_code"] = outcome.status_code
        raise ValidationError(
            f"test delivery failed: {outcome.error}", code="webhook_test_failed", details=details
        )
    return json({"success": True, "status_code": outcome.status_code, "message": "Test delivery successful"})


async def agent_pending(request: Request) -> Response:
    """The one place secrets leave the broker: the claiming agent needs the decrypted URL, the Authorization
    value and the signing secret to deliver (and sign) the event itself."""
    pending = await call(request, webhooks.pending_deliveries_for_agent, path_uuid(request, "agent_id"))
    return JSONResponse(dump(pending, exclude=frozenset()))


async def report_result(request: Request) -> Response:
    body = await parse_body(request, DeliveryResult)
    outcome = DeliveryOutcome(
        success=body.success, status_code=body.status_code, error=body.error, duration_ms=body.duration_ms
    )
    delivery = await call(request, webhooks.report_delivery_result, path_uuid(request), outcome)
    if delivery.status.value == "success":
        return json({"status": "success", "delivery_id": delivery.id})
    return json(
        {
            "status": delivery.status,
            "delivery_id": delivery.id,
            "attempts": delivery.attempts,
            "next_retry_at": delivery.next_retry_at,
        }
    )


routes = [
    Route("/webhooks", list_webhooks, methods=["GET"]),
    Route("/webhooks", create_webhook, methods=["POST"]),
    Route("/webhooks/event-types", event_types, methods=["GET"]),
    Route("/webhooks/{id}", get_webhook, methods=["GET"]),
    Route("/webhooks/{id}", update_webhook, methods=["PUT"]),
    Route("/webhooks/{id}", delete_webhook, methods=["DELETE"]),
    Route("/webhooks/{id}/deliveries", list_deliveries, methods=["GET"]),
    Route("/webhooks/{id}/test", test_webhook, methods=["POST"]),
    Route("/agents/{agent_id}/webhooks/pending", agent_pending, methods=["GET"]),
    Route("/webhook-deliveries/{id}/result", report_result, methods=["POST"]),
]
