"""``brokkr-broker serve`` as a real process: first start prints the admin key once and keeps it owner-only,
the API answers, SIGTERM stops it cleanly with the audit log flushed, and a restart keeps the key; with
``--workers 2`` one supervisor runs two worker processes on one port and stops them together."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from brokerapp_faults_support import PAK, ServedBroker
from brokkr_adapters_postgres.database import Database
from brokkr_broker_app.crypto import AesGcmCipher
from brokkr_domain.model import Actor, Caller
from brokkr_domain.ports import AuditQuery
from brokkr_domain.usecases import audit
from brokkr_domain.usecases.context import Services

LISTENING = "listening on"


@pytest.fixture
def served(fresh_database_url: str, tmp_path: Path) -> Iterator[ServedBroker]:
    server = ServedBroker(fresh_database_url, tmp_path / "data")
    yield server
    server.kill()


def test_first_start_key_api_graceful_stop_and_restart(
    served: ServedBroker, fresh_database_url: str, tmp_path: Path
) -> None:
    served.start()
    printed = PAK.findall(served.wait_for_output(LISTENING))
    assert len(printed) == 1, served.log()
    admin = printed[0]
    key_file = tmp_path / "data" / "admin.pak"
    assert key_file.read_text().strip() == admin and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    headers = served.headers(admin)
    assert httpx.post(f"{served.base}/api/v1/auth/pak", headers=headers).json()["admin"] is True
    created = httpx.post(
        f"{served.base}/api/v1/agents", headers=headers, json={"name": "a", "cluster_name": "c"}
    )
    assert created.status_code == 200
    assert served.terminate() == 0

    key = (tmp_path / "data" / "webhook-encryption.key").read_text().strip()
    with Database.open(fresh_database_url, cipher=AesGcmCipher(bytes.fromhex(key)), pool_size=1) as db:
        page = audit.query_audit_logs(
            Services(uow=db.uow), Caller(actor=Actor.admin()), AuditQuery(action="agent.created")
        )
    assert page.total == 1  # flushed on shutdown

    served.output.clear()
    served.start()
    assert PAK.findall(served.wait_for_output(LISTENING)) == []  # initialised already: no new key
    assert httpx.post(f"{served.base}/api/v1/auth/pak", headers=headers).status_code == 200
    assert served.terminate() == 0


def test_workers_share_one_port_and_stop_together(served: ServedBroker) -> None:
    served.start("--workers", "2")
    assert served.process is not None
    assert "2 worker processes" in served.wait_for_output(LISTENING)
    parent = psutil.Process(served.process.pid)

    def worker_processes() -> list[psutil.Process]:  # multiprocessing's resource tracker is a child too
        return [p for p in parent.children() if "resource_tracker" not in " ".join(p.cmdline())]

    deadline = time.monotonic() + 30
    while len(worker_processes()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = worker_processes()
    assert len(workers) == 2, "one supervisor, two worker processes"
    headers = served.headers()
    codes = {httpx.post(f"{served.base}/api/v1/auth/pak", headers=headers).status_code for _ in range(20)}
    assert codes == {200}, "every worker answers (fresh connections spread over them)"
    created = httpx.post(
        f"{served.base}/api/v1/agents", headers=headers, json={"name": "w", "cluster_name": "c"}
    )
    assert created.status_code == 200
    assert served.terminate() == 0, "SIGTERM stops the supervisor and its workers, exit 0"
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
