"""Helpers of the fault tests: the broker as a real ``brokkr-broker serve`` process, a webhook receiver that
holds requests, and a client that records what every request got and how long it took.

``ServedBroker`` can be stopped with SIGTERM (graceful) or SIGKILL (a crash) and started again on the same
database, data directory and port, so a test can check what survives each.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs
import httpx

from brokkr_adapters_postgres.database import Database
from brokkr_broker_app.crypto import KEY_FILE_NAME, AesGcmCipher

PAK = re.compile(r"brokkr_BR\w+_\w+")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServedBroker:
    """``python -m brokkr_broker_app.cli serve`` on ``url``; ``env`` adds ``BROKKR__…`` settings."""

    def __init__(self, url: str, data: Path, env: Mapping[str, str] | None = None) -> None:
        self.url = url
        self.data = data
        self.port = free_port()
        self.env = {
            **os.environ,
            "BROKKR__DATABASE__URL": url,
            "BROKKR__DATABASE__DATA_DIR": str(data),
            "BROKKR__LOG__LEVEL": "warn",
            **(env or {}),
        }
        self.env.pop("BROKKR_CONFIG_FILE", None)
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []
        self._reader: threading.Thread | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin(self) -> str:
        """The admin key the first start wrote to the data directory."""
        return (self.data / "admin.pak").read_text().strip()

    def headers(self, pak: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {pak or self.admin}"}

    def start(self, *options: str, timeout: float = 60) -> None:
        """Start ``serve`` (with extra CLI ``options``) and wait until ``/readyz`` answers 200."""
        argv = [sys.executable, "-m", "brokkr_broker_app.cli", "serve", "--host", "127.0.0.1"]
        self.process = subprocess.Popen(
            [*argv, "--port", str(self.port), *options],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, args=(self.process,), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError("the broker did not become ready:\n" + self.log())

    def _read(self, process: subprocess.Popen[str]) -> None:
        """Drain the output (a full pipe would block the broker) and keep it for failure messages."""
        assert process.stdout is not None
        for line in process.stdout:
            self.output.append(line)

    def log(self) -> str:
        return "".join(self.output[-200:])

    def wait_for_output(self, text: str, timeout: float = 10) -> str:
        """Everything printed so far, once it contains ``text`` (the reader thread may lag the process)."""
        deadline = time.monotonic() + timeout
        while text not in "".join(self.output) and time.monotonic() < deadline:
            time.sleep(0.02)
        return "".join(self.output)

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM and wait for the exit status."""
        return self._end(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        if self.process is not None and self.process.poll() is None:
            self._end(signal.SIGKILL, 10)
        self.process = None

    def _end(self, sig: signal.Signals, timeout: float) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        code = self.process.wait(timeout)
        if self._reader is not None:
            self._reader.join(5)
        self.process = None
        return code

    def open_database(self) -> Database:
        """The broker's database opened the way the broker opens it (its key file decrypts the secrets)."""
        key = bytes.fromhex((self.data / KEY_FILE_NAME).read_text().strip())
        return Database.open(self.url, cipher=AesGcmCipher(key), pool_size=1)


@attrs.frozen
class Held:
    path: str
    headers: dict[str, str]
    body: bytes


class HoldingReceiver:
    """A webhook receiver on loopback. While ``holding`` is set it keeps each request open without answering
    (until ``release`` or its own end); otherwise it answers 200 at once. ``arrived`` fires on every request."""

    def __init__(self, *, holding: bool) -> None:
        self.received: list[Held] = []
        self.arrived = threading.Event()
        self.holding = holding
        self._released = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    hold = receiver.holding
                    receiver.received.append(
                        Held(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                receiver.arrived.set()
                if hold:
                    receiver._released.wait(120)
                try:
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the sender gave up (timeout) or died meanwhile
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                del format, args

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.count() < count:
            if time.monotonic() > deadline:
                return False
            self.arrived.wait(0.05)
            self.arrived.clear()
        return True

    def release(self) -> None:
        with self._lock:
            self.holding = False
        self._released.set()

    def __enter__(self) -> HoldingReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


@attrs.frozen
class Outcome:
    """One request as the client saw it: when it started (monotonic), what came back, how long it took."""

    started: float
    seconds: float
    status: int | None  # None: no HTTP answer (connection refused or cut)
    code: str | None  # the error body's ``code``, if any
    label: str


class RecordingClient:
    """Runs ``step(client)`` in a loop on its own thread until stopped, recording every outcome."""

    def __init__(self, base: str, step: Callable[[httpx.Client], tuple[str, httpx.Response]], pause: float):
        self.base = base
        self.step = step
        self.pause = pause
        self.outcomes: list[Outcome] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        with httpx.Client(base_url=self.base, timeout=15) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                label, status, code = "?", None, None
                try:
                    label, response = self.step(client)
                    status = response.status_code
                    if status >= 400 and response.headers.get("content-type", "").startswith(
                        "application/json"
                    ):
                        code = response.json().get("code")
                except httpx.TransportError:
                    pass
                self.outcomes.append(Outcome(started, time.monotonic() - started, status, code, label))
                self._stop.wait(self.pause)

    def __enter__(self) -> RecordingClient:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
