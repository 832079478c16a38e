"""OpenTelemetry traces of the broker: one span per request, per use case, per database statement, per
background-task tick and per outgoing webhook POST.

Tracing is off by default and then costs nothing: ``build_tracing`` returns None, so no middleware is added, no
engine listener is attached and ``routes._http.call`` takes its plain path. When on, the spans nest as
``GET /api/v1/agents/:id/target-state`` (SERVER) → ``usecase agents.get_target_state`` → ``db SELECT`` (CLIENT),
continuing the W3C ``traceparent`` an agent sent. Each background-task tick is the root of its own trace
(``task webhook_delivery`` → ``db UPDATE`` …, → ``webhook POST`` (CLIENT) for each delivery it started). What
is recorded is deliberately narrow: methods, normalised routes, status codes, use-case names, SQL text with its
placeholders and a receiver's host and port; never query strings, URL paths of receivers, headers, bodies,
bound parameter values or API keys.

The provider is never installed globally (a process may hold several apps, tests build many): each app uses its
own provider's tracer and shuts it down at the end of its lifespan.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy import Engine, event
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from brokkr_broker_app.errors import status_of
from brokkr_broker_app.metrics import normalise_path
from brokkr_domain.errors import BrokkrError
from brokkr_domain.model import DeliveryOutcome
from brokkr_domain.ports.http_sender import TIMED_OUT, WebhookSender
from brokkr_domain.settings import Telemetry

P = ParamSpec("P")
R = TypeVar("R")

QUERY_TEXT_LIMIT = 1000
_SPAN_KEY = "brokkr.tracing.span"  # the open statement span, in the connection's ``info``
_PROPAGATOR = TraceContextTextMapPropagator()
_TRACE_HEADERS = {b"traceparent": "traceparent", b"tracestate": "tracestate"}


def _package_version() -> str:
    try:
        return version("brokkr-broker-app")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "0.0.0"


def sampler_for(rate: float) -> Sampler:
    """All, nothing, or a ratio that follows the caller's decision so an agent's sampled trace stays whole."""
    if rate >= 1:
        return ALWAYS_ON
    if rate <= 0:
        return ALWAYS_OFF
    return ParentBased(TraceIdRatioBased(rate))


def exporter_for(endpoint: str) -> SpanExporter:
    """OTLP over gRPC, unless the endpoint names the HTTP traces path (``…/v1/traces``: OTLP HTTP/protobuf).

    Imported here, not at module level: the gRPC stack is slow to import and unused when tracing is off.
    """
    if urlsplit(endpoint).path.rstrip("/").endswith("/v1/traces"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        return HttpExporter(endpoint=endpoint)
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

    return GrpcExporter(endpoint=endpoint)


def build_tracing(telemetry: Telemetry, exporter: SpanExporter | None = None) -> Tracing | None:
    """The broker's tracing, or None when ``telemetry.enabled`` is false.

    ``exporter`` replaces the OTLP exporter (tests pass an in-memory one); it is then fed synchronously, so a
    span can be read as soon as it ends. The OTLP exporter is fed in batches from a background thread.
    """
    if not telemetry.enabled:
        return None
    resource = Resource.create(
        {"service.name": telemetry.service_name, "service.version": _package_version()}
    )
    provider = TracerProvider(sampler=sampler_for(telemetry.sampling_rate), resource=resource)
    processor: SpanProcessor = (
        BatchSpanProcessor(exporter_for(telemetry.otlp_endpoint))
        if exporter is None
        else SimpleSpanProcessor(exporter)
    )
    provider.add_span_processor(processor)
    return Tracing(provider)


def _mark_failure(span: trace.Span, exc: BaseException) -> None:
    """Name the failure by its type only: exception messages may quote request input."""
    span.set_attribute("error.type", type(exc).__qualname__)
    if not isinstance(exc, BrokkrError) or status_of(exc) >= 500:
        span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))


class Tracing:
    """An enabled tracer provider and everything it installed, undone by ``shutdown``."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("brokkr_broker_app", _package_version())
        self._undo: list[Callable[[], None]] = []
        self._wrapped: dict[tuple[Callable[..., Any], str | None], Callable[..., Any]] = {}

    def usecase(self, fn: Callable[P, R], name: str | None = None) -> Callable[P, R]:
        """``fn`` wrapped in a ``usecase <module>.<function>`` span, opened in the thread that runs it.

        Starting the span inside the worker thread (not before handing over) is what shows that the request's
        context crossed into the thread pool: its parent is the request span only if the context was copied.
        """
        known = self._wrapped.get((fn, name))
        if known is not None:
            return known
        module = fn.__module__.rpartition(".")[2]
        span_name = f"usecase {name or f'{module}.{fn.__qualname__}'}"
        full_name = f"{fn.__module__}.{fn.__qualname__}"
        tracer = self.tracer

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            attributes = {"code.function.name": full_name, "thread.name": threading.current_thread().name}
            with tracer.start_as_current_span(
                span_name, attributes=attributes, record_exception=False, set_status_on_exception=False
            ) as span:
                try:
                    return fn(*args, **kwargs)
                except BaseException as exc:
                    _mark_failure(span, exc)
                    raise

        self._wrapped[(fn, name)] = run
        return run

    @contextmanager
    def task(self, name: str) -> Iterator[None]:
        """One tick of background task ``name``: the root span of a trace of its own."""
        with self.tracer.start_as_current_span(
            f"task {name}",
            context=Context(),
            attributes={"brokkr.task.name": name},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield
            except BaseException as exc:
                _mark_failure(span, exc)
                raise

    def webhook_sender(self, sender: WebhookSender) -> WebhookSender:
        """``sender`` with a CLIENT span around every POST (child of the tick that started the delivery)."""
        return _TracedWebhookSender(sender, self.tracer)

    def instrument_engine(self, engine: Engine) -> None:
        """One CLIENT span per statement executed on ``engine``, until ``shutdown``."""
        tracer = self.tracer

        def before(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:  # parameters are never read
            operation = statement.lstrip(" \t\r\n(").split(None, 1)[0].upper() if statement.strip() else "SQL"
            stale = conn.info.pop(_SPAN_KEY, None)
            if stale is not None:  # a statement interrupted without an error event (cancelled task)
                stale.end()
            conn.info[_SPAN_KEY] = tracer.start_span(
                f"db {operation}",
                kind=SpanKind.CLIENT,
                attributes={
                    "db.system.name": "postgresql",
                    "db.operation.name": operation,
                    "db.query.text": statement[:QUERY_TEXT_LIMIT],
                },
            )

        def after(conn: Any, *_: Any) -> None:
            span = conn.info.pop(_SPAN_KEY, None)
            if span is not None:
                span.end()

        def failed(exception_context: Any) -> None:
            conn = exception_context.connection
            span = conn.info.pop(_SPAN_KEY, None) if conn is not None else None
            if span is not None:
                _mark_failure(span, exception_context.original_exception)
                span.end()

        listeners: tuple[tuple[str, Callable[..., None]], ...] = (
            ("before_cursor_execute", before),
            ("after_cursor_execute", after),
            ("handle_error", failed),
        )
        for name, fn in listeners:
            event.listen(engine, name, fn)
            self._undo.append(functools.partial(event.remove, engine, name, fn))

    def shutdown(self) -> None:
        """Detach from the engine, then flush and stop the exporter (called at the end of the app's lifespan)."""
        while self._undo:
            self._undo.pop()()
        self.provider.shutdown()


class _TracedWebhookSender:
    def __init__(self, sender: WebhookSender, tracer: trace.Tracer) -> None:
        self.sender = sender
        self.tracer = tracer

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout_seconds: float
    ) -> DeliveryOutcome:
        target = urlsplit(url)
        attributes: dict[str, str | int] = {
            "http.request.method": "POST",
            "server.address": target.hostname or "",
        }
        if target.port is not None:
            attributes["server.port"] = target.port
        with self.tracer.start_as_current_span(
            "webhook POST", kind=SpanKind.CLIENT, attributes=attributes, record_exception=False
        ) as span:
            outcome = self.sender.post(url, body, headers, timeout_seconds)
            if outcome.status_code is not None:
                span.set_attribute("http.response.status_code", outcome.status_code)
            if not outcome.success:
                span.set_attribute("error.type", _delivery_error_type(outcome))
                span.set_status(Status(StatusCode.ERROR))
            return outcome


def _delivery_error_type(outcome: DeliveryOutcome) -> str:
    """A low-cardinality name for a failed POST (never the receiver's answer text)."""
    if outcome.status_code is not None:
        return str(outcome.status_code)
    if outcome.error == TIMED_OUT:
        return "timeout"
    return "connection"


class TracingMiddleware:
    """Pure ASGI middleware: one SERVER span per HTTP request, continuing an incoming W3C trace context."""

    def __init__(self, app: ASGIApp, *, tracer: trace.Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {
            _TRACE_HEADERS[name]: value.decode("latin-1")
            for name, value in scope.get("headers", [])
            if name in _TRACE_HEADERS
        }
        parent = _PROPAGATOR.extract(carrier) if carrier else None
        method: str = scope.get("method", "")
        route = normalise_path(scope.get("path", ""))
        span = self.tracer.start_span(
            f"{method} {route}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "http.route": route},
        )
        status = 500  # what the server answers when an exception escapes before the response starts

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
            try:
                await self.app(scope, receive, send_wrapper)
            except BaseException as exc:
                span.set_attribute("error.type", type(exc).__qualname__)
                raise
            finally:
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
