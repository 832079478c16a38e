"""The HTTP load generator of ``target_state.py``, run in its own process so it never shares a GIL with a server.

    python bench/loadgen.py SPEC.json RESULT.json

Two clients: ``raw`` (asyncio streams on uvloop speaking HTTP/1.1 over keep-alive connections: a prebuilt
request, a header scan, a body read — several times cheaper per request than a general client) and ``httpx``
(``httpx.AsyncClient``, for comparison). Two disciplines:

- ``closed``: ``connections`` workers, each sending its next request as soon as the last one answered; what a
  server sustains at saturation. A warm-up period runs first and is not counted.
- ``open``: requests are *scheduled* at a fixed rate (request ``i`` at ``t0 + i/rate``, cycling through the
  simulated agents, so each agent polls every ``agents/rate`` seconds) and queued for ``connections`` workers.
  Latency counts from the scheduled time, so a server that falls behind shows it in the percentiles instead
  of silently slowing the generator down (no coordinated omission).

The result is a JSON summary: requests counted, errors, status codes, rate, latency percentiles and the
generator's own CPU time (to tell when it, not the server, is the bottleneck).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import uvloop

# The spec (a JSON object):
#   targets      [[host, port], ...]      servers; connection k goes to targets[k % len(targets)]
#   requests     [[method, path, {header: value}], ...]   one per simulated agent
#   discipline   "closed" | "open"
#   client       "raw" | "httpx"
#   connections  int
#   duration     seconds measured;  warmup  seconds before (closed only)
#   rate         requests/s (open only)
#   passes       optional (closed only): send exactly passes * len(requests) requests, then stop
Spec = dict[str, Any]
Send = Callable[[int], Awaitable[int]]


class RawConnection:
    """One keep-alive HTTP/1.1 connection; requests are prebuilt bytes, responses are read and discarded."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self.reader, self.writer

    async def request(self, raw: bytes) -> int:
        """Send one request; a kept-alive connection the server closed meanwhile is reopened once, as any
        HTTP client does (uvicorn closes connections idle for 5 s)."""
        if self.reader is not None and self.reader.at_eof():
            self.close()
        reused = self.reader is not None
        try:
            return await self._exchange(raw)
        except (OSError, asyncio.IncompleteReadError) as exc:
            if not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                raise
            return await self._exchange(raw)

    async def _exchange(self, raw: bytes) -> int:
        reader, writer = await self._connect()
        try:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            lower = head.lower()
            at = lower.find(b"\r\ncontent-length:")
            if at >= 0:
                end = lower.index(b"\r\n", at + 2)
                length = int(lower[at + 17 : end])
                if length:
                    await reader.readexactly(length)
            elif b"\r\ntransfer-encoding: chunked" in lower:
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            if b"\r\nconnection: close" in lower:
                self.close()
            return status
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            self.close()
            raise

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _raw_request(method: str, path: str, headers: dict[str, str], host: str, port: int) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "User-Agent: brokkr-bench"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if method in ("POST", "PUT", "PATCH"):
        lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Recorder:
    """Latencies and outcomes of the requests that count."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.errors = 0
        self.last_done = 0.0
        self.cpu_start = self.cpu_end = 0.0  # process_time() at the measured window's edges

    async def mark_cpu(self, start_at: float) -> None:
        """Snapshot the generator's CPU time when the measured window opens (workers run on this thread)."""
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(start_at - loop.time(), 0.0))
        self.cpu_start = time.process_time()

    def ok(self, status: int, latency: float, done: float = 0.0) -> None:
        self.statuses[str(status)] += 1
        self.latencies.append(latency)
        self.last_done = max(self.last_done, done)

    def failed(self, exc: BaseException) -> None:
        self.errors += 1
        self.statuses[type(exc).__name__] += 1


def _senders(spec: Spec) -> tuple[list[Send], Callable[[], Awaitable[None]]]:
    """One send function per connection (``send(agent_index) -> status``) and a closer."""
    requests: list[tuple[str, str, dict[str, str]]] = [
        (str(m), str(p), dict(h)) for m, p, h in spec["requests"]
    ]
    targets = [(str(h), int(p)) for h, p in spec["targets"]]
    count = int(spec["connections"])
    if spec["client"] == "raw":
        prebuilt = {target: [_raw_request(m, p, h, *target) for m, p, h in requests] for target in targets}
        connections = [RawConnection(*targets[k % len(targets)]) for k in range(count)]

        def raw_sender(conn: RawConnection) -> Send:
            table = prebuilt[(conn.host, conn.port)]

            async def send(index: int) -> int:
                return await conn.request(table[index])

            return send

        async def close_raw() -> None:
            for conn in connections:
                conn.close()

        return [raw_sender(c) for c in connections], close_raw

    per_target = max(1, count // len(targets))
    clients = [
        httpx.AsyncClient(
            base_url=f"http://{h}:{p}",
            limits=httpx.Limits(max_connections=per_target, max_keepalive_connections=per_target),
            timeout=60,
            headers={"User-Agent": "brokkr-bench"},
        )
        for h, p in targets
    ]

    def httpx_sender(client: httpx.AsyncClient) -> Send:
        async def send(index: int) -> int:
            method, path, headers = requests[index]
            response = await client.request(method, path, headers=headers)
            return response.status_code

        return send

    async def close_httpx() -> None:
        for client in clients:
            await client.aclose()

    return [httpx_sender(clients[k % len(clients)]) for k in range(count)], close_httpx


async def closed_loop(spec: Spec, senders: list[Send], order: list[int]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    recorder = Recorder()
    counter = itertools.count()
    passes = spec.get("passes")
    limit = int(passes) * len(order) if passes else None
    start = loop.time()
    measure_from = start + float(spec.get("warmup", 0.0)) if limit is None else start
    stop_at = measure_from + float(spec["duration"]) if limit is None else float("inf")

    async def worker(send: Send) -> None:
        while True:
            n = next(counter)
            if limit is not None and n >= limit:
                return
            sent = loop.time()
            if sent >= stop_at:
                return
            try:
                status = await send(order[n % len(order)])
            except Exception as exc:
                if sent >= measure_from:
                    recorder.failed(exc)
                continue
            done = loop.time()
            if sent >= measure_from and done <= stop_at:
                recorder.ok(status, done - sent)

    await asyncio.gather(recorder.mark_cpu(measure_from), *(worker(s) for s in senders))
    recorder.cpu_end = time.process_time()
    elapsed = (loop.time() - start) if limit is not None else float(spec["duration"])
    return _summary(recorder, elapsed, offered=None, backlog=0, window=(measure_from, measure_from + elapsed))


async def open_loop(spec: Spec, senders: list[Send], order: list[int]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    recorder = Recorder()
    rate = float(spec["rate"])
    duration = float(spec["duration"])
    queue: asyncio.Queue[tuple[float, int]] = asyncio.Queue()
    t0 = loop.time() + 0.05
    scheduled = 0

    async def scheduler() -> None:
        nonlocal scheduled
        while True:
            due = t0 + scheduled / rate
            if due >= t0 + duration:
                return
            delay = due - loop.time()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            queue.put_nowait((due, order[scheduled % len(order)]))
            scheduled += 1

    async def worker(send: Send) -> None:
        while True:
            due, index = await queue.get()
            try:
                status = await send(index)
            except Exception as exc:
                recorder.failed(exc)
            else:
                done = loop.time()
                recorder.ok(status, done - due, done)
            queue.task_done()

    workers = [asyncio.create_task(worker(s)) for s in senders]
    await asyncio.gather(recorder.mark_cpu(t0), scheduler())
    # Let the queue drain for a while; what is still waiting after that counts as backlog (not sent in time).
    grace_until = loop.time() + max(5.0, duration * 0.5)
    while queue.qsize() and loop.time() < grace_until:
        await asyncio.sleep(0.01)
    backlog = queue.qsize()
    if not backlog:  # the last requests in flight
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(queue.join(), timeout=10.0)
    recorder.cpu_end = time.process_time()
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    elapsed = max(duration, recorder.last_done - t0)
    return _summary(
        recorder, elapsed, offered=scheduled / duration, backlog=backlog, window=(t0, t0 + elapsed)
    )


def _summary(
    recorder: Recorder, elapsed: float, *, offered: float | None, backlog: int, window: tuple[float, float]
) -> dict[str, Any]:
    """The counted requests; ``window`` (event-loop times) becomes wall-clock times for the CPU sampler."""
    to_wall = time.time() - asyncio.get_running_loop().time()
    lat_ms = sorted(x * 1000.0 for x in recorder.latencies)

    def pct(fraction: float) -> float | None:
        if not lat_ms:
            return None
        position = fraction * (len(lat_ms) - 1)
        low = int(position)
        high = min(low + 1, len(lat_ms) - 1)
        return lat_ms[low] + (lat_ms[high] - lat_ms[low]) * (position - low)

    return {
        "count": len(lat_ms),
        "errors": recorder.errors,
        "statuses": dict(recorder.statuses),
        "elapsed_s": elapsed,
        "rps": len(lat_ms) / elapsed if elapsed > 0 else 0.0,
        "offered_rps": offered,
        "backlog": backlog,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": lat_ms[-1] if lat_ms else None,
        "window": [window[0] + to_wall, window[1] + to_wall],
        "loadgen_cpu_s": recorder.cpu_end - recorder.cpu_start,
        "loadgen_cpu_pct": 100.0 * (recorder.cpu_end - recorder.cpu_start) / max(elapsed, 1e-9),
    }


def request_order(count: int) -> list[int]:
    """The order in which simulated agents are served: shuffled, the same in every phase (and every run), so
    a phase of K requests touches the agents ``request_order(n)[:K]``."""
    order = list(range(count))
    random.Random(7).shuffle(order)
    return order


async def run(spec: Spec) -> dict[str, Any]:
    senders, close = _senders(spec)
    order = request_order(len(spec["requests"]))
    gc.collect()
    gc.freeze()  # the request tables are long-lived: keep the collector from rescanning them
    try:
        if spec["discipline"] == "open":
            return await open_loop(spec, senders, order)
        return await closed_loop(spec, senders, order)
    finally:
        await close()


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[1]).read_text())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        result = runner.run(run(spec))
    Path(argv[2]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
