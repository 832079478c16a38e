"""Shared pieces of the benchmarks: PostgreSQL, broker processes, CPU/RSS meters, statistics, tables, JSON.

Each benchmark is one script (``python bench/<name>.py``) that imports this module from its own directory.
Everything runs on loopback on the machine at hand: the numbers include the load generator, the broker and
PostgreSQL competing for the same cores, which is why every result records the machine it came from.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
import uvloop
from loadgen import RawConnection, open_loop

from brokkr_adapters_postgres.database import Database
from brokkr_adapters_postgres.embedded import EmbeddedPostgres
from brokkr_domain.model import Actor, Caller
from brokkr_domain.ports import SecretCipher
from brokkr_domain.testing.fakes import PlainCipher
from brokkr_domain.usecases.context import Services

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
BIN = Path(sys.executable).parent
ADMIN = Caller(actor=Actor.admin(), user_agent="brokkr-bench")

T = TypeVar("T")
R = TypeVar("R")


# --- small utilities --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``predicate`` until it returns something truthy (exceptions count as "not yet")."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as exc:  # the thing we wait for may not exist yet
            last = exc
        else:
            if value:
                return value
            last = value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def wait_for_quiet(max_wait: float, threshold_pct: float = 30.0) -> float:
    """Wait up to ``max_wait`` s for the machine to be idle (busy < ``threshold_pct`` of one core over 1 s).

    The machine may be shared (other test suites): a benchmark phase started while something else burns a
    core measures that something as well. Returns the last busy percentage seen (of one core).
    """
    deadline = time.monotonic() + max_wait
    cores = os.cpu_count() or 1
    while True:
        busy = float(psutil.cpu_percent(interval=1.0)) * cores
        if busy < threshold_pct or time.monotonic() >= deadline:
            if busy >= threshold_pct:
                print(f"  (machine still {busy:.0f}% busy with other work; measuring anyway)", flush=True)
            return busy


@contextlib.contextmanager
def workdir(keep: bool = False) -> Iterator[Path]:
    """A scratch directory for one benchmark run (database, logs, kubeconfigs), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="brokkr-bench-"))
    try:
        yield path
    finally:
        if keep:
            print(f"(kept {path})")
        else:
            shutil.rmtree(path, ignore_errors=True)


def run_benchmark(
    name: str,
    args: argparse.Namespace,
    run: Callable[[Any, Path], R],
    report: Callable[[Any, R], Sequence[str]],
) -> int:
    """The shape of every script's ``main``: run in a scratch directory, print the tables, keep the results."""
    with workdir(args.keep) as directory:
        results = run(args, directory)
    write_results(name, vars(args), results, report(args, results))
    return 0


# --- statistics, tables, results ------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear-interpolated percentile (``fraction`` in [0, 1]); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max/mean of durations given in seconds, in milliseconds."""
    ms = [s * 1000.0 for s in seconds]
    return {
        "p50": percentile(ms, 0.50),
        "p90": percentile(ms, 0.90),
        "p99": percentile(ms, 0.99),
        "max": max(ms) if ms else float("nan"),
        "mean": sum(ms) / len(ms) if ms else float("nan"),
        "n": float(len(ms)),
    }


def fmt(value: object) -> str:
    """Numbers for humans: thousands separators, few decimals, '-' for missing."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (pasteable into the README), printed and returned."""
    cells = [[fmt(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(
                v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))
            )
            + " |"
        )

    out = [f"\n{title}\n", line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells]
    text = "\n".join(out)
    print(text, flush=True)
    return text


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                model = row.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def machine_line() -> str:
    m = machine()
    return f"machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['ram_gib']} GiB RAM, Python {m['python']}"


def write_results(name: str, config: Mapping[str, Any], results: Any, tables: Sequence[str]) -> Path:
    """``bench/results/<name>.json``: configuration, machine, raw results and the printed tables."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    document = {
        "benchmark": name,
        "finished_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "config": dict(config),
        "results": results,
        "tables": list(tables),
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(f"\n{machine_line()}\nresults written to {path}")
    return path


# --- processes and what they cost -------------------------------------------------------------------------


class ManagedProcess:
    """A child process with its own log file, stopped with SIGTERM (then SIGKILL) and measured with psutil."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = {**os.environ, **env}
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was not started"
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise RuntimeError(f"{self.name} exited; last log lines:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 20.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)


class Sampler:
    """Samples CPU seconds and resident memory of named process trees in a background thread.

    Each group names root processes; a tree's CPU is the root's own, what its exited children used (the
    kernel adds a reaped child's time to its parent: PostgreSQL backends that lived for one request are
    counted) and its live descendants'. ``window(t0, t1)`` (wall-clock ``time.time()`` values, e.g. reported
    by the load generator) gives each group's CPU over that window as a percentage of one core (200 % = both
    cores of a 2-core machine), its peak RSS, and ``machine_busy_pct``: all cores' busy time, same unit.
    """

    def __init__(self, groups: Mapping[str, Callable[[], list[int]]], every: float = 0.2) -> None:
        self.groups = dict(groups)
        self.every = every
        self.samples: list[tuple[float, dict[str, float], dict[str, float]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    @staticmethod
    def _measure(roots: list[int]) -> tuple[float, float]:
        cpu, rss = 0.0, 0
        for pid in roots:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(pid)
                times = root.cpu_times()
                cpu += times.user + times.system + times.children_user + times.children_system
                rss += root.memory_info().rss
                for child in root.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        times = child.cpu_times()
                        cpu += times.user + times.system
                        rss += child.memory_info().rss
        return cpu, rss / 2**20

    def sample(self) -> None:
        cpu: dict[str, float] = {}
        rss: dict[str, float] = {}
        with self._lock:
            for name, pids in self.groups.items():
                cpu[name], rss[name] = self._measure(pids())
            total = psutil.cpu_times()
            cpu["machine_busy"] = sum(total) - total.idle - getattr(total, "iowait", 0.0)
            self.samples.append((time.time(), cpu, rss))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def window(self, t0: float, t1: float) -> dict[str, float]:
        """``<group>_cpu_pct`` and ``<group>_rss_mib`` (peak) for every group over ``[t0, t1]``."""
        self.sample()
        inside = [s for s in self.samples if t0 <= s[0] <= t1]
        if len(inside) < 2:  # a very short window: use the samples around it
            before = [s for s in self.samples if s[0] < t0][-1:]
            after = [s for s in self.samples if s[0] > t1][:1]
            inside = before + inside + after
        out: dict[str, float] = {}
        if len(inside) < 2:
            return out
        first, last = inside[0], inside[-1]
        elapsed = max(last[0] - first[0], 1e-9)
        for name in self.groups:
            out[f"{name}_cpu_pct"] = 100.0 * (last[1].get(name, 0.0) - first[1].get(name, 0.0)) / elapsed
            out[f"{name}_rss_mib"] = max(s[2].get(name, 0.0) for s in inside)
        out["machine_busy_pct"] = 100.0 * (last[1]["machine_busy"] - first[1]["machine_busy"]) / elapsed
        ours = sum(out[f"{name}_cpu_pct"] for name in self.groups)
        out["other_cpu_pct"] = max(out["machine_busy_pct"] - ours, 0.0)  # the kernel's and other programs'
        return out


# --- PostgreSQL -------------------------------------------------------------------------------------------


class Postgres:
    """An embedded PostgreSQL for one benchmark run (``durable=False``: no fsync, like the test suite)."""

    def __init__(self, directory: Path, durable: bool = False) -> None:
        self.server = EmbeddedPostgres(directory / "postgres", durable=durable)

    def start(self) -> Postgres:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the brokkr database."""
        return self.server.url()

    def dsn(self, database: str = "postgres") -> str:
        """Plain libpq URL (for psycopg) of a database in this server."""
        return self.server.url(database).replace("postgresql+psycopg://", "postgresql://", 1)

    def pids(self) -> list[int]:
        """The postmaster (the sampler adds its backends, live and exited: the database's share)."""
        try:
            return [int((self.server.pgdata / "postmaster.pid").read_text().splitlines()[0])]
        except (OSError, ValueError, IndexError):
            return []

    def open(self, cipher: SecretCipher | None = None) -> Database:
        """The adapter's facade on this server (migrated), for seeding through the domain's use cases."""
        return Database.open(self.url, cipher=cipher or PlainCipher(), auto_migrate=True, pool_size=4)


def services(database: Database) -> Services:
    return Services(uow=database.uow)


# --- the broker -------------------------------------------------------------------------------------------


class Broker(ManagedProcess):
    """``brokkr-broker serve`` on a shared PostgreSQL (replicas: several of these on one database)."""

    def __init__(
        self,
        name: str,
        database_url: str,
        directory: Path,
        *,
        webhook_key_hex: str,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = directory / "broker-data"
        base = {
            "BROKKR__DATABASE__URL": database_url,
            "BROKKR__DATABASE__DATA_DIR": str(self.data_dir),
            "BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY": webhook_key_hex,
            "BROKKR__LOG__LEVEL": "info",
        }
        argv = [str(BIN / "brokkr-broker"), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        super().__init__(name, argv, {**base, **(env or {})}, directory)

    def start(self, timeout: float = 90.0) -> Broker:
        return self.launch().wait_ready(timeout)

    def launch(self) -> Broker:
        """Start the process without waiting (replicas: launch each, then ``wait_ready`` each)."""
        super().start()
        return self

    def wait_ready(self, timeout: float = 90.0) -> Broker:

        def ready() -> bool:
            self.check_alive()
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200

        wait_until(ready, timeout, f"{self.name} at {self.url}")
        return self

    def admin_pak(self) -> str:
        """The admin key the first broker on an empty database wrote (replicas share the data directory)."""
        return (self.data_dir / "admin.pak").read_text().strip()

    def client(self, pak: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/api/v1", headers={"Authorization": f"Bearer {pak}"}, timeout=30
        )


def new_webhook_key() -> str:
    """One encryption key per run, shared by every broker replica of that run."""
    return secrets.token_hex(32)


# --- open-loop traffic with request bodies and a per-request log ---------------------------------------------


@dataclasses.dataclass(frozen=True)
class Sent:
    """One request ``loadgen.open_loop`` sent: its kind, ``time.monotonic()`` at send and answer, and the
    status code or the exception's class name (a refused or cut connection)."""

    kind: str
    sent: float
    done: float
    outcome: str


def raw_request(
    method: str, path: str, headers: Mapping[str, str], host: str, port: int, body: bytes = b""
) -> bytes:
    """HTTP/1.1 request bytes for ``loadgen.RawConnection``, with an optional JSON body (loadgen's own
    builder sends none: ``target_state.py`` needs no event reports)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "User-Agent: brokkr-bench"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body:
        lines.append("Content-Type: application/json")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def run_open_loop(
    url: str, requests: Sequence[tuple[str, bytes]], rate: float, duration: float, connections: int
) -> tuple[dict[str, Any], list[Sent]]:
    """``loadgen.open_loop`` in this process over prebuilt ``(kind, bytes)`` requests sent in list order.

    Its summary (latency from each request's *scheduled* time, backlog, rate) plus a log of every request
    with its own send and answer times: what a per-kind breakdown or a timeline around a fault needs.
    """
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    log: list[Sent] = []

    def sender(conn: RawConnection) -> Callable[[int], Awaitable[int]]:
        async def send(index: int) -> int:
            kind, raw = requests[index]
            sent = time.monotonic()
            try:
                status = await conn.request(raw)
            except Exception as exc:
                log.append(Sent(kind, sent, time.monotonic(), type(exc).__name__))
                raise
            log.append(Sent(kind, sent, time.monotonic(), str(status)))
            return status

        return send

    conns = [RawConnection(host, int(port)) for _ in range(connections)]
    spec = {"rate": rate, "duration": duration}
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            summary = runner.run(open_loop(spec, [sender(c) for c in conns], list(range(len(requests)))))
    finally:
        for conn in conns:
            conn.close()
    return summary, log


def loadavg() -> list[float]:
    """``os.getloadavg()`` rounded: how busy the (possibly shared) machine was around a phase."""
    return [round(x, 2) for x in os.getloadavg()]
