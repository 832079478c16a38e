"""OpenTelemetry tracing of the agent: one trace per tick holding its broker and Kubernetes calls, the W3C
``traceparent`` the broker receives, failures marked on spans, nothing secret in them, and nothing at all
(no header, no wrapper) while tracing is off."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Decision
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)

from agentapp_clusters import ClusterHarness
from agentapp_support import Admin, AgentEnv, BrokerServer, agent_settings, wait_for
from brokkr_agent_app import cli
from brokkr_agent_app.gateway import HttpBrokerGateway
from brokkr_agent_app.loops import AgentLoops, Loop
from brokkr_agent_app.metrics import AgentMetrics
from brokkr_agent_app.status import AgentStatus
from brokkr_agent_app.traced_cluster import TracedCluster
from brokkr_agent_app.tracing import AgentTracing, build_tracing, otlp_exporter, route_of, sampler_for
from brokkr_agent_app.webhook_sender import HttpxWebhookSender
from brokkr_domain.errors import ValidationError
from brokkr_domain.manifests import KubeObject, ObjectRef
from brokkr_domain.ports import Cluster
from brokkr_domain.settings import AgentSettings, Telemetry, TelemetrySettings
from brokkr_domain.testing import FakeClock
from brokkr_domain.testing.fake_broker import FakeBrokerGateway
from brokkr_domain.testing.fake_cluster import FakeCluster

ON = Telemetry(
    enabled=True, otlp_endpoint="http://localhost:4317", service_name="brokkr-agent", sampling_rate=1
)
PAK = "brokkr_BRtrace12_abcdefghijkmnopqrstuvwxyz"  # shaped like a PAK, so the log redaction knows it
CONFIG_MAP = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: traced-map, namespace: default}\ndata: {k: v}\n"
)


class ClosingExporter(InMemorySpanExporter):
    """The in-memory exporter, remembering that the agent shut it down (its last spans were flushed)."""

    def __init__(self) -> None:
        super().__init__()
        self.shut_down = False

    def shutdown(self) -> None:
        self.shut_down = True
        super().shutdown()


class RecordingTransport(httpx.BaseTransport):
    """The real HTTP transport, keeping the headers of every request the broker receives."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append((request.method, request.url.path, dict(request.headers)))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def ids_of(span: ReadableSpan) -> tuple[str, str]:
    """The trace id and span id of a span, as a ``traceparent`` header writes them."""
    assert span.context is not None
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"


def ids_in(header: str) -> tuple[str, str]:
    """(trace id, parent span id) of a W3C ``traceparent``; the flags are the sampler's business."""
    version, trace_id, parent_id, flags = header.split("-")
    assert version == "00" and int(flags, 16) & 1 == 1, header  # sampled
    return trace_id, parent_id


def values_of(spans: Sequence[ReadableSpan]) -> list[str]:
    """Every attribute and event-attribute value of the spans, as text."""
    found: list[str] = []
    for span in spans:
        found += [str(v) for v in (span.attributes or {}).values()]
        for event in span.events:
            found += [str(v) for v in (event.attributes or {}).values()]
    return found


def in_trace(spans: Sequence[ReadableSpan], tick: ReadableSpan) -> dict[str, ReadableSpan]:
    assert tick.context is not None
    return {s.name: s for s in spans if s.context is not None and s.context.trace_id == tick.context.trace_id}


def applying_tick(exporter: InMemorySpanExporter) -> ReadableSpan | None:
    spans = exporter.get_finished_spans()
    ticks = [s for s in spans if s.name == "agent.tick control"]
    return next((t for t in ticks if "k8s apply" in in_trace(spans, t)), None)


# --- end to end: the real broker over HTTP, the cluster harness -------------------------------------------------
def test_a_control_tick_is_one_trace_the_broker_is_asked_to_continue(
    broker: BrokerServer, admin: Admin, harness: ClusterHarness
) -> None:
    agent_id, pak = admin.create_agent("traced")
    exporter, transport = ClosingExporter(), RecordingTransport()
    world = AgentEnv(broker, admin, harness, agent_settings(broker, pak, "traced"))
    running = world.start(telemetry=ON, span_exporter=exporter, broker_transport=transport)
    try:
        assert (
            isinstance(running.loops.cluster, TracedCluster)
            and running.loops.cluster.inner is harness.cluster
        )
        admin.deploy(admin.create_stack("traced-stack", target=agent_id), CONFIG_MAP)
        world.wait_live("v1", "ConfigMap", "traced-map", "default")
        tick = wait_for(lambda: applying_tick(exporter), message="a traced control tick that applied")
    finally:
        world.stop()
    assert exporter.shut_down
    spans = exporter.get_finished_spans()
    trace = in_trace(spans, tick)
    assert (
        tick.parent is None and tick.kind is SpanKind.INTERNAL and tick.status.status_code is StatusCode.UNSET
    )
    assert tick.resource.attributes["service.name"] == "brokkr-agent"
    assert tick.resource.attributes["service.version"] == "0.1.0"
    call = trace["GET /api/v1/agents/:id/target-state"]
    apply = trace["k8s apply"]
    assert "POST /api/v1/agents/:id/events" in trace
    assert tick.context is not None and call.context is not None
    for child in (call, apply):
        assert child.parent is not None and child.parent.span_id == tick.context.span_id
        assert child.kind is SpanKind.CLIENT
    assert dict(call.attributes or {}) == {
        "server.address": "127.0.0.1",
        "server.port": broker.port,
        "http.request.method": "GET",
        "http.route": "/api/v1/agents/:id/target-state",
        "http.response.status_code": 200,
    }
    assert apply.attributes is not None and apply.attributes["brokkr.k8s.kind"] == "ConfigMap"
    assert apply.attributes["k8s.namespace.name"] == "default"
    # On the wire: the broker got this call's span as its parent, in the tick's trace.
    sent = [
        ids_in(h["traceparent"]) for _, p, h in transport.requests if p.endswith(f"{agent_id}/target-state")
    ]
    assert ids_of(call) in sent and ids_of(call)[0] == ids_of(tick)[0]
    client_ids = {f"{s.context.span_id:016x}" for s in spans if s.context and s.kind is SpanKind.CLIENT}
    api_headers = [h for _, path, h in transport.requests if path.startswith("/api/v1/")]
    assert api_headers and all(ids_in(h["traceparent"])[1] in client_ids for h in api_headers)
    assert not any(pak in value for value in values_of(spans))


def test_tracing_off_sends_no_trace_context_and_leaves_the_cluster_unwrapped(
    broker: BrokerServer, admin: Admin, harness: ClusterHarness
) -> None:
    agent_id, pak = admin.create_agent("untraced")
    transport = RecordingTransport()
    world = AgentEnv(broker, admin, harness, agent_settings(broker, pak, "untraced"))
    running = world.start(telemetry=TelemetrySettings().for_component("agent"), broker_transport=transport)
    try:
        assert running.tracing is None and running.loops.tracer is None
        assert running.loops.cluster is harness.cluster
        admin.deploy(admin.create_stack("untraced-stack", target=agent_id), CONFIG_MAP)
        world.wait_live("v1", "ConfigMap", "traced-map", "default")
    finally:
        world.stop()
    assert any(path.endswith("/target-state") for _, path, _ in transport.requests)
    assert not [h for _, _, h in transport.requests if {"traceparent", "tracestate"} & set(h)]


def test_the_cli_reads_telemetry_settings_and_flushes_spans_when_startup_fails(
    broker: BrokerServer, harness: ClusterHarness
) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    exporter = ClosingExporter()
    env = {
        "BROKKR__AGENT__BROKER_URL": broker.url,
        "BROKKR__AGENT__PAK": PAK,
        "BROKKR__AGENT__AGENT_NAME": "nobody",
        "BROKKR__AGENT__CLUSTER_NAME": "test-cluster",
        "BROKKR__AGENT__MAX_RETRIES": "2",
        "BROKKR__LOG__LEVEL": "warning",
        "BROKKR__TELEMETRY__ENABLED": "true",
        "BROKKR__TELEMETRY__AGENT__SAMPLING_RATE": "1",
    }
    try:
        code = cli.main(
            ["run"], cluster_factory=lambda _s: harness.cluster, environ=env, span_exporter=exporter
        )
        assert code == 1
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    [call] = [s for s in exporter.get_finished_spans() if s.name == "POST /api/v1/auth/pak"]
    assert call.attributes is not None and call.attributes["http.response.status_code"] == 401
    assert call.status.status_code is StatusCode.ERROR and call.attributes["error.type"] == "401"
    assert exporter.shut_down and not any(PAK in v for v in values_of(exporter.get_finished_spans()))


# --- units over the domain's fakes and an injected transport ------------------------------------------------
@pytest.fixture
def traced() -> Iterator[tuple[AgentTracing, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    tracing = build_tracing(ON, exporter=exporter)
    assert tracing is not None
    yield tracing, exporter
    tracing.shutdown()


def answering(status: int, body: Any, seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            status, content=json.dumps(body).encode(), headers={"content-type": "application/json"}
        )

    return httpx.MockTransport(handle)


def test_a_failing_tick_is_an_error_span_and_the_loop_goes_on(
    traced: tuple[AgentTracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = traced
    seen: list[httpx.Request] = []
    gateway = HttpBrokerGateway(
        "http://broker.test",
        PAK,
        transport=answering(503, {"message": "down"}, seen),
        max_attempts=2,
        sleep=lambda _s: None,
        tracer=tracing.tracer,
    )
    loops = AgentLoops(
        agent_id=uuid.uuid4(),
        settings=AgentSettings(),
        gateway=gateway,
        cluster=TracedCluster(FakeCluster(), tracing.tracer),
        sender=HttpxWebhookSender(),
        clock=FakeClock(),
        status=AgentStatus(),
        metrics=AgentMetrics(),
        agent_status="ACTIVE",
        tracer=tracing.tracer,
    )
    control = next(loop for loop in loops.loops if loop.name == "control")
    try:
        control.run_once()
    finally:
        loops.pool.shutdown()
        gateway.close()
    assert control.failures == 1 and control.ticks == 1
    spans = {s.name: s for s in exporter.get_finished_spans()}
    tick, call = spans["agent.tick control"], spans["GET /api/v1/agents/:id/target-state"]
    assert tick.status.status_code is StatusCode.ERROR and tick.status.description == "TransientError"
    assert [e.attributes["exception.type"] for e in tick.events if e.attributes] == [
        "brokkr_domain.errors.TransientError"
    ]
    assert call.status.status_code is StatusCode.ERROR and call.attributes is not None
    assert call.attributes["http.response.status_code"] == 503 and call.attributes["error.type"] == "503"
    assert call.attributes["http.request.resend_count"] == 1
    # one span across the retries: both attempts carry its context
    assert [ids_in(r.headers["traceparent"]) for r in seen] == [ids_of(call)] * 2


def test_any_tick_failure_marks_its_span_and_a_good_tick_does_not(
    traced: tuple[AgentTracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = traced
    outcomes: list[Exception | None] = [RuntimeError("bug"), ValidationError("bad"), None]

    def tick() -> None:
        error = outcomes.pop(0)
        if error is not None:
            raise error

    loop = Loop("webhooks", 1.0, tick, tracer=tracing.tracer)
    for _ in range(3):
        loop.run_once()
    assert loop.failures == 0 and loop.ticks == 3
    statuses = [(s.name, s.status.status_code, s.parent) for s in exporter.get_finished_spans()]
    assert statuses == [
        ("agent.tick webhooks", StatusCode.ERROR, None),
        ("agent.tick webhooks", StatusCode.ERROR, None),
        ("agent.tick webhooks", StatusCode.UNSET, None),
    ]


def test_a_work_order_is_traced_under_the_tick_that_submitted_it(
    traced: tuple[AgentTracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = traced
    clock = FakeClock()
    broker = FakeBrokerGateway(clock)
    agent = broker.add_agent(name="a", cluster_name="c")
    order = broker.add_work_order("custom", CONFIG_MAP, agent_ids=[agent.id])
    loops = AgentLoops(
        agent_id=agent.id,
        settings=AgentSettings(),
        gateway=broker,
        cluster=TracedCluster(FakeCluster(), tracing.tracer),
        sender=HttpxWebhookSender(),
        clock=clock,
        status=AgentStatus(),
        metrics=AgentMetrics(),
        agent_status="ACTIVE",
        tracer=tracing.tracer,
    )
    next(loop for loop in loops.loops if loop.name == "work-orders").run_once()
    loops.pool.shutdown(wait=True)  # the order ran on the pool, off the tick's thread
    spans = {s.name: s for s in exporter.get_finished_spans()}
    tick, run = spans["agent.tick work-orders"], spans["agent.work_order"]
    assert run.parent is not None and tick.context is not None and run.parent.span_id == tick.context.span_id
    assert run.attributes == {"brokkr.work_order.id": str(order.id), "brokkr.work_order.type": "custom"}


def test_broker_errors_are_recorded_without_the_pak(
    traced: tuple[AgentTracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = traced
    seen: list[httpx.Request] = []
    body = {"code": "unauthorized", "message": f"unknown key {PAK}"}
    gateway = HttpBrokerGateway(
        "http://broker.test", PAK, transport=answering(401, body, seen), tracer=tracing.tracer
    )
    with pytest.raises(Exception, match="unknown key"):
        gateway.whoami()
    gateway.close()
    [span] = exporter.get_finished_spans()
    assert seen[0].headers["authorization"] == f"Bearer {PAK}"
    assert span.status.status_code is StatusCode.ERROR and "Authorization" not in str(span.attributes)
    assert not any(PAK in value for value in values_of([span]))


def test_an_untraced_gateway_adds_no_header_even_inside_someone_elses_span(
    traced: tuple[AgentTracing, InMemorySpanExporter],
) -> None:
    tracing, _ = traced
    seen: list[httpx.Request] = []
    gateway = HttpBrokerGateway("http://broker.test", PAK, transport=answering(200, {"admin": True}, seen))
    with tracing.tracer.start_as_current_span("outer"):
        gateway.whoami()
    gateway.close()
    assert "traceparent" not in seen[0].headers


def test_the_traced_cluster_delegates_and_records_no_names_or_contents(
    traced: tuple[AgentTracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = traced
    inner = FakeCluster()
    inner.reject(lambda o: o.name == "refused", "data.password: Invalid value: 'hunter2-refused'")
    cluster: Cluster = TracedCluster(inner, tracing.tracer)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db-password", "namespace": "default"},
    }
    live = cluster.apply(KubeObject.from_manifest({**secret, "stringData": {"password": "hunter2"}}))
    ref = ObjectRef("v1", "Secret", "default", "db-password")
    assert cluster.get(ref) == inner.get(ref) == live
    assert len(cluster.list_pods("default")) == 0 and cluster.server_version() == inner.server_version()
    with pytest.raises(ValidationError):
        cluster.apply(
            KubeObject.from_manifest({**secret, "metadata": {"name": "refused", "namespace": "default"}})
        )
    assert cluster.delete(ref) is True and inner.get(ref) is None
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == [
        "k8s apply",
        "k8s get",
        "k8s list_pods",
        "k8s server_version",
        "k8s apply",
        "k8s delete",
    ]
    attributes = [dict(s.attributes or {}) for s in spans]
    assert attributes[1] == {
        "brokkr.k8s.api_version": "v1",
        "brokkr.k8s.kind": "Secret",
        "k8s.namespace.name": "default",
        "brokkr.k8s.found": True,
    }
    assert attributes[2]["brokkr.k8s.object_count"] == 0 and attributes[5]["brokkr.k8s.deleted"] is True
    refused = spans[4]
    assert refused.status.status_code is StatusCode.ERROR and refused.status.description == "ValidationError"
    text = " ".join(values_of(spans))
    assert "hunter2" not in text and "db-password" not in text and "refused" not in text


def test_disabled_telemetry_builds_nothing() -> None:
    off = Telemetry(enabled=False, otlp_endpoint="http://localhost:4317", service_name="x", sampling_rate=1)
    assert build_tracing(off) is None
    assert build_tracing(off, exporter=InMemorySpanExporter()) is None


@pytest.mark.parametrize(("rate", "expected"), [(1.0, ALWAYS_ON), (2.5, ALWAYS_ON), (0.0, ALWAYS_OFF)])
def test_extreme_sampling_rates_sample_everything_or_nothing(rate: float, expected: object) -> None:
    assert sampler_for(rate) is expected


def test_a_fractional_rate_samples_new_traces_and_follows_parents() -> None:
    sampler = sampler_for(0.25)
    low, high = 1, 2**64 - 1  # the ratio sampler keeps trace ids whose low 64 bits fall under rate * 2**64

    def decision(trace_id: int, parent: SpanContext | None = None) -> bool:
        context = None if parent is None else set_span_in_context(NonRecordingSpan(parent))
        return (
            sampler.should_sample(context, trace_id, "agent.tick control").decision
            is Decision.RECORD_AND_SAMPLE
        )

    assert decision(low) and not decision(high)
    for sampled in (True, False):
        flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
        parent = SpanContext(high if sampled else low, 7, is_remote=True, trace_flags=flags)
        assert decision(parent.trace_id, parent) is sampled  # the parent decides, whatever the ratio says


@pytest.mark.parametrize(
    ("endpoint", "kind"),
    [
        ("http://localhost:4317", GrpcExporter),
        ("http://collector:4318/v1/traces", HttpExporter),
        ("https://collector.example/otlp/v1/traces/", HttpExporter),
    ],
)
def test_the_endpoint_path_chooses_the_otlp_protocol(endpoint: str, kind: type) -> None:
    exporter = otlp_exporter(endpoint)
    try:
        assert isinstance(exporter, kind)
    finally:
        exporter.shutdown()


SEGMENTS = st.sampled_from(["agents", "work-orders", "claim", "target-state", "v1", "diagnostics"])
IDS = st.one_of(st.uuids().map(str), st.integers(min_value=0, max_value=10**12).map(str))


@given(st.lists(st.one_of(SEGMENTS.map(lambda s: (s, s)), IDS.map(lambda i: (i, ":id"))), max_size=6))
def test_routes_keep_words_and_hide_every_id(parts: list[tuple[str, str]]) -> None:
    path = "/" + "/".join(raw for raw, _ in parts)
    assert route_of(path) == "/" + "/".join(shown for _, shown in parts)
