"""Running the fake: uvicorn on a loopback socket, in a background thread or in the foreground."""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn
import yaml

from .builds import attach_build_simulation
from .faults import FaultInjector, RequestLog
from .routes import create_app
from .state import ClusterState
from .workloads import attach_workload_simulation

CONTEXT_NAME = "brokkr-fake"


class _PromptServer(uvicorn.Server):
    """uvicorn tuned for a test double: notices ``should_exit`` within 10 ms and does not wait
    for keep-alive clients on shutdown (stock uvicorn spends ~0.2 s there, per server)."""

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            await asyncio.sleep(0.01)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        for task in list(self.server_state.tasks):
            task.cancel()


class FakeApiServer:
    """A Kubernetes API server double speaking real HTTP, for the official client to talk to.

    ``state`` scripts the cluster, ``faults`` injects failures, ``requests`` records traffic.
    ``simulate_builds=S`` makes every Shipwright BuildRun succeed S seconds after it is created.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        simulate_workloads: bool = False,
        simulate_builds: float | None = None,
        clock: Callable[[], datetime] | None = None,
        list_items_with_type_meta: bool = False,
    ):
        self.host = host
        self.state = ClusterState(clock, list_items_with_type_meta=list_items_with_type_meta)
        self.faults = FaultInjector()
        self.requests = RequestLog()
        self.app = create_app(self.state, self.faults, self.requests)
        if simulate_workloads:
            attach_workload_simulation(self.state)
        if simulate_builds is not None:
            attach_build_simulation(self.state, simulate_builds)
        self._socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port: int = self._socket.getsockname()[1]
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._tempdir = tempfile.TemporaryDirectory(prefix="brokkr-fake-apiserver-")

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _uvicorn(self) -> uvicorn.Server:
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = _PromptServer(config)
        return self._server

    def start(self, timeout: float = 10.0) -> None:
        """Serve in a daemon thread; returns once the socket accepts requests."""
        server = self._uvicorn()
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._socket]}, name="fake-apiserver", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fake API server failed to start")
            time.sleep(0.005)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.state.close()
        self._socket.close()
        self._tempdir.cleanup()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (used by the console script)."""
        try:
            self._uvicorn().run(sockets=[self._socket])
        finally:
            self.state.close()
            self._socket.close()

    @classmethod
    @contextmanager
    def running(cls, **options: Any) -> Iterator[FakeApiServer]:
        """``with FakeApiServer.running() as srv:`` — a started server on a free loopback port."""
        server = cls(**options)
        server.start()
        try:
            yield server
        finally:
            server.stop()

    # -- client configuration ------------------------------------------------------------------

    def kubeconfig(self, namespace: str = "default") -> dict[str, Any]:
        """A kubeconfig document pointing at this server (plain HTTP, a dummy bearer token)."""
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": CONTEXT_NAME, "cluster": {"server": self.url}}],
            "users": [{"name": CONTEXT_NAME, "user": {"token": "brokkr-fake-token"}}],
            "contexts": [
                {
                    "name": CONTEXT_NAME,
                    "context": {"cluster": CONTEXT_NAME, "user": CONTEXT_NAME, "namespace": namespace},
                }
            ],
            "current-context": CONTEXT_NAME,
            "preferences": {},
        }

    def kubeconfig_path(self, where: str | Path) -> Path:
        """Write the kubeconfig; ``where`` is a directory (file ``kubeconfig`` inside) or a file path."""
        path = Path(where)
        if path.is_dir():
            path = path / "kubeconfig"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig(), sort_keys=False))
        return path

    def client_configuration(self) -> Any:
        """A ``kubernetes.client.Configuration`` for this server (no kubeconfig file needed)."""
        from kubernetes import client

        configuration = client.Configuration(host=self.url)
        configuration.api_key = {"BearerToken": "brokkr-fake-token"}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
        return configuration

    def api_client(self) -> Any:
        """A ``kubernetes.client.ApiClient`` for this server (for the typed ``*Api`` classes)."""
        from kubernetes import client

        return client.ApiClient(self.client_configuration())

    def dynamic_client(self, cache_file: str | Path | None = None) -> Any:
        """A ``kubernetes.dynamic.DynamicClient`` whose discovery cache belongs to this server.

        The client's default cache file is keyed by host:port only, so a later fake on a reused
        port would read stale discovery; the default here is a file private to this instance.
        """
        from kubernetes import dynamic

        if cache_file is None:
            cache_file = Path(self._tempdir.name) / "discovery-cache.json"
        factory: Callable[..., Any] = dynamic.DynamicClient
        return factory(self.api_client(), cache_file=str(cache_file))
