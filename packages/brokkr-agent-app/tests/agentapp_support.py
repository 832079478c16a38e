"""Test support for the agent app: a real broker on a loopback port, an admin client, waiting helpers.

The broker is the real ``brokkr_broker_app`` (Starlette + the PostgreSQL adapter) served by uvicorn on a
background thread, so the agent's synchronous ``httpx`` client talks to it over real TCP. It can be stopped
and started again on the same port (a broker outage as the agent sees it).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import httpx
import uvicorn

from agentapp_clusters import ClusterHarness, finish_build_runs
from brokkr_adapters_postgres.database import Database
from brokkr_agent_app.runtime import RunningAgent, start
from brokkr_broker_app.app import create_app
from brokkr_broker_app.bootstrap import build_container
from brokkr_broker_app.crypto import AesGcmCipher, load_or_create_key
from brokkr_domain.manifests import ObjectRef
from brokkr_domain.settings import AgentSettings, Settings, load_settings
from brokkr_domain.usecases import bootstrap as init

T = TypeVar("T")

BROKER_ENV = {
    "BROKKR__BROKER__WEBHOOK_DELIVERY_INTERVAL_SECONDS": "1",
    "BROKKR__BROKER__WORK_ORDER_MAINTENANCE_INTERVAL_SECONDS": "1",
    "BROKKR__BROKER__AUTH_CACHE_TTL_SECONDS": "1",
    "BROKKR__BROKER__SHUTDOWN_GRACE_SECONDS": "2",
    "BROKKR__LOG__LEVEL": "warning",
}


class _PromptServer(uvicorn.Server):
    """uvicorn that notices ``should_exit`` quickly and drops keep-alive clients at once on shutdown."""

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            await asyncio.sleep(0.01)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BrokerServer:
    """The broker app over one database, served on ``127.0.0.1:<port>``; ``stop``/``start`` keep the port."""

    def __init__(self, database_url: str, data_dir: Path, env: Mapping[str, str] | None = None) -> None:
        environ = {**BROKER_ENV, **(env or {})}
        self.settings: Settings = load_settings(None, environ)
        self.loader: Callable[[], Settings] = lambda: load_settings(None, environ)
        cipher = AesGcmCipher(load_or_create_key(None, data_dir))
        self.database = Database.open(database_url, cipher=cipher, pool_size=5)
        container = build_container(self.settings, self.database, self.loader)
        pak = init.ensure_initialized(container.services(), preset_admin_hash=None)
        assert pak is not None, "the test database must be fresh"
        self.admin_pak = pak
        self.port = free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        """Serve a fresh app (new container, same database) on the same port."""
        container = build_container(self.settings, self.database, self.loader)
        app = create_app(container)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=1
        )
        server = self._server = _PromptServer(config)
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="test-broker", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test broker failed to start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._server = self._thread = None

    def close(self) -> None:
        self.stop()
        self.database.close()

    def client(self, pak: str | None = None) -> Admin:
        return Admin(self.url, pak or self.admin_pak)


class Admin:
    """A thin admin (or generator) client for arranging scenarios and reading results through the API."""

    def __init__(self, url: str, pak: str) -> None:
        self.http = httpx.Client(
            base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {pak}"}, timeout=10.0
        )

    def call(
        self, method: str, path: str, *, expect: int | tuple[int, ...] = (200, 201, 204), **kw: Any
    ) -> Any:
        response = self.http.request(method, path, **kw)
        wanted = (expect,) if isinstance(expect, int) else expect
        assert response.status_code in wanted, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def get(self, path: str, **kw: Any) -> Any:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("POST", path, json=body, **kw)

    # --- arrangement shortcuts -------------------------------------------------------------------------
    def create_agent(
        self, name: str, cluster: str = "test-cluster", *, active: bool = True
    ) -> tuple[UUID, str]:
        created = self.post("/agents", {"name": name, "cluster_name": cluster})
        agent_id = UUID(created["agent"]["id"])
        if active:
            self.call("PUT", f"/agents/{agent_id}", json={"status": "ACTIVE"})
        return agent_id, str(created["initial_pak"])

    def create_stack(self, name: str, *, target: UUID | None = None, labels: tuple[str, ...] = ()) -> UUID:
        generator = self.get("/generators")[0]["id"]
        stack = self.post("/stacks", {"name": name, "generator_id": generator})
        stack_id = UUID(stack["id"])
        for label in labels:
            self.post(f"/stacks/{stack_id}/labels", label)
        if target is not None:
            self.post(f"/agents/{target}/targets", {"agent_id": str(target), "stack_id": str(stack_id)})
        return stack_id

    def deploy(self, stack_id: UUID, yaml_content: str) -> UUID:
        body = {"yaml_content": yaml_content, "is_deletion_marker": False}
        return UUID(self.post(f"/stacks/{stack_id}/deployment-objects", body)["id"])

    def events_of(self, agent_id: UUID) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.get(f"/agents/{agent_id}/events")
        return events

    def close(self) -> None:
        self.http.close()


def wait_for(
    what: Callable[[], T | None], *, timeout: float = 10.0, interval: float = 0.05, message: str = ""
) -> T:
    """Poll until ``what()`` is truthy and return it; fail with ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = what()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {message or what}: last value {last!r}")


@contextmanager
def running_thread(target: Callable[[], object], name: str) -> Iterator[threading.Thread]:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    yield thread


class AgentEnv:
    """One end-to-end world: the broker, an ACTIVE agent registered in it, a cluster, the agent process."""

    def __init__(
        self, broker: BrokerServer, admin: Admin, harness: ClusterHarness, settings: AgentSettings
    ) -> None:
        self.broker = broker
        self.admin = admin
        self.harness = harness
        self.settings = settings
        self.running: RunningAgent | None = None

    @property
    def agent_id(self) -> UUID:
        assert self.running is not None
        return self.running.agent.id

    def start(self, **options: Any) -> RunningAgent:
        """Start the agent over the harness's cluster; ``options`` go to ``runtime.start`` (e.g. telemetry)."""
        self.running = start(self.settings, lambda _settings: self.harness.cluster, **options)
        return self.running

    def stop(self) -> None:
        if self.running is not None:
            finish_build_runs(self.harness)
            self.running.stop(timeout=10)
            self.running = None

    def live(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        return self.harness.live(ObjectRef(api_version, kind, namespace, name))

    def wait_live(
        self, api_version: str, kind: str, name: str, namespace: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        return wait_for(
            lambda: self.live(api_version, kind, name, namespace), message=f"{kind} {namespace}/{name}", **kw
        )

    def wait_gone(
        self, api_version: str, kind: str, name: str, namespace: str | None = None, **kw: Any
    ) -> None:
        wait_for(
            lambda: self.live(api_version, kind, name, namespace) is None,
            message=f"{kind} {namespace}/{name} to be deleted",
            **kw,
        )

    def wait_event(self, object_id: UUID, status: str, **kw: Any) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next(
                (
                    e
                    for e in self.admin.events_of(self.agent_id)
                    if e["deployment_object_id"] == str(object_id) and e["status"] == status
                ),
                None,
            )

        return wait_for(found, message=f"{status} event for {object_id}", **kw)


def agent_settings(broker: BrokerServer, pak: str, name: str, **overrides: Any) -> AgentSettings:
    values: dict[str, Any] = {
        "broker_url": broker.url,
        "pak": pak,
        "agent_name": name,
        "cluster_name": "test-cluster",
        "polling_interval": 0.2,
        "health_port": 0,
        "deployment_health_interval": 0.3,
        "diagnostics_interval": 0.2,
        "webhook_interval": 0.2,
        "max_retries": 5,
        "request_timeout_seconds": 5.0,
    }
    values.update(overrides)
    return AgentSettings(**values)
