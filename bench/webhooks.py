"""Webhook delivery throughput and latency by one and by two broker processes on one database.

    uv run --frozen --no-sync python bench/webhooks.py [--events 2000] [--batch 500] [--rate 100]

A receiver in its own process (``webhook_receiver.py``) subscribes to ``stack.created``. For one, then two
brokers (``webhook_delivery_interval_seconds`` = ``--interval``, ``webhook_delivery_batch_size`` =
``--batch``):

- ``burst``: ``--events`` events committed in one transaction while the brokers run; deliveries/s is the
  number of events over the time from the commit to the last arrival at the receiver;
- ``paced``: ``--paced-events`` stacks created one by one at ``--rate`` per second through the domain's
  ``create_stack``; the time from each event's timestamp to its arrival gives the latency percentiles.

Each phase counts arrivals per event id at the receiver: with two brokers claiming from one table, every
event must arrive exactly once (duplicates and missing events are reported, and a few seconds are waited
after the last expected arrival so that a late duplicate would be seen).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import attrs
import httpx
from common import (
    ADMIN,
    BENCH_DIR,
    Broker,
    ManagedProcess,
    Postgres,
    Sampler,
    free_port,
    latency_summary_ms,
    new_webhook_key,
    run_benchmark,
    services,
    table,
    wait_until,
)

from brokkr_adapters_postgres.database import Database
from brokkr_broker_app.crypto import AesGcmCipher
from brokkr_domain.model import EventType
from brokkr_domain.usecases import generators, stacks, webhooks
from brokkr_domain.usecases.events import emit


@attrs.frozen
class Record:
    event_id: str
    delivery_id: str
    arrived: float  # time.time() at the receiver
    timestamp: float  # the event's own timestamp
    name: str  # data.name of the event (burst-…, paced-…)


class Receiver:
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, str(BENCH_DIR / "webhook_receiver.py"), "--port", str(self.port)]
        self.process = ManagedProcess("receiver", argv, {}, directory)

    def start(self) -> Receiver:
        self.process.start()
        wait_until(lambda: httpx.get(f"{self.url}/records").status_code == 200, 30, "the receiver")
        return self

    def records(self, prefix: str) -> list[Record]:
        rows = httpx.get(f"{self.url}/records", timeout=30).json()
        return [
            Record(event_id=e, delivery_id=d, arrived=float(t), timestamp=_epoch(ts), name=n)
            for e, d, t, ts, n in rows
            if n.startswith(prefix)
        ]

    def wait_for(self, prefix: str, count: int, timeout: float, settle: float) -> list[Record]:
        """``count`` distinct events named ``prefix…`` arrived (or the timeout passed), then ``settle`` more
        seconds so that a late duplicate would be counted."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len({r.event_id for r in self.records(prefix)}) >= count:
                break
            time.sleep(0.2)
        time.sleep(settle)
        return self.records(prefix)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def burst(database: Database, count: int, prefix: str) -> float:
    """``count`` events in one transaction: all become deliverable at one instant, the commit (returned)."""
    svc = services(database)
    with database.uow() as uow:
        for i in range(count):
            emit(uow, svc, EventType.STACK_CREATED, {"name": f"{prefix}{i}"})
        uow.commit()
    return time.time()


def paced(database: Database, generator_id: UUID, count: int, rate: float, prefix: str) -> None:
    """Stacks created one by one at ``rate``/s through the use case (one ``stack.created`` each)."""
    svc = services(database)
    start = time.perf_counter()
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        stacks.create_stack(svc, ADMIN, name=f"{prefix}{i}", generator_id=generator_id)


def exactly_once(records: list[Record], expected: int) -> dict[str, int]:
    counts = Counter(r.event_id for r in records)
    return {
        "expected": expected,
        "arrivals": sum(counts.values()),
        "distinct": len(counts),
        "duplicates": sum(n - 1 for n in counts.values() if n > 1),
        "missing": expected - len(counts),
    }


def run_config(
    args: argparse.Namespace,
    replicas: int,
    pg: Postgres,
    database: Database,
    receiver: Receiver,
    key_hex: str,
    directory: Path,
) -> list[dict[str, Any]]:
    env = {
        "BROKKR__BROKER__WEBHOOK_DELIVERY_INTERVAL_SECONDS": str(args.interval),
        "BROKKR__BROKER__WEBHOOK_DELIVERY_BATCH_SIZE": str(args.batch),
        "BROKKR__LOG__LEVEL": "warning",
    }
    brokers = [
        Broker(f"broker-{replicas}-{i}", pg.url, directory, webhook_key_hex=key_hex, env=env).launch()
        for i in range(replicas)
    ]
    rows: list[dict[str, Any]] = []
    sampler = Sampler({"brokers": lambda: [b.pid for b in brokers if b.alive()], "postgres": pg.pids})
    try:
        for broker in brokers:
            broker.wait_ready()
        sampler.start()
        svc = services(database)
        generator = generators.create_generator(svc, ADMIN, name=f"bench-webhooks-{replicas}")[0]
        # burst: latency from the commit
        prefix = f"burst-{replicas}-"
        committed = burst(database, args.events, prefix)
        records = receiver.wait_for(prefix, args.events, args.timeout, args.settle)
        last = max((r.arrived for r in records), default=committed)
        rows.append(
            {
                "brokers": replicas,
                "phase": f"burst of {args.events}",
                "deliveries_per_s": len(records) / max(last - committed, 1e-9),
                "latency_ms": latency_summary_ms([r.arrived - committed for r in records]),
                **exactly_once(records, args.events),
                **sampler.window(committed, last),
            }
        )
        # paced: latency from each event's own timestamp
        prefix = f"paced-{replicas}-"
        t0 = time.time()
        paced(database, generator.id, args.paced_events, args.rate, prefix)
        records = receiver.wait_for(prefix, args.paced_events, args.timeout, args.settle)
        last = max((r.arrived for r in records), default=t0)
        rows.append(
            {
                "brokers": replicas,
                "phase": f"paced {args.rate:g}/s x {args.paced_events}",
                "deliveries_per_s": len(records) / max(last - t0, 1e-9),
                "latency_ms": latency_summary_ms([r.arrived - r.timestamp for r in records]),
                **exactly_once(records, args.paced_events),
                **sampler.window(t0, last),
            }
        )
    finally:
        sampler.stop()
        for broker in brokers:
            broker.stop()
    for r in rows:
        print(
            f"  {replicas} broker(s) {r['phase']}: {r['deliveries_per_s']:.0f}/s, duplicates {r['duplicates']}"
        )
    return rows


def run(args: argparse.Namespace, directory: Path) -> list[dict[str, Any]]:
    pg = Postgres(directory).start()
    receiver = Receiver(directory).start()
    key_hex = new_webhook_key()
    database = pg.open(cipher=AesGcmCipher(bytes.fromhex(key_hex)))
    rows: list[dict[str, Any]] = []
    try:
        webhooks.create_webhook(
            services(database),
            ADMIN,
            name="bench-receiver",
            url=f"{receiver.url}/hook",
            event_types=[EventType.STACK_CREATED.value],
        )
        for replicas in [int(n) for n in args.brokers.split(",")]:
            rows += run_config(args, replicas, pg, database, receiver, key_hex, directory)
    finally:
        database.close()
        receiver.process.stop()
        pg.stop()
    return rows


def report(args: argparse.Namespace, rows: list[dict[str, Any]]) -> list[str]:
    return [
        table(
            f"Webhook delivery to a local receiver (delivery interval {args.interval} s, batch {args.batch}; "
            f"cap {args.batch / args.interval:,.0f}/s per broker from the settings alone)",
            [
                "brokers",
                "phase",
                "deliveries/s",
                "p50 ms",
                "p99 ms",
                "arrivals",
                "distinct events",
                "duplicates",
                "missing",
                "brokers CPU %",
                "PG CPU %",
            ],
            [
                [
                    r["brokers"],
                    r["phase"],
                    r["deliveries_per_s"],
                    r["latency_ms"]["p50"],
                    r["latency_ms"]["p99"],
                    r["arrivals"],
                    r["distinct"],
                    r["duplicates"],
                    r["missing"],
                    r.get("brokers_cpu_pct"),
                    r.get("postgres_cpu_pct"),
                ]
                for r in rows
            ],
        )
    ]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--events", type=int, default=2000, help="events in the burst (%(default)s)")
    p.add_argument("--paced-events", type=int, default=500, help="events in the paced phase (%(default)s)")
    p.add_argument("--rate", type=float, default=100.0, help="paced events per second (%(default)s)")
    p.add_argument("--brokers", default="1,2", help="replica counts to measure (%(default)s)")
    p.add_argument("--interval", type=int, default=1, help="broker delivery interval, s (min 1; %(default)s)")
    p.add_argument("--batch", type=int, default=500, help="broker delivery batch size (%(default)s)")
    p.add_argument("--timeout", type=float, default=120.0, help="max wait for all arrivals, s")
    p.add_argument("--settle", type=float, default=3.0, help="extra wait for late duplicates, s")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (logs, database)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark("webhooks", parse_args(argv), run, report)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
