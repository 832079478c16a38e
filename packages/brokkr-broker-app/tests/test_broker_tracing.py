"""OpenTelemetry traces of the broker, read from an in-memory exporter over the real PostgreSQL.

What matters to an operator: one request is one trace (request span → use-case spans → statement spans), an
agent's trace continues into the broker, sampling and the off switch do what they say, nothing secret lands in
a span, and failures are marked. Spans are exported synchronously in tests, so they are readable as soon as the
response is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast
from uuid import uuid4

import attrs
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette

from brokerapp_support import Broker, Receiver, serving
from brokkr_adapters_postgres.database import Database
from brokkr_broker_app.tracing import (
    QUERY_TEXT_LIMIT,
    TracingMiddleware,
    build_tracing,
    exporter_for,
    sampler_for,
)
from brokkr_broker_app.webhook_sender import HttpxWebhookSender
from brokkr_domain.errors import TransientError
from brokkr_domain.model import DeliveryOutcome
from brokkr_domain.pak import hash_pak
from brokkr_domain.ports.http_sender import TIMED_OUT
from brokkr_domain.settings import Settings, Telemetry, TelemetrySettings

ON = TelemetrySettings(enabled=True, sampling_rate=1.0)
TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
REMOTE_PARENT = 0x00F067AA0BA902B7


def traceparent(trace_id: int, parent: int, *, sampled: bool) -> str:
    return f"00-{trace_id:032x}-{parent:016x}-{'01' if sampled else '00'}"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced(
    make_broker: Callable[..., Broker], settings_for: Callable[..., Settings], exporter: InMemorySpanExporter
) -> Broker:
    return make_broker(settings_for(telemetry=ON), span_exporter=exporter)


def one(spans: Iterable[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, f"{name}: {[s.name for s in spans]}"
    return found[0]


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


def trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.trace_id)


def traces(app: Starlette) -> bool:
    """Whether the tracing middleware is in the app's stack."""
    return any(cast(object, m.cls) is TracingMiddleware for m in app.user_middleware)


def parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def children(spans: Sequence[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if parent_id(s) == span_id(parent)]


def statement_listeners(engine: Engine) -> int:
    """How many listeners the engine's statement events have (SQLAlchemy wraps some, so count, not name)."""
    return (
        len(engine.dispatch.before_cursor_execute)
        + len(engine.dispatch.after_cursor_execute)
        + len(engine.dialect.dispatch.handle_error)  # a dialect event since SQLAlchemy 2.0
    )


# --- one request, one trace ---------------------------------------------------------------------------------


def test_an_authenticated_request_is_one_trace_of_request_usecase_and_statement_spans(
    traced: Broker, exporter: InMemorySpanExporter
) -> None:
    agent, pak = traced.create_agent()
    exporter.clear()

    traced.ok("GET", f"/agents/{agent['id']}", pak)

    spans = exporter.get_finished_spans()
    server = one(spans, "GET /api/v1/agents/:id")
    assert server.kind is SpanKind.SERVER
    assert server.parent is None
    assert dict(server.attributes or {}) == {
        "http.request.method": "GET",
        "http.route": "/api/v1/agents/:id",
        "http.response.status_code": 200,
    }
    assert server.status.status_code is StatusCode.UNSET

    usecase = one(spans, "usecase agents.get_agent")
    authn = one(spans, "usecase auth.authenticate")  # the agent's key is not in the auth cache yet
    for child in (usecase, authn):
        assert parent_id(child) == span_id(server)
        assert trace_id(child) == trace_id(server)
    # The use-case span is opened inside the worker thread: its parent proves the context crossed over.
    assert "worker" in str((usecase.attributes or {})["thread.name"]).lower()
    assert (usecase.attributes or {})["code.function.name"] == "brokkr_domain.usecases.agents.get_agent"

    for owner in (usecase, authn):
        statements = children(spans, owner)
        assert statements, f"{owner.name} ran no statement"
        for db in statements:
            assert db.kind is SpanKind.CLIENT
            assert trace_id(db) == trace_id(server)
            attributes = db.attributes or {}
            assert attributes["db.system.name"] == "postgresql"
            operation = str(attributes["db.query.text"]).split(None, 1)[0].upper()
            assert attributes["db.operation.name"] == operation
            assert db.name == f"db {operation}"

    in_trace = [s for s in spans if trace_id(s) == trace_id(server)]
    known = {span_id(s) for s in in_trace}
    assert all(s is server or parent_id(s) in known for s in in_trace), "a span of the trace hangs loose"
    assert all(s.parent is None for s in spans if trace_id(s) != trace_id(server)), "a child left its trace"
    assert trace.get_tracer_provider() is not traced.app.state.tracing.provider, "the provider went global"


def test_the_agents_trace_context_continues_into_the_broker(
    traced: Broker, exporter: InMemorySpanExporter
) -> None:
    exporter.clear()
    headers = {
        "traceparent": traceparent(TRACE_ID, REMOTE_PARENT, sampled=True),
        "tracestate": "brokkr=agent",
    }

    traced.ok("GET", "/agents", headers=headers)

    spans = exporter.get_finished_spans()
    server = one(spans, "GET /api/v1/agents")
    assert server.parent is not None
    assert server.parent.is_remote
    assert server.parent.span_id == REMOTE_PARENT
    assert trace_id(server) == TRACE_ID
    assert server.context is not None
    assert server.context.trace_state.get("brokkr") == "agent"
    usecase = one(spans, "usecase agents.list_agents")
    assert parent_id(usecase) == span_id(server)
    assert trace_id(usecase) == TRACE_ID
    assert all(trace_id(db) == TRACE_ID for db in children(spans, usecase))


def test_a_ratio_sampler_follows_the_agents_sampling_decision(
    make_broker: Callable[..., Broker], settings_for: Callable[..., Settings], exporter: InMemorySpanExporter
) -> None:
    telemetry = TelemetrySettings(enabled=True, sampling_rate=0.5)
    broker = make_broker(settings_for(telemetry=telemetry), span_exporter=exporter)
    rejected_by_ratio = (1 << 64) - 1  # the ratio sampler keeps trace ids whose low 64 bits are small
    accepted_by_ratio = 1

    exporter.clear()
    broker.ok("GET", "/agents", headers={"traceparent": traceparent(rejected_by_ratio, 7, sampled=True)})
    broker.ok("GET", "/agents", headers={"traceparent": traceparent(accepted_by_ratio, 8, sampled=False)})

    recorded = {trace_id(s) for s in exporter.get_finished_spans() if s.name.startswith(("GET", "usecase"))}
    assert recorded == {rejected_by_ratio}


# --- off, sampled out, shut down -----------------------------------------------------------------------------


def test_sampling_rate_zero_records_nothing(
    make_broker: Callable[..., Broker], settings_for: Callable[..., Settings], exporter: InMemorySpanExporter
) -> None:
    telemetry = TelemetrySettings(enabled=True, sampling_rate=0.0)
    broker = make_broker(settings_for(telemetry=telemetry), span_exporter=exporter)
    agent, pak = broker.create_agent()
    broker.ok("GET", f"/agents/{agent['id']}", pak)
    broker.ok("GET", "/agents", headers={"traceparent": traceparent(TRACE_ID, REMOTE_PARENT, sampled=True)})
    broker.flush_audit()

    assert exporter.get_finished_spans() == ()


def test_tracing_is_off_by_default_and_installs_nothing(
    database: Database, settings_for: Callable[..., Settings], webhook_sender: HttpxWebhookSender
) -> None:
    assert Settings().telemetry.for_component("broker").enabled is False
    listeners = statement_listeners(database.engine)
    with serving(database, settings_for(), webhook_sender) as broker:
        assert broker.container.tracing() is None
        assert broker.app.state.tracing is None
        assert not traces(broker.app)
        assert statement_listeners(database.engine) == listeners
        agent, pak = broker.create_agent()
        broker.ok("GET", f"/agents/{agent['id']}", pak)  # the plain path of ``call`` works


def test_statement_listeners_live_as_long_as_the_app(
    database: Database,
    settings_for: Callable[..., Settings],
    webhook_sender: HttpxWebhookSender,
    exporter: InMemorySpanExporter,
) -> None:
    listeners = statement_listeners(database.engine)
    with serving(database, settings_for(telemetry=ON), webhook_sender, span_exporter=exporter) as broker:
        assert statement_listeners(database.engine) == listeners + 3
        assert traces(broker.app)
        broker.ok("GET", "/agents")
    assert statement_listeners(database.engine) == listeners
    before = len(exporter.get_finished_spans())
    with database.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    broker.app.state.tracing.tracer.start_span("after shutdown").end()
    assert len(exporter.get_finished_spans()) == before


# --- nothing secret, failures marked ------------------------------------------------------------------------


def test_no_span_carries_a_key_a_header_a_query_value_or_a_body_value(
    traced: Broker, exporter: InMemorySpanExporter
) -> None:
    agent, pak = traced.create_agent(name="agent-bodysecret-31337")
    traced.ok("POST", f"/agents/{agent['id']}/heartbeat", pak, status=204)
    query = {"name": "qsecret-4242", "cluster_name": "cluster"}
    traced.ok("GET", "/agents/", params=query, status=404)  # values that become SQL parameters
    traced.request("GET", "/agents", "brokkr_BRnotakey_wrongwrongwrongwrongwrong")
    traced.flush_audit()

    secrets = (pak, f"Bearer {pak}", hash_pak(pak), "qsecret-4242", "bodysecret-31337", "notakey")
    spans = exporter.get_finished_spans()
    assert spans
    for span in spans:
        texts = [span.name, *(str(v) for v in (span.attributes or {}).values())]
        texts += [str(v) for e in span.events for v in (e.attributes or {}).values()]
        for value in texts:
            assert not any(secret in value for secret in secrets), f"{span.name}: {value!r}"
        if "db.query.text" in (span.attributes or {}):
            assert len(str((span.attributes or {})["db.query.text"])) <= QUERY_TEXT_LIMIT


class ArmedClock:
    """The system clock until armed, then an unexpected failure inside a use case."""

    def __init__(self) -> None:
        self.armed = False

    def now(self) -> datetime:
        if self.armed:
            raise RuntimeError("the clock broke")
        return datetime.now(UTC)


def test_a_server_error_marks_the_request_and_use_case_spans(
    make_broker: Callable[..., Broker], settings_for: Callable[..., Settings], exporter: InMemorySpanExporter
) -> None:
    clock = ArmedClock()
    broker = make_broker(settings_for(telemetry=ON), span_exporter=exporter, clock=clock)
    agent, pak = broker.create_agent()
    broker.ok("POST", f"/agents/{agent['id']}/heartbeat", pak, status=204)
    exporter.clear()
    clock.armed = True

    response = broker.request("POST", f"/agents/{agent['id']}/heartbeat", pak, allow_5xx=True)

    assert response.status_code == 500
    spans = exporter.get_finished_spans()
    server = one(spans, "POST /api/v1/agents/:id/heartbeat")
    assert server.status.status_code is StatusCode.ERROR
    assert (server.attributes or {})["http.response.status_code"] == 500
    assert (server.attributes or {})["error.type"] == "RuntimeError"
    usecase = one(spans, "usecase agents.heartbeat")
    assert usecase.status.status_code is StatusCode.ERROR
    assert (usecase.attributes or {})["error.type"] == "RuntimeError"
    assert all(not s.events for s in spans), "exception messages may quote input: never recorded"


def test_an_unavailable_database_answer_is_an_error_span(
    make_broker: Callable[..., Broker], settings_for: Callable[..., Settings], exporter: InMemorySpanExporter
) -> None:
    def ping() -> None:
        raise TransientError("connection refused")

    broker = make_broker(settings_for(telemetry=ON), span_exporter=exporter, ping=ping)
    exporter.clear()
    assert broker.request("GET", "/readyz", allow_5xx=True).status_code == 503
    server = one(exporter.get_finished_spans(), "GET /readyz")
    assert server.status.status_code is StatusCode.ERROR
    assert (server.attributes or {})["http.response.status_code"] == 503


def test_a_client_error_is_named_but_not_an_error_span(
    traced: Broker, exporter: InMemorySpanExporter
) -> None:
    exporter.clear()
    assert traced.request("GET", f"/agents/{uuid4()}", traced.admin).status_code == 404
    spans = exporter.get_finished_spans()
    server = one(spans, "GET /api/v1/agents/:id")
    assert server.status.status_code is StatusCode.UNSET
    usecase = one(spans, "usecase agents.get_agent")
    assert usecase.status.status_code is StatusCode.UNSET
    assert (usecase.attributes or {})["error.type"] == "NotFoundError"


# --- statement spans, sampler and exporter choice -----------------------------------------------------------


def test_statement_spans_keep_placeholders_truncate_and_mark_failures(
    database: Database, exporter: InMemorySpanExporter
) -> None:
    telemetry = Telemetry(enabled=True, otlp_endpoint="unused", service_name="svc", sampling_rate=1.0)
    tracing = build_tracing(telemetry, exporter)
    assert tracing is not None
    tracing.instrument_engine(database.engine)
    long_comment = "/* " + "x" * 2 * QUERY_TEXT_LIMIT + " */"
    try:
        with tracing.tracer.start_as_current_span("outer") as outer, database.engine.connect() as conn:
            conn.execute(text("SELECT CAST(:secret AS text)"), {"secret": "param-secret-99"})
            conn.execute(text(f"  (SELECT 1) {long_comment}"))
            with pytest.raises(DBAPIError):
                conn.execute(text("SELECT 1 / 0"))
            conn.rollback()
    finally:
        tracing.shutdown()

    spans = exporter.get_finished_spans()
    statements = [s for s in spans if s.name.startswith("db ")]
    assert [s.name for s in statements] == ["db SELECT"] * 3
    assert all(parent_id(s) == outer.get_span_context().span_id for s in statements)
    bound, long, failed = ((s.attributes or {}) for s in statements)
    assert "param-secret-99" not in str(bound["db.query.text"])
    assert "%(secret)s" in str(bound["db.query.text"])
    assert len(str(long["db.query.text"])) == QUERY_TEXT_LIMIT
    assert statements[2].status.status_code is StatusCode.ERROR
    assert failed["error.type"] == "DivisionByZero"
    assert statements[0].status.status_code is StatusCode.UNSET
    assert tracing.provider.resource.attributes["service.name"] == "svc"
    assert tracing.provider.resource.attributes["service.version"]


def test_the_sampler_follows_the_rate() -> None:
    assert sampler_for(1.0) is ALWAYS_ON
    assert sampler_for(3.0) is ALWAYS_ON
    assert sampler_for(0.0) is ALWAYS_OFF
    ratio = sampler_for(0.25)
    assert isinstance(ratio, ParentBased)
    assert "TraceIdRatioBased{0.25}" in ratio.get_description()  # type: ignore[no-untyped-call]


def test_the_exporter_follows_the_endpoint() -> None:
    grpc = exporter_for("http://localhost:4317")
    http = exporter_for("https://collector.example:4318/v1/traces")
    try:
        assert isinstance(grpc, GrpcExporter)
        assert isinstance(http, HttpExporter)
    finally:
        grpc.shutdown()
        http.shutdown()  # type: ignore[no-untyped-call]


def test_disabled_telemetry_builds_no_tracing() -> None:
    assert build_tracing(Settings().telemetry.for_component("broker")) is None
    enabled = TelemetrySettings(enabled=True).for_component("broker")
    tracing = build_tracing(enabled, InMemorySpanExporter())
    assert tracing is not None
    try:
        assert tracing.provider.resource.attributes["service.name"] == "brokkr-broker"
    finally:
        tracing.shutdown()


# --- background tasks and outgoing webhooks -----------------------------------------------------------------


def wait_for_spans(exporter: InMemorySpanExporter, name: str, count: int) -> list[ReadableSpan]:
    deadline = time.monotonic() + 15
    while len(found := [s for s in exporter.get_finished_spans() if s.name == name]) < count:
        assert time.monotonic() < deadline, f"{name}: {len(found)} of {count} spans"
        time.sleep(0.05)
    return found


def test_each_task_tick_is_a_trace_and_each_webhook_post_a_client_span_in_it(
    make_broker: Callable[..., Broker], settings_for: Callable[..., Settings], exporter: InMemorySpanExporter
) -> None:
    base = settings_for(telemetry=ON)
    settings = attrs.evolve(base, broker=attrs.evolve(base.broker, webhook_delivery_interval_seconds=1))
    with Receiver() as receiver:
        receiver.script = [200, 503]
        broker = make_broker(settings, span_exporter=exporter, background=True)
        hook = f"{receiver.url}/path-secret-777?token=query-secret-888"
        broker.create_webhook(hook, event_types=["agent.registered"], auth_header="Bearer header-secret-999")
        broker.create_agent()
        broker.create_agent()
        posts = wait_for_spans(exporter, "webhook POST", 2)

    spans = exporter.get_finished_spans()
    assert {p.kind for p in posts} == {SpanKind.CLIENT}
    assert sorted(int(cast(int, (p.attributes or {})["http.response.status_code"])) for p in posts) == [
        200,
        503,
    ]
    for post in posts:
        attributes = post.attributes or {}
        assert attributes["server.address"] == "127.0.0.1"
        assert attributes["server.port"] == receiver.server.server_address[1]
        tick = next(s for s in spans if span_id(s) == parent_id(post))
        assert tick.name == "task webhook_delivery" and tick.parent is None  # the root of its own trace
        assert trace_id(tick) == trace_id(post)
        assert any(s.name.startswith("db ") for s in children(spans, tick))  # the claim's statements
    failed = next(p for p in posts if (p.attributes or {})["http.response.status_code"] == 503)
    assert failed.status.status_code is StatusCode.ERROR and (failed.attributes or {})["error.type"] == "503"
    maintenance = [s for s in spans if s.name == "task work_order_maintenance"]
    assert maintenance and all(s.parent is None for s in maintenance)
    for span in spans:  # the receiver's path, query and Authorization never reach a span
        for value in [span.name, *(str(v) for v in (span.attributes or {}).values())]:
            assert not any(secret in value for secret in ("path-secret", "query-secret", "header-secret")), (
                value
            )


def test_a_post_that_gets_no_answer_is_named_by_kind() -> None:
    class Refused:
        def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout_seconds: float) -> Any:
            del url, body, headers, timeout_seconds
            return DeliveryOutcome(success=False, error="Connection failed: ConnectError")

    class Silent:
        def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout_seconds: float) -> Any:
            del url, body, headers, timeout_seconds
            return DeliveryOutcome(success=False, error=TIMED_OUT)

    exporter = InMemorySpanExporter()
    tracing = build_tracing(ON.for_component("broker"), exporter)
    assert tracing is not None
    try:
        for sender in (Refused(), Silent()):
            tracing.webhook_sender(sender).post("http://receiver.example/hook", b"{}", {}, 1.0)
    finally:
        tracing.shutdown()
    kinds = [(s.attributes or {})["error.type"] for s in exporter.get_finished_spans()]
    assert kinds == ["connection", "timeout"]
    assert all("server.port" not in (s.attributes or {}) for s in exporter.get_finished_spans())
