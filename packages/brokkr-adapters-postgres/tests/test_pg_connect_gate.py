"""The connection gate: while PostgreSQL cannot be reached, one attempt at a time, the rest fail at once.

Against a "database" that accepts TCP connections and never says a word (what a host behind a dropped route
or a frozen server looks like to libpq), once one attempt has failed, eight concurrent requests cost one
``connect_timeout`` wait, not eight,
and each of the others gets the same error a failed connection gives (so the broker answers 503 at once). The
gate's states are checked with a hand-driven clock, and a real database restart still recovers.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import make_url

from brokkr_adapters_postgres.connect_gate import ConnectGate, DatabaseUnreachable
from brokkr_adapters_postgres.engine import DEAD_PEER_DETECTION, connect_arguments, make_engine
from brokkr_adapters_postgres.errors import translate
from brokkr_domain.errors import TransientError

CONNECT_TIMEOUT = 2


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def fail() -> str:
    raise ConnectionRefusedError("refused")


def test_connecting_freely_until_an_attempt_fails_then_one_trial_after_the_cooldown() -> None:
    clock = Clock()
    gate = ConnectGate(cooldown=0.5, clock=clock)
    assert [gate.attempt(lambda: "a"), gate.attempt(lambda: "b")] == ["a", "b"] and not gate.closed
    with pytest.raises(ConnectionRefusedError):
        gate.attempt(fail)
    assert gate.closed
    calls: list[str] = []
    with pytest.raises(DatabaseUnreachable, match=r"failed 0\.2 s ago"):
        clock.now += 0.2
        gate.attempt(lambda: calls.append("x") or "x")
    assert calls == []  # failed without trying
    clock.now += 0.3
    with pytest.raises(ConnectionRefusedError):  # the trial is made, and fails: closed again from now
        gate.attempt(fail)
    with pytest.raises(DatabaseUnreachable):
        gate.attempt(lambda: "y")
    clock.now += 0.5
    assert gate.attempt(lambda: "z") == "z" and not gate.closed  # the trial succeeded: open for everyone
    assert gate.attempt(lambda: "again") == "again"


def test_while_a_trial_is_on_its_way_every_other_attempt_fails_at_once() -> None:
    clock = Clock()
    gate = ConnectGate(cooldown=0.0, clock=clock)
    with pytest.raises(ConnectionRefusedError):
        gate.attempt(fail)
    entered, release = threading.Event(), threading.Event()

    def slow() -> str:
        entered.set()
        release.wait(5)
        return "slow"

    with ThreadPoolExecutor(1) as pool:
        trial = pool.submit(gate.attempt, slow)
        assert entered.wait(5)
        with pytest.raises(DatabaseUnreachable, match="in progress"):
            gate.attempt(lambda: "other")
        release.set()
        assert trial.result(5) == "slow"
    assert gate.attempt(lambda: "free") == "free"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port whose server completes the handshake (the kernel does) and then never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield server.getsockname()[1]


def test_concurrent_requests_to_a_silent_database_wait_once_not_each(silent_server: int) -> None:
    engine = make_engine(
        f"postgresql://brokkr@127.0.0.1:{silent_server}/brokkr",
        connect_timeout=CONNECT_TIMEOUT,
        connect_cooldown=0.1,
    )

    def request(_: int) -> tuple[float, BaseException | None]:
        started = time.monotonic()
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except sa_exc.DBAPIError as exc:
            return time.monotonic() - started, exc
        return time.monotonic() - started, None

    try:
        first, error = request(0)  # nothing known yet: the attempt waits the whole timeout
        assert first >= CONNECT_TIMEOUT * 0.9 and error is not None
        time.sleep(0.15)  # past the cooldown: the next attempt is a trial
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(request, range(8)))
    finally:
        engine.dispose()
    waits = sorted(elapsed for elapsed, _ in results)
    assert all(isinstance(exc, sa_exc.OperationalError) for _, exc in results), results
    assert all(
        isinstance(translate(exc), TransientError) for _, exc in results if isinstance(exc, sa_exc.DBAPIError)
    )
    slow = [w for w in waits if w >= CONNECT_TIMEOUT * 0.9]
    assert len(slow) == 1, waits  # the trial; the seven others failed at once
    assert max(waits[:-1]) < 0.5, waits
    print(
        f"\n8 requests to a silent database: one waited {waits[-1]:.2f} s, the others at most "
        f"{max(waits[:-1]) * 1000:.0f} ms"
    )


def test_connections_carry_dead_peer_detection_unless_the_url_says_otherwise() -> None:
    url, args = connect_arguments(make_url("postgresql+psycopg://u@db/x"), "tenant_a", 10)
    assert args == {"options": '-c TimeZone=UTC -c search_path="tenant_a"', "connect_timeout": 10} | dict(
        DEAD_PEER_DETECTION
    )
    assert url.query == {}
    own = make_url(
        "postgresql+psycopg://u@db/x?keepalives_idle=30&tcp_user_timeout=0&options=-c%20work_mem%3D8MB"
    )
    url, args = connect_arguments(own, None, 10)
    assert "keepalives_idle" not in args and "tcp_user_timeout" not in args  # the URL's values stay in force
    assert url.query == {"keepalives_idle": "30", "tcp_user_timeout": "0"}
    assert args["options"] == "-c work_mem=8MB -c TimeZone=UTC" and args["keepalives_count"] == 3
