"""``HttpBrokerGateway``: the agent's client for the broker's REST API (the ``BrokerGateway`` port).

One ``httpx.Client`` with connection reuse and timeouts. Transport errors, 5xx and 429 are retried with jittered
exponential backoff (bounded attempts, honouring ``Retry-After``); other 4xx are never retried and become the
matching domain error with the broker's ``code`` and message. Exhausted retries raise ``TransientError``.

Calls that change something the broker would not want twice (claims, completions, events, results) are
retried only when the request certainly did not take effect: the connection could not be made, or the broker
answered 429/503 (it refused before doing anything). A timeout or a 500/502/504 after such a request was sent
may hide a success; repeating a claim would then be refused as "already claimed" and strand the order, so
those errors surface at once and the caller's loop tries again on its next tick.

With a tracer (tracing on), each API call is one CLIENT span ``<METHOD> /api/v1/<path with :id>`` covering its
retries, and its W3C ``traceparent`` goes with every attempt so the broker's span continues the agent's trace.
Headers (the PAK) and bodies are never put on a span. The ``/readyz`` probe is not traced.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import cattrs
import httpx

from brokkr_agent_app.tracing import client_span, inject_trace_context, route_of
from brokkr_domain.errors import (
    BrokkrError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    TransientError,
    UnauthorizedError,
    UnprocessableError,
    ValidationError,
)
from brokkr_domain.model import (
    Actor,
    Agent,
    AgentEvent,
    DeliveryOutcome,
    DeploymentObject,
    DiagnosticRequest,
    DiagnosticResult,
    PendingWebhookDelivery,
    WorkOrder,
    WorkOrderLog,
)
from brokkr_domain.ports import (
    DiagnosticReport,
    EventReport,
    HealthReport,
    RetryScheduled,
    WorkOrderCompletion,
)

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

T = TypeVar("T")
API_PREFIX = "/api/v1"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REFUSED_STATUSES = frozenset({429, 503})  # answered before any work was done
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
ERRORS_BY_STATUS: dict[int, type[BrokkrError]] = {
    400: ValidationError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableError,
}


def _converter() -> cattrs.Converter:
    conv = cattrs.Converter()
    conv.register_structure_hook(UUID, lambda v, _: UUID(str(v)))
    conv.register_structure_hook(datetime, lambda v, _: datetime.fromisoformat(str(v).replace("Z", "+00:00")))
    conv.register_unstructure_hook(UUID, str)
    conv.register_unstructure_hook(datetime, lambda d: d.isoformat().replace("+00:00", "Z"))
    return conv


def _first_line(exc: Exception) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        messages = cattrs.transform_error(exc)
        return "; ".join(messages[:3])
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class HttpBrokerGateway:
    def __init__(
        self,
        broker_url: str,
        pak: str,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        max_attempts: int = 4,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        headers: dict[str, str] | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        """``tracer`` (tracing on) wraps each API call in a CLIENT span and sends its ``traceparent``."""
        self.base = broker_url.rstrip("/")
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._sleep = sleep
        self._conv = _converter()
        self._client = httpx.Client(
            base_url=f"{self.base}{API_PREFIX}",
            headers={"Authorization": f"Bearer {pak}", "User-Agent": "brokkr-agent", **(headers or {})},
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            transport=transport,
        )
        self._plain = httpx.Client(base_url=self.base, timeout=httpx.Timeout(5.0), transport=transport)
        self.last_success: float | None = None
        self._tracer = tracer
        url = httpx.URL(self.base)
        self._server_attributes: dict[str, str | int] = {"server.address": url.host}
        if url.port is not None:
            self._server_attributes["server.port"] = url.port

    # --- transport ----------------------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        idempotent: bool = True,
    ) -> Any:
        if self._tracer is None:
            return self._send(method, path, json=json, params=params, idempotent=idempotent)
        route = f"{API_PREFIX}{route_of(path)}"
        attributes = {**self._server_attributes, "http.request.method": method, "http.route": route}
        with client_span(self._tracer, f"{method} {route}", attributes) as span:
            # Injected inside the span: the broker's server span becomes this call's child.
            headers = inject_trace_context({})
            return self._send(
                method, path, json=json, params=params, idempotent=idempotent, headers=headers, span=span
            )

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any,
        params: dict[str, str] | None,
        idempotent: bool,
        headers: dict[str, str] | None = None,
        span: Span | None = None,
    ) -> Any:
        """Send with retries; ``span`` (tracing on) gets the status code, resends and the error type."""
        retry_statuses = RETRY_STATUSES if idempotent else REFUSED_STATUSES
        attempt = 0
        while True:
            attempt += 1
            if span is not None and attempt > 1:
                span.set_attribute("http.request.resend_count", attempt - 1)
            try:
                response = self._client.request(method, path, json=json, params=params, headers=headers)
            except httpx.TransportError as exc:
                retryable = idempotent or isinstance(exc, NOT_SENT)
                if attempt >= self.max_attempts or not retryable:
                    if span is not None:
                        span.set_attribute("error.type", type(exc).__name__)
                    raise TransientError(
                        f"broker unreachable ({method} {path}): {type(exc).__name__}"
                    ) from exc
                self._sleep(self._delay(attempt, None))
                continue
            if response.status_code in retry_statuses and attempt < self.max_attempts:
                self._sleep(self._delay(attempt, response.headers.get("Retry-After")))
                continue
            if span is not None:
                span.set_attribute("http.response.status_code", response.status_code)
                if response.status_code >= 400:
                    span.set_attribute("error.type", str(response.status_code))
            return self._decode(method, path, response)

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return min(self.backoff_max, max(0.0, float(retry_after)))
            except ValueError:
                pass
        ceiling = min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    def _decode(self, method: str, path: str, response: httpx.Response) -> Any:
        status = response.status_code
        if 200 <= status < 300:
            self.last_success = time.monotonic()
            if status == 204 or not response.content:
                return None
            return response.json()
        try:
            body = response.json()
        except ValueError:
            body = {}
        code = body.get("code") if isinstance(body, dict) else None
        message = body.get("message") if isinstance(body, dict) else None
        text = message or f"broker answered {status} to {method} {path}"
        if status >= 500 or status == 429:
            raise TransientError(text, code=code or "broker_unavailable")
        error = ERRORS_BY_STATUS.get(status, ValidationError)
        raise error(text, code=code or None)

    def _load(self, data: Any, cls: type[T]) -> T:
        """Structure a response; a shape we cannot read is the broker's (or a proxy's) fault, not a bug here."""
        try:
            return self._conv.structure(data, cls)
        except (cattrs.BaseValidationError, KeyError, TypeError, ValueError) as exc:
            raise BrokkrError(
                f"the broker sent a {cls.__name__} this agent cannot read: {_first_line(exc)}",
                code="unexpected_response",
            ) from exc

    def _load_many(self, data: Any, cls: type[T]) -> list[T]:
        if data is not None and not isinstance(data, list):
            raise BrokkrError(f"the broker sent {type(data).__name__} where a list was expected")
        return [self._load(item, cls) for item in data or []]

    # --- the port -----------------------------------------------------------------------------------------
    def is_ready(self) -> bool:
        return self.readiness_problem() is None

    def readiness_problem(self) -> str | None:
        """Why ``/readyz`` does not answer 200 (for one clear line in ``check``), or None when ready."""
        try:
            response = self._plain.get("/readyz")
        except httpx.HTTPError as exc:
            return f"unreachable ({type(exc).__name__}: {exc})"
        if response.status_code == 200:
            return None
        return f"not ready (HTTP {response.status_code}: {response.text[:200]})"

    def whoami(self) -> Actor:
        data = self._request("POST", "/auth/pak")
        if data.get("admin"):
            return Actor.admin()
        if data.get("agent"):
            return Actor.agent(UUID(data["agent"]))
        if data.get("generator"):
            return Actor.generator(UUID(data["generator"]))
        raise UnauthorizedError("the broker did not recognise this PAK")

    def find_agent(self, name: str, cluster_name: str) -> Agent:
        return self._load(
            self._request("GET", "/agents/", params={"name": name, "cluster_name": cluster_name}), Agent
        )

    def get_agent(self, agent_id: UUID) -> Agent:
        return self._load(self._request("GET", f"/agents/{agent_id}"), Agent)

    def heartbeat(self, agent_id: UUID) -> None:
        self._request("POST", f"/agents/{agent_id}/heartbeat")

    def target_state(self, agent_id: UUID, *, full: bool = True) -> list[DeploymentObject]:
        params = {"mode": "full" if full else "incremental"}
        return self._load_many(
            self._request("GET", f"/agents/{agent_id}/target-state", params=params), DeploymentObject
        )

    def report_event(self, agent_id: UUID, report: EventReport) -> AgentEvent:
        body = {
            "agent_id": str(agent_id),
            "deployment_object_id": str(report.deployment_object_id),
            "event_type": report.event_type,
            "status": report.status,
            "message": report.message,
        }
        return self._load(
            self._request("POST", f"/agents/{agent_id}/events", json=body, idempotent=False), AgentEvent
        )

    def report_health(self, agent_id: UUID, reports: Sequence[HealthReport]) -> None:
        entries = []
        for r in reports:
            summary = None if r.summary is None else self._conv.unstructure(r.summary)
            entries.append(
                {
                    "id": str(r.deployment_object_id),
                    "status": r.status.value,
                    "summary": summary,
                    "checked_at": self._conv.unstructure(r.checked_at),
                }
            )
        self._request("PATCH", f"/agents/{agent_id}/health-status", json={"deployment_objects": entries})

    def pending_work_orders(self, agent_id: UUID, *, work_type: str | None = None) -> list[WorkOrder]:
        params = {"work_type": work_type} if work_type else None
        data = self._request("GET", f"/agents/{agent_id}/work-orders/pending", params=params)
        for item in data or []:
            item.pop("targeting", None)
        return self._load_many(data, WorkOrder)

    def claim_work_order(self, order_id: UUID, agent_id: UUID) -> WorkOrder:
        data = self._request(
            "POST", f"/work-orders/{order_id}/claim", json={"agent_id": str(agent_id)}, idempotent=False
        )
        data.pop("targeting", None)
        return self._load(data, WorkOrder)

    def complete_work_order(
        self, order_id: UUID, *, success: bool, message: str | None, retryable: bool = True
    ) -> WorkOrderCompletion:
        body = {"success": success, "message": message, "retryable": retryable}
        data = self._request("POST", f"/work-orders/{order_id}/complete", json=body, idempotent=False)
        if isinstance(data, dict) and data.get("status") == "retry_scheduled":
            return RetryScheduled()
        return self._load(data, WorkOrderLog)

    def pending_diagnostics(self, agent_id: UUID) -> list[DiagnosticRequest]:
        return self._load_many(
            self._request("GET", f"/agents/{agent_id}/diagnostics/pending"), DiagnosticRequest
        )

    def claim_diagnostic(self, request_id: UUID) -> DiagnosticRequest:
        return self._load(
            self._request("POST", f"/diagnostics/{request_id}/claim", idempotent=False), DiagnosticRequest
        )

    def submit_diagnostic(self, request_id: UUID, report: DiagnosticReport) -> DiagnosticResult:
        body = {
            "pod_statuses": report.pod_statuses,
            "events": report.events,
            "log_tails": report.log_tails,
            "collected_at": self._conv.unstructure(report.collected_at),
        }
        return self._load(
            self._request("POST", f"/diagnostics/{request_id}/result", json=body, idempotent=False),
            DiagnosticResult,
        )

    def pending_webhooks(self, agent_id: UUID) -> list[PendingWebhookDelivery]:
        return self._load_many(
            self._request("GET", f"/agents/{agent_id}/webhooks/pending"), PendingWebhookDelivery
        )

    def report_webhook(self, delivery_id: UUID, outcome: DeliveryOutcome) -> None:
        body = {
            "success": outcome.success,
            "status_code": outcome.status_code,
            "error": outcome.error,
            "duration_ms": outcome.duration_ms,
        }
        self._request("POST", f"/webhook-deliveries/{delivery_id}/result", json=body, idempotent=False)

    def close(self) -> None:
        self._client.close()
        self._plain.close()
