"""OpenTelemetry tracing of the agent: ticks, broker calls and Kubernetes calls (``telemetry.*``, off by default).

``build_tracing`` returns ``None`` when tracing is disabled, and every caller then takes its untraced path: no
span is started, no header is added and the cluster is not wrapped, so an agent without tracing pays nothing
per tick. The SDK and the OTLP exporters (gRPC alone takes ~0.3 s to import) are imported only when tracing is
on. The global tracer provider is left alone: the agent uses its own provider's tracer, so embedding the agent
(or running it in tests) never changes another component's tracing.
"""

from __future__ import annotations

import importlib.metadata
import re
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry.context import Context, get_current
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from brokkr_domain.redaction import redact
from brokkr_domain.settings import Telemetry

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.sampling import Sampler

INSTRUMENTATION_NAME = "brokkr_agent_app"
HTTP_EXPORTER_SUFFIX = "/v1/traces"  # the OTLP/HTTP traces path; anything else is a gRPC collector address
PROPAGATOR = TraceContextTextMapPropagator()
_ID_SEGMENT = re.compile(
    r"^(?:[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}|\d+)$"
)


class AgentTracing:
    """The agent's tracer and the provider behind it (flushed and shut down when the agent stops)."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer: Tracer = provider.get_tracer(INSTRUMENTATION_NAME, _agent_version())

    def shutdown(self) -> None:
        """Export what is still buffered, then release the exporter (idempotent)."""
        self.provider.force_flush()
        self.provider.shutdown()


def build_tracing(telemetry: Telemetry, *, exporter: SpanExporter | None = None) -> AgentTracing | None:
    """The agent's tracing from its effective settings; ``None`` when disabled.

    ``exporter`` replaces the OTLP exporter (tests pass an in-memory one); it is exported synchronously so a
    test sees a span as soon as it ends, while the OTLP exporter is batched off the agent's threads.
    """
    if not telemetry.enabled:
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create({SERVICE_NAME: telemetry.service_name, SERVICE_VERSION: _agent_version()})
    provider = TracerProvider(
        sampler=sampler_for(telemetry.sampling_rate), resource=resource, shutdown_on_exit=False
    )
    if exporter is None:
        provider.add_span_processor(BatchSpanProcessor(otlp_exporter(telemetry.otlp_endpoint)))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    return AgentTracing(provider)


def sampler_for(rate: float) -> Sampler:
    """Everything at >= 1, nothing at <= 0; otherwise a ratio of new traces, and whatever a parent decided."""
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, TraceIdRatioBased

    if rate >= 1:
        return ALWAYS_ON
    if rate <= 0:
        return ALWAYS_OFF
    return ParentBased(TraceIdRatioBased(rate))


def otlp_exporter(endpoint: str) -> SpanExporter:
    """OTLP over HTTP/protobuf when the endpoint is a ``.../v1/traces`` URL, else OTLP over gRPC."""
    if endpoint.rstrip("/").endswith(HTTP_EXPORTER_SUFFIX):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        return HttpExporter(endpoint=endpoint)
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

    return GrpcExporter(endpoint=endpoint)


def route_of(path: str) -> str:
    """A path with its ids (UUIDs, numbers) replaced by ``:id``: bounded span names and no ids in the route."""
    return "/".join(":id" if _ID_SEGMENT.match(part) else part for part in path.split("/"))


def inject_trace_context(headers: dict[str, str]) -> dict[str, str]:
    """Add the current span's W3C ``traceparent`` (and ``tracestate``) so the broker continues the trace."""
    PROPAGATOR.inject(headers)
    return headers


def fail(span: Span, error: BaseException, *, detail: bool = True) -> None:
    """Mark a span failed: error status with the exception's type, and the exception as an event.

    The message and stack trace go through the log redaction (no PAK or token leaves in a span); with
    ``detail=False`` only the type is kept, for errors that may echo what was sent (an API server rejecting
    a Secret quotes the offending value).
    """
    attributes = {"exception.message": "", "exception.stacktrace": ""}
    if detail:
        attributes = {
            "exception.message": redact(str(error)),
            "exception.stacktrace": redact("".join(traceback.format_exception(error))),
        }
    span.record_exception(error, attributes=attributes)
    span.set_status(Status(StatusCode.ERROR, type(error).__name__))


@contextmanager
def tick_span(tracer: Tracer, loop: str) -> Iterator[Span]:
    """A root span for one loop tick: a tick never continues another trace, whatever the thread holds."""
    with tracer.start_as_current_span(
        f"agent.tick {loop}",
        context=Context(),
        kind=SpanKind.INTERNAL,
        attributes={"brokkr.agent.loop": loop},
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def current_context() -> Context:
    """The calling thread's trace context, to carry work handed to another thread under the current span."""
    return get_current()


@contextmanager
def work_order_span(
    tracer: Tracer, parent: Context | None, attributes: Mapping[str, str | int | bool]
) -> Iterator[Span]:
    """A work order run on a pool thread, under the span of the tick that submitted it."""
    with tracer.start_as_current_span(
        "agent.work_order",
        context=parent,
        kind=SpanKind.INTERNAL,
        attributes=dict(attributes),
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


@contextmanager
def client_span(
    tracer: Tracer, name: str, attributes: Mapping[str, str | int | bool], *, detail: bool = True
) -> Iterator[Span]:
    """A CLIENT span around one outgoing call; an exception marks it failed (see ``fail``) and propagates."""
    with tracer.start_as_current_span(
        name,
        kind=SpanKind.CLIENT,
        attributes=dict(attributes),
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except BaseException as exc:
            fail(span, exc, detail=detail)
            raise


def _agent_version() -> str:
    try:
        return importlib.metadata.version("brokkr-agent-app")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree without metadata
        return "unknown"
