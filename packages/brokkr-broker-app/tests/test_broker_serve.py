"""``brokkr-broker serve`` as a real process: first start prints the admin key once and keeps it owner-only,
the API answers, SIGTERM stops it cleanly with the audit log flushed, and a restart keeps the key."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from brokkr_adapters_postgres.database import Database
from brokkr_broker_app.crypto import AesGcmCipher
from brokkr_domain.model import Actor, Caller
from brokkr_domain.ports import AuditQuery
from brokkr_domain.usecases import audit
from brokkr_domain.usecases.context import Services

PAK = re.compile(r"brokkr_BR\w{6}_\w+")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Served:
    def __init__(self, url: str, data: Path) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "BROKKR__DATABASE__URL": url,
            "BROKKR__DATABASE__DATA_DIR": str(data),
            "BROKKR__LOG__LEVEL": "warn",
        }
        self.env.pop("BROKKR_CONFIG_FILE", None)
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *options: str) -> None:
        argv = [
            sys.executable,
            "-m",
            "brokkr_broker_app.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *options,
        ]
        self.process = subprocess.Popen(
            argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if "listening on" in line:
                break
        self._wait_ready(deadline)

    def _wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError("the broker did not become ready:\n" + "".join(self.output))

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(20)
        assert self.process.stdout is not None
        self.output += self.process.stdout.readlines()
        self.process = None
        return code

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def served(fresh_database_url: str, tmp_path: Path) -> Iterator[Served]:
    server = Served(fresh_database_url, tmp_path / "data")
    yield server
    server.kill()


def test_first_start_key_api_graceful_stop_and_restart(
    served: Served, fresh_database_url: str, tmp_path: Path
) -> None:
    served.start()
    printed = PAK.findall("".join(served.output))
    assert len(printed) == 1, "".join(served.output)
    admin = printed[0]
    key_file = tmp_path / "data" / "admin.pak"
    assert key_file.read_text().strip() == admin and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    headers = {"Authorization": f"Bearer {admin}"}
    assert httpx.post(f"{served.base}/api/v1/auth/pak", headers=headers).json()["admin"] is True
    created = httpx.post(
        f"{served.base}/api/v1/agents", headers=headers, json={"name": "a", "cluster_name": "c"}
    )
    assert created.status_code == 200
    assert served.stop() == 0

    key = (tmp_path / "data" / "webhook-encryption.key").read_text().strip()
    with Database.open(fresh_database_url, cipher=AesGcmCipher(bytes.fromhex(key)), pool_size=1) as db:
        page = audit.query_audit_logs(
            Services(uow=db.uow), Caller(actor=Actor.admin()), AuditQuery(action="agent.created")
        )
    assert page.total == 1  # flushed on shutdown

    served.output.clear()
    served.start()
    assert PAK.findall("".join(served.output)) == []  # initialised already: no new key
    assert httpx.post(f"{served.base}/api/v1/auth/pak", headers=headers).status_code == 200
    assert served.stop() == 0


def test_workers_share_one_port_and_stop_together(served: Served, fresh_database_url: str) -> None:
    served.start("--workers", "2")
    assert served.process is not None
    assert "2 worker processes" in "".join(served.output)
    parent = psutil.Process(served.process.pid)

    def worker_processes() -> list[psutil.Process]:  # multiprocessing's resource tracker is a child too
        return [p for p in parent.children() if "resource_tracker" not in " ".join(p.cmdline())]

    deadline = time.monotonic() + 30
    while len(worker_processes()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = worker_processes()
    assert len(workers) == 2, "one supervisor, two worker processes"
    admin = PAK.findall("".join(served.output))[0]
    headers = {"Authorization": f"Bearer {admin}"}
    with httpx.Client(base_url=served.base, headers=headers) as client:  # fresh connections spread out
        codes = {httpx.post(f"{served.base}/api/v1/auth/pak", headers=headers).status_code for _ in range(20)}
        assert codes == {200}
        created = client.post("/api/v1/agents", json={"name": "w", "cluster_name": "c"})
        assert created.status_code == 200
    assert served.stop() == 0, "SIGTERM stops the supervisor and its workers, exit 0"
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
