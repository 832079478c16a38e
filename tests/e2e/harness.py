"""Real processes for end-to-end tests: the broker CLI on embedded PostgreSQL and agent CLIs against fake clusters.

Each process gets its own environment (``BROKKR__…`` variables), logs to a file in the test's directory (shown on
failure) and is stopped with SIGTERM, then SIGKILL if it does not exit in time.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2, what: str = ""
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # the thing we wait for may not exist yet
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}: last={last!r}")


class Process:
    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = {**os.environ, **env}
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20.0, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Broker:
    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = workdir / "broker-data"
        self.env = {
            "BROKKR__DATABASE__DATA_DIR": str(self.data_dir),
            "BROKKR__LOG__LEVEL": "info",
            "BROKKR__BROKER__WEBHOOK_DELIVERY_INTERVAL_SECONDS": "1",
            "BROKKR__BROKER__WORK_ORDER_MAINTENANCE_INTERVAL_SECONDS": "1",
            "BROKKR__BROKER__AUTH_CACHE_TTL_SECONDS": "60",
        }
        self.process = Process(
            "broker", [str(BIN / "brokkr-broker"), "serve", "--port", str(self.port)], self.env, workdir
        )
        self.admin_pak = ""

    def start(self, timeout: float = 90.0) -> Broker:
        self.process.start()
        wait_until(self._ready, timeout, what=f"broker at {self.url}\n{self.process.log()}")
        self.admin_pak = (self.data_dir / "admin.pak").read_text().strip()
        return self

    def _ready(self) -> bool:
        if not self.process.alive():
            raise AssertionError(f"broker exited:\n{self.process.log()}")
        return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200

    def client(self, pak: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers={"Authorization": f"Bearer {pak or self.admin_pak}"},
            timeout=30,
        )

    def stop(self) -> int | None:
        return self.process.stop()


class Agent:
    def __init__(
        self, name: str, broker: Broker, pak: str, cluster_name: str, kubeconfig: Path, workdir: Path
    ):
        self.name = name
        self.health_port = free_port()
        env = {
            "BROKKR__AGENT__BROKER_URL": broker.url,
            "BROKKR__AGENT__PAK": pak,
            "BROKKR__AGENT__AGENT_NAME": name,
            "BROKKR__AGENT__CLUSTER_NAME": cluster_name,
            "BROKKR__AGENT__KUBECONFIG_PATH": str(kubeconfig),
            "BROKKR__AGENT__POLLING_INTERVAL": "0.5",
            "BROKKR__AGENT__HEALTH_PORT": str(self.health_port),
            "BROKKR__AGENT__DEPLOYMENT_HEALTH_INTERVAL": "1",
            "BROKKR__AGENT__DIAGNOSTICS_INTERVAL": "1",
            "BROKKR__AGENT__WEBHOOK_INTERVAL": "1",
            "BROKKR__LOG__LEVEL": "info",
        }
        self.process = Process(f"agent-{name}", [str(BIN / "brokkr-agent"), "run"], env, workdir)

    def start(self) -> Agent:
        self.process.start()
        return self

    def stop(self) -> int | None:
        return self.process.stop()
