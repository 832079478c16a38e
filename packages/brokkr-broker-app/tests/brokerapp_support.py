"""Helpers of the broker app's tests: an in-process broker over a real PostgreSQL and API shortcuts.

``Broker`` wires the app exactly as ``bootstrap.build_container`` does (the real container, the real SQL unit of
work, the real middleware) and serves it in-process with Starlette's ``TestClient`` used as a context manager, so
the lifespan runs: the audit writer starts and is flushed on exit. Background tasks are not started; tests run
their ticks by hand (``app.state.tasks``) so nothing happens behind their back.

Every request goes through ``Broker.request``, which fails the test on any 5xx the test did not ask for:
"never a 500" is checked on every call of the suite, not only in dedicated tests.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import UUID

import attrs
import httpx
from dependency_injector import providers
from opentelemetry.sdk.trace.export import SpanExporter

with warnings.catch_warnings():  # Starlette asks for httpx2, which this workspace does not use
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from brokkr_adapters_postgres.database import Database
from brokkr_adapters_postgres.testing import truncate_all
from brokkr_broker_app.app import create_app
from brokkr_broker_app.bootstrap import build_container
from brokkr_broker_app.container import BrokerContainer
from brokkr_broker_app.webhook_sender import HttpxWebhookSender
from brokkr_domain.ports import Clock
from brokkr_domain.settings import Settings
from brokkr_domain.usecases import bootstrap as init

CLIENT_IP = "203.0.113.9"
USER_AGENT = "brokkr-tests/1.0"
CONFIGMAP = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  k: v\n"
)
TEMPLATE = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ name }}\ndata:\n  replicas: '{{ replicas }}'\n"
)
TEMPLATE_SCHEMA = json.dumps(
    {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "replicas": {"type": "integer", "minimum": 1}},
    }
)
_names = itertools.count(1)


def unique(prefix: str) -> str:
    """A name no other call of this session returns (unique constraints are global)."""
    return f"{prefix}-{next(_names)}"


class Unexpected5xxError(AssertionError):
    pass


@attrs.define
class SettingsSource:
    """The broker's ``config_loader``: returns whatever the test last put here (for reload tests)."""

    settings: Settings
    error: Exception | None = None

    def __call__(self) -> Settings:
        if self.error is not None:
            raise self.error
        return self.settings


class Broker:
    """One broker app over a database, with its admin key and API shortcuts."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        clock: Clock | None = None,
        ping: Callable[[], None] | None = None,
        sender: HttpxWebhookSender | None = None,
        admin: str | None = None,
        background: bool = False,
        span_exporter: SpanExporter | None = None,
    ) -> None:
        """``admin``: join a database another ``Broker`` initialised (a second replica), reusing its admin key.
        ``background``: run the background tasks on their own threads, as in production.
        ``span_exporter``: where spans go when the settings enable telemetry (instead of OTLP)."""
        self.database = database
        self.source = SettingsSource(settings)
        self.container: BrokerContainer = build_container(settings, database, self.source)
        if clock is not None:
            self.container.clock.override(providers.Object(clock))
        if ping is not None:
            self.container.ping.override(providers.Object(ping))
        if sender is not None:
            self.container.webhook_sender.override(providers.Object(sender))
        if span_exporter is not None:
            self.container.span_exporter.override(providers.Object(span_exporter))
        self.services = self.container.services()
        if admin is None:
            admin = init.ensure_initialized(self.services, preset_admin_hash=None)
            assert admin is not None, "the database was not empty"
        self.admin: str = admin
        self.app = create_app(self.container, run_background_tasks=background)
        self.client = TestClient(
            self.app,
            raise_server_exceptions=False,
            client=(CLIENT_IP, 40000),
        )
        self.client.headers["User-Agent"] = USER_AGENT

    # --- plumbing ---------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        pak: str | None = None,
        *,
        json: Any = None,
        content: bytes | str | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
        allow_5xx: bool = False,
        bearer: bool = True,
    ) -> httpx.Response:
        """``/api/v1`` is prepended to paths that do not start with ``/``-rooted operational endpoints."""
        url = (
            path
            if path.startswith(("/healthz", "/readyz", "/metrics", "/docs", "/api/"))
            else f"/api/v1{path}"
        )
        sent = dict(headers or {})
        if pak is not None:
            sent["Authorization"] = f"Bearer {pak}" if bearer else pak
        kwargs: dict[str, Any] = {"headers": sent, "params": params}
        if json is not None:
            kwargs["json"] = json
        elif content is not None:
            kwargs["content"] = content
            sent.setdefault("Content-Type", "application/json")
        response: httpx.Response = self.client.request(method, url, **kwargs)
        if response.status_code >= 500 and not allow_5xx:
            raise Unexpected5xxError(f"{method} {url} -> {response.status_code}: {response.text[:2000]}")
        return response

    def ok(self, method: str, path: str, pak: str | None = None, *, status: int = 200, **kw: Any) -> Any:
        """A request that must answer ``status``; returns the decoded JSON body (or None when empty)."""
        response = self.request(method, path, pak or self.admin, **kw)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def replica(self, **options: Any) -> Broker:
        """Another broker process on the same database (its own container, caches and workers); the caller
        runs its lifespan (``with replica.client:``)."""
        return Broker(self.database, self.source.settings, admin=self.admin, **options)

    def flush_audit(self) -> None:
        self.app.state.audit_writer.flush()

    # --- shortcuts (as admin unless a key is given) -----------------------------------------------------

    def create_agent(self, name: str | None = None, cluster: str = "cluster") -> tuple[dict[str, Any], str]:
        body = self.ok("POST", "/agents", json={"name": name or unique("agent"), "cluster_name": cluster})
        return body["agent"], body["initial_pak"]

    def create_generator(self, name: str | None = None) -> tuple[dict[str, Any], str]:
        body = self.ok("POST", "/generators", json={"name": name or unique("gen")}, status=201)
        return body["generator"], body["pak"]

    def create_stack(
        self, generator_id: str, pak: str | None = None, name: str | None = None
    ) -> dict[str, Any]:
        body = {"name": name or unique("stack"), "generator_id": generator_id}
        result: dict[str, Any] = self.ok("POST", "/stacks", pak, json=body, status=201)
        return result

    def create_object(self, stack_id: str, pak: str | None = None, name: str = "cm") -> dict[str, Any]:
        result: dict[str, Any] = self.ok(
            "POST",
            f"/stacks/{stack_id}/deployment-objects",
            pak,
            json={"yaml_content": CONFIGMAP.format(name=name)},
        )
        return result

    def create_template(self, pak: str | None = None, name: str | None = None) -> dict[str, Any]:
        body = {
            "name": name or unique("tpl"),
            "template_content": TEMPLATE,
            "parameters_schema": TEMPLATE_SCHEMA,
        }
        result: dict[str, Any] = self.ok("POST", "/templates", pak, json=body, status=201)
        return result

    def create_webhook(self, url: str = "http://127.0.0.1:9/hook", **fields: Any) -> dict[str, Any]:
        body = {"name": unique("hook"), "url": url, "event_types": ["*"], **fields}
        result: dict[str, Any] = self.ok("POST", "/webhooks", json=body, status=201)
        return result

    def create_work_order(self, agent_ids: list[str], **fields: Any) -> dict[str, Any]:
        body = {
            "work_type": "custom",
            "yaml_content": CONFIGMAP.format(name="job"),
            "targeting": {"agent_ids": agent_ids},
            **fields,
        }
        result: dict[str, Any] = self.ok("POST", "/work-orders", json=body, status=201)
        return result

    def admin_generator_id(self) -> str:
        generators = self.ok("GET", "/generators")
        return str(next(g["id"] for g in generators if g["name"] == "admin-generator"))

    def audit(self, **params: Any) -> dict[str, Any]:
        self.flush_audit()
        result: dict[str, Any] = self.ok("GET", "/admin/audit-logs", params=params)
        return result


@contextmanager
def serving(
    database: Database, settings: Settings, sender: HttpxWebhookSender, **options: Any
) -> Iterator[Broker]:
    """An emptied database and an app on it, its lifespan running for the duration of the block."""
    truncate_all(database.engine)
    broker = Broker(database, settings, sender=sender, **options)
    with broker.client:
        yield broker


def as_uuid(value: str) -> UUID:
    return UUID(value)


@attrs.frozen
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A webhook receiver on loopback (a real HTTP server in a thread) that records what it gets.

    ``script`` lists the answers to give, in order: a status code, or ``("sleep", seconds)`` to stall past the
    sender's timeout before answering 200; once exhausted, it answers 200.
    """

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: list[int | tuple[str, float]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    step = receiver.script.pop(0) if receiver.script else 200
                if isinstance(step, tuple):
                    time.sleep(step[1])
                    step = 200
                self.send_response(step)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if step < 300 else f"answer {step}".encode())

            def log_message(self, format: str, *args: Any) -> None:
                del format, args

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="webhook-receiver",
            daemon=True,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
