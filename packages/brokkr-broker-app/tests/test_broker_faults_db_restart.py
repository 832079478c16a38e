"""PostgreSQL stops and starts again under load: while it is down the broker answers 503 with the JSON error
body, quickly; once it is back the same broker process answers 200 again within seconds; never a 500.

The broker (``brokkr-broker serve``) runs on its own embedded PostgreSQL in a temporary directory, which the
test stops (a fast shutdown cuts every pooled connection) and starts again on the same port. Two clients keep
reading and writing throughout.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from brokerapp_faults_support import Outcome, RecordingClient, ServedBroker
from brokkr_adapters_postgres.embedded import EmbeddedPostgres

DOWN_FOR = 3.0  # seconds the database stays stopped
FAIL_FAST = 2.0  # every answer while it is down comes within this
RECOVERY = 15.0  # generous bound for the first 200 after the restart (measured: see the printed line)


@pytest.fixture
def postgres() -> Iterator[EmbeddedPostgres]:
    directory = Path(tempfile.mkdtemp(prefix="brokkr-pg-fault-"))
    server = EmbeddedPostgres(directory, durable=False, stop_with_parent=True)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def served(postgres: EmbeddedPostgres, tmp_path: Path) -> Iterator[ServedBroker]:
    broker = ServedBroker(postgres.url(), tmp_path / "data", {"BROKKR__BROKER__SHUTDOWN_GRACE_SECONDS": "2"})
    broker.start()
    yield broker
    broker.kill()


def _reader(served: ServedBroker) -> RecordingClient:
    headers = served.headers()
    return RecordingClient(
        served.base, lambda c: ("GET /agents", c.get("/api/v1/agents", headers=headers)), pause=0.05
    )


def _writer(served: ServedBroker) -> RecordingClient:
    headers, names = served.headers(), itertools.count()

    def step(client: httpx.Client) -> tuple[str, httpx.Response]:
        body = {"name": f"agent-{next(names)}", "cluster_name": "c"}
        return "POST /agents", client.post("/api/v1/agents", headers=headers, json=body)

    return RecordingClient(served.base, step, pause=0.05)


def test_requests_fail_fast_with_503_while_the_database_is_down_then_recover(
    served: ServedBroker, postgres: EmbeddedPostgres
) -> None:
    with _reader(served) as reader, _writer(served) as writer:
        time.sleep(1.0)
        stopping = time.monotonic()
        postgres.stop()
        stopped = time.monotonic()
        time.sleep(DOWN_FOR)
        ready_while_down = httpx.get(f"{served.base}/readyz", timeout=10)
        starting = time.monotonic()
        postgres.start()
        started = time.monotonic()
        deadline = started + RECOVERY
        while not any(o.started > started and o.status == 200 for o in reader.outcomes + writer.outcomes):
            assert time.monotonic() < deadline, "the broker did not recover:\n" + served.log()
            time.sleep(0.05)
        time.sleep(2.0)
    outcomes: list[Outcome] = sorted(reader.outcomes + writer.outcomes, key=lambda o: o.started)

    assert served.process is not None and served.process.poll() is None  # the same process throughout
    assert {o.status for o in outcomes} <= {200, 503}, [o for o in outcomes if o.status not in (200, 503)]
    assert all(o.code == "database_unavailable" for o in outcomes if o.status == 503)
    assert ready_while_down.status_code == 503 and ready_while_down.json()["code"] == "database_unavailable"
    before = [o for o in outcomes if o.started + o.seconds < stopping]
    down = [o for o in outcomes if o.started >= stopped and o.started + o.seconds < starting]
    after = [o for o in outcomes if o.started > started]
    assert before and all(o.status == 200 for o in before)
    assert len(down) >= 10 and all(o.status == 503 for o in down), down
    assert max(o.seconds for o in down) < FAIL_FAST, max(o.seconds for o in down)
    first_ok = next(o for o in after if o.status == 200)
    recovered_in = first_ok.started + first_ok.seconds - started
    steady = [o for o in after if o.started > first_ok.started + 0.5]  # once back, it stays back
    assert steady and all(o.status == 200 for o in steady), [o for o in steady if o.status != 200]
    assert {o.label for o in after if o.status == 200} == {"GET /agents", "POST /agents"}
    down_ms = sorted(o.seconds * 1000 for o in down)
    print(
        f"\nwhile down: {len(down)} requests, all 503, median {down_ms[len(down_ms) // 2]:.0f} ms, "
        f"max {down_ms[-1]:.0f} ms; first 200 {recovered_in:.2f} s after PostgreSQL was up again "
        f"(its start took {started - starting:.2f} s); {len(outcomes)} requests in all"
    )
